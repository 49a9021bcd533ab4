# Entry points. Each target is a one-liner; the logic lives in the packages' CLIs.
SHELL := /bin/bash
VENV := .venv/bin
PLATFORM := $(VENV)/mlops-platform
# pytest-xdist workers of `make test` (each test file whole on one worker; 0 runs serially)
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup setup_dev up down status demo demo_drift serve bentoml_serve test lint format \
	typecheck bench bench_materialize bench_batch bench_online bench_online_cluster bench_tasks \
	bench_prediction_log bench_monitoring bench_table_format generate feast_apply materialize train batch bento \
	dags_test airflow images build_image containers_up containers_down containers_dags_test \
	test_containers compose_up compose_down compose_status compose_demo

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install uv, both locked environments and redis-server (idempotent)
	@bash deployment/setup.sh

setup_dev: ## setup + test and benchmark tools (Chromium, wrk) and Spark (pyspark, Java 17)
	@bash deployment/setup.sh --dev

up: ## Start Redis, MLflow and Airflow locally; returns when all are healthy
	@$(PLATFORM) up

down: ## Stop the local platform (data stays in .platform/)
	@$(PLATFORM) down

status: ## Each service's health, URL and memory, and the Airflow login
	@$(PLATFORM) status

demo: setup ## The whole lifecycle through Airflow, ending in a live /inference answer
	@$(PLATFORM) demo

demo_drift: ## After make demo: stable, then drifted traffic -> drift -> retraining -> new champion
	@$(PLATFORM) demo-drift

serve: ## Start the online service in the background (platform up, champion registered)
	@$(PLATFORM) serve

bentoml_serve: ## Run the online service in the foreground
	@$(VENV)/model-serving serve

bento: ## Build the online service's Bento from uv.lock (model_serving/bentofile.yaml); prints its tag
	@bash deployment/containers/bento.sh build

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

test: setup_dev lint typecheck ## Lint, type check, then the whole test suite in parallel (what CI runs)
	@$(VENV)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=25 $(ARGS)

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

bench: bench_materialize bench_batch bench_online bench_prediction_log bench_monitoring bench_tasks ## All benchmarks, ours vs the naive design side by side

bench_materialize: setup_dev ## Materialization: fast path vs Feast's, 10,000 drivers, real Redis
	@$(VENV)/python data_pipeline/bench/bench_materialize.py $(ARGS)

bench_batch: setup_dev ## Batch serving: 1M requests on 7.2M feature rows, each engine vs Feast
	@$(VENV)/python model_serving/bench/bench_batch.py $(ARGS)

bench_online: setup_dev ## Online serving: req/s and latency at 1 and 16 connections vs baseline
	@$(VENV)/python model_serving/bench/bench_online.py $(ARGS)

bench_online_cluster: setup_dev ## Online serving on standalone vs 3-master Redis Cluster, a master killed
	@$(VENV)/python model_serving/bench/bench_online_cluster.py $(ARGS)

bench_tasks: setup_dev ## Fixed costs: each demo DAG task's time, imports and peak RSS; service start
	@$(VENV)/python deployment/platform/bench/bench_tasks.py $(ARGS)

bench_prediction_log: setup_dev ## Online service with and without its prediction log; lost rows
	@$(VENV)/python model_serving/bench/bench_prediction_log.py $(ARGS)

bench_monitoring: setup_dev ## One monitoring run, label collection, compaction: 1 h vs 24 h vs 7 days of history
	@$(VENV)/python monitoring_pipeline/bench/bench_monitoring.py $(ARGS)

bench_table_format: setup_dev ## The datasets as Hive-partitioned parquet vs Delta Lake: appends, compaction, reads
	@uv sync --frozen --all-packages --inexact --quiet --group delta && $(VENV)/python model_serving/bench/bench_table_format.py $(ARGS)

images: ## Build the base image (if missing) and the four pipeline images with podman
	@bash deployment/containers/podman.sh install
	@bash deployment/containers/build_images.sh

build_image: ## Build one pipeline's image from <pipeline>/Dockerfile (PIPELINE=data_pipeline|training_pipeline|model_serving|monitoring_pipeline)
	@test -n "$(PIPELINE)" || { echo "set PIPELINE=data_pipeline|training_pipeline|model_serving|monitoring_pipeline"; exit 2; }
	@bash deployment/containers/build_images.sh $(PIPELINE)

containers_up: ## Podman's Docker API, then Redis and MLflow containers for DockerOperator tasks
	@bash deployment/containers/podman.sh start
	@bash deployment/containers/platform.sh up

containers_down: ## Stop the containers platform (volumes kept)
	@bash deployment/containers/platform.sh down

containers_dags_test: ## Run DAGs with DockerOperator through podman (DAGS="training_pipeline ...")
	@bash deployment/containers/dags_test.sh $(or $(DAGS),data_pipeline training_pipeline batch_serving_pipeline)

test_containers: setup_dev ## Containers CI: podman, images, DockerOperator DAG runs, compose config
	@bash deployment/containers/ci.sh

compose_up: setup ## The compose stack with podman (images if missing); deployment/.env generated if missing
	@$(PLATFORM) compose up

compose_down: ## Stop the compose stack (volumes kept; ARGS=--volumes deletes them)
	@$(PLATFORM) compose down $(ARGS)

compose_status: ## Each compose service's state, health, restarts and memory
	@$(PLATFORM) compose status

compose_demo: setup ## compose_up, the four DAGs through its Airflow (DockerOperator), /inference
	@$(PLATFORM) compose demo
