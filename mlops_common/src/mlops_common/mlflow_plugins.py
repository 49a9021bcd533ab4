"""Keep MLflow from importing all of Feast on its first HTTP request.

Feast 0.67 registers an `mlflow.request_header_provider` entry point
(`feast.infra.data_sources.mlflow.auth:FeastMLflowHeaderProvider`, for Feast's MLflow data
sources, which this project does not use). MLflow loads every such entry point the first time
it sends a request, and loading Feast's imports the whole `feast` package: 5-12 s on these
machines (typeguard instruments Feast's classes at import time). Every process that has Feast
installed and talks to an MLflow server paid it: train, evaluate, register, batch predict and
the online service, whether or not it used Feast.

MLflow offers no setting to skip a plugin, so this wraps its one entry-point lookup
(`mlflow.utils.plugins._get_entry_points`) to leave Feast's provider out. Nothing else changes:
MLflow's own providers and any other plugin still load.
"""

from __future__ import annotations

from typing import Any

_GROUP = "mlflow.request_header_provider"
_SKIPPED_PREFIX = "feast."


def skip_feast_request_headers() -> None:
    """Leave Feast's request-header plugin out of MLflow's lookup (idempotent).

    Call before the process's first MLflow request: MLflow reads the plugins then, once.
    """
    import mlflow.utils.plugins as plugins

    lookup = plugins._get_entry_points
    if getattr(lookup, "_skips_feast", False):
        return

    def entry_points(group: str) -> Any:
        found = lookup(group)
        if group != _GROUP:
            return found
        return [ep for ep in found if not ep.value.startswith(_SKIPPED_PREFIX)]

    entry_points._skips_feast = True  # type: ignore[attr-defined]
    plugins._get_entry_points = entry_points
