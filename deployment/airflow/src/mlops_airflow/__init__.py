"""Airflow wiring: the operator factory DAG files use and the tasks several DAGs share.

Imported only in Airflow's environment (DAG files, the compose Airflow image). It may import
Airflow and `mlops_common`; task code, the feature store and the pipelines never import it.
"""
