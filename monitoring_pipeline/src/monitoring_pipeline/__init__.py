"""Monitoring of the served model (the `monitoring` DAG): drift, live accuracy, alerts."""
