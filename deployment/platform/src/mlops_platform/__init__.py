"""The local development platform: Redis, MLflow and Airflow under supervisord, and the demo.

Deployment tooling at the edge of the project: it may import the pipelines (the online
service's settings) and `mlops_common`; nothing in the pipelines or the runtime library
imports it, and the pipeline images do not contain it. Its CLI is `mlops_platform.cli:app`.
"""
