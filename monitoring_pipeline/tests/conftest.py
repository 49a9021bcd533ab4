"""Fixtures of the monitoring pipeline tests."""

from __future__ import annotations

from mlops_testing import prefer_installed_package

prefer_installed_package("monitoring_pipeline")
