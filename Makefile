# Entry points. Each target is a one-liner; the logic lives in the packages' CLIs.
SHELL := /bin/bash
VENV := .venv/bin
PLATFORM := $(VENV)/mlops-platform

.DEFAULT_GOAL := help
.PHONY: help setup setup_dev up down status demo serve bentoml_serve test lint format typecheck \
	bench generate feast_apply materialize train batch dags_test airflow

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install uv, both locked environments and redis-server (idempotent)
	@bash deployment/setup.sh

setup_dev: ## setup + test and benchmark tools (Chromium for browser tests, wrk)
	@bash deployment/setup.sh --dev

up: ## Start Redis, MLflow and Airflow locally; returns when all are healthy
	@$(PLATFORM) up

down: ## Stop the local platform (data stays in .platform/)
	@$(PLATFORM) down

status: ## Each service's health, URL and memory, and the Airflow login
	@$(PLATFORM) status

demo: setup ## The whole lifecycle through Airflow, ending in a live /inference answer
	@$(PLATFORM) demo

serve: ## Start the online service in the background (platform up, champion registered)
	@$(PLATFORM) serve

bentoml_serve: ## Run the online service in the foreground
	@$(VENV)/model-serving serve

generate: ## Generate the demo data (driver stats, orders, batch requests) into data/
	@$(VENV)/data-pipeline generate

feast_apply: ## Register the Feast feature repo
	@$(VENV)/data-pipeline feast-apply

materialize: ## Load the latest features into Redis (fast path)
	@$(VENV)/data-pipeline materialize

train: ## Run the training DAG once (platform up)
	@$(PLATFORM) airflow dags test training_pipeline

batch: ## Run the batch serving DAG once (platform up, champion registered)
	@$(PLATFORM) airflow dags test batch_serving_pipeline

test: setup_dev lint ## Lint, then the whole test suite (what CI runs)
	@$(VENV)/pytest

lint: ## ruff check and format check
	@$(VENV)/ruff check . && $(VENV)/ruff format --check .

format: ## Fix what ruff can fix and format the code
	@$(VENV)/ruff check --fix . && $(VENV)/ruff format .

typecheck: ## mypy on the packages
	@$(VENV)/mypy

dags_test: ## Run one DAG once with `airflow dags test` (DAG=<dag_id>)
	@$(PLATFORM) airflow dags test $(DAG)

airflow: ## Run any Airflow command with the project configuration (ARGS="dags list")
	@$(PLATFORM) airflow $(ARGS)
