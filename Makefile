# Entry points. Each target is a one-liner; the logic lives in the packages' CLIs.
SHELL := /bin/bash
VENV := .venv/bin
PLATFORM := $(VENV)/mlops-platform

.DEFAULT_GOAL := help
.PHONY: help setup up down status test lint format typecheck bench dags_test airflow

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install uv, both locked environments and redis-server (idempotent)
	@bash deployment/setup.sh

up: ## Start Redis, MLflow and Airflow locally; returns when all are healthy
	@$(PLATFORM) up

down: ## Stop the local platform (data stays in .platform/)
	@$(PLATFORM) down

status: ## Each service's health, URL and memory, and the Airflow login
	@$(PLATFORM) status

test: lint ## Lint, then the whole test suite (what CI runs)
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
