"""The champion in the MLflow Model Registry: which version the alias names right now.

The registry alias (`models:/<name>@champion`) is the hand-off from training to every
consumer. Registration (to compare a candidate with the champion), batch scoring, the online
service and the demo all resolve it here, with one meaning of "there is no champion yet".

The registered model also records the last known change of the relation between features and
outcomes (`RELATION_CHANGED_AT`): monitoring sets it when the champion's live ROC AUC falls
below its gate, training starts its window there (`relation_changed_at`).

One GET of MLflow's REST API (`registered-models/alias`) with httpx, not `MlflowClient`:
importing mlflow costs 2-3 s here, and with Feast installed MLflow's first request imports
all of Feast too (see `mlops_common.mlflow_plugins`); this lookup costs about 0.2 s. It sends
the credentials MLflow's own client would (`MLFLOW_TRACKING_USERNAME`/`_PASSWORD` or
`MLFLOW_TRACKING_TOKEN`). A tracking URI that is not a server (a `sqlite:` or file store) goes
through `MlflowClient`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from mlops_common.errors import UserError
from mlops_common.models import ScoringModel, load_model
from mlops_common.settings import get_mlflow_settings

# On a version made challenger (PROMOTION_MODE=shadow): when, UTC ISO 8601. Its live judgement
# counts from then (PROMOTION_MAX_HOURS).
CHALLENGER_SINCE_TAG = "challenger_since"
# Set by the live judgement (`monitoring_pipeline.judge`) on the version it promoted or
# retired: the reason, the figures (JSON) and the monitoring DAG run that decided.
PROMOTION_TAG, RETIREMENT_TAG = "promotion", "retirement"
EVIDENCE_TAG, JUDGED_BY_TAG = "live_evidence", "judged_by_run"

# What MLflow answers for a model that is not registered, or an alias that names no version.
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


# Registered-model tags: when the champion's live ROC AUC first fell below the gate (the start of
# that monitoring window, ISO 8601 UTC) and which champion version it was.
RELATION_CHANGED_AT = "relation_changed_at"
RELATION_CHANGED_FOR_VERSION = "relation_changed_for_version"


class NoChampionError(UserError):
    """No version carries the champion alias (no training run passed the gates yet)."""


class RegistryError(RuntimeError):
    """The registry could not be asked (server down, refused or answered nonsense)."""


def _auth() -> dict[str, Any]:
    user, password = (
        os.environ.get("MLFLOW_TRACKING_USERNAME"),
        os.environ.get("MLFLOW_TRACKING_PASSWORD"),
    )
    if user and password:
        return {"auth": (user, password)}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"headers": {"Authorization": f"Bearer {token}"}} if token else {}


def _lookup_rest(uri: str, name: str, alias: str, timeout: float) -> dict[str, Any]:
    import httpx

    try:
        response = httpx.get(
            f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias",
            params={"name": name, "alias": alias},
            timeout=timeout,
            **_auth(),
        )
    except httpx.HTTPError as exc:
        raise RegistryError(
            f"MLflow at {uri} did not answer ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code in (400, 404) and body.get("error_code") in _NOT_FOUND:
        raise _no_champion(uri, name, alias, str(body.get("message", "")))
    if response.status_code != 200 or "model_version" not in body:
        raise RegistryError(
            f"MLflow at {uri} answered {response.status_code} to the alias lookup: "
            f"{response.text[:300]}"
        )
    return dict(body["model_version"])


def _lookup_client(uri: str, name: str, alias: str) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        found = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
            name, alias
        )
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND:
            raise _no_champion(uri, name, alias, exc.message) from exc
        raise
    return {
        "version": found.version,
        "run_id": found.run_id,
        "source": found.source,
        "tags": [{"key": k, "value": v} for k, v in (found.tags or {}).items()],
    }


def _no_champion(uri: str, name: str, alias: str, detail: str) -> NoChampionError:
    return NoChampionError(
        f"no champion model: models:/{name}@{alias} is not registered at {uri} ({detail}); "
        "run the training DAG (training_pipeline) first, it registers the model and sets the "
        "alias"
    )


def resolve_champion(
    tracking_uri: str | None = None,
    *,
    name: str | None = None,
    alias: str | None = None,
    timeout: float = 10,
) -> ScoringModel:
    """The version NAME@ALIAS points at now (defaults from settings), not loaded: one
    registry call, no download (`load_champion` loads it).

    Raises `NoChampionError` (a UserError saying to run training) when the model or the alias
    does not exist, `RegistryError` when the registry cannot be asked.
    """
    settings = get_mlflow_settings()
    uri = tracking_uri or settings.resolved_tracking_uri
    name = name or settings.model_name
    alias = alias or settings.champion_alias
    if uri.startswith(("http://", "https://")):
        found = _lookup_rest(uri, name, alias, timeout)
    else:
        found = _lookup_client(uri, name, alias)
    return ScoringModel(
        name=name,
        version=str(found["version"]),
        # the logged model the version was made from (`models:/m-<id>`)
        model_id=str(found.get("source") or f"models:/{name}/{found['version']}"),
        run_id=found.get("run_id") or None,
        tags={str(t["key"]): str(t.get("value", "")) for t in found.get("tags") or []},
    )


def champion_or_none(
    tracking_uri: str | None = None,
    *,
    name: str | None = None,
    alias: str | None = None,
    timeout: float = 10,
) -> ScoringModel | None:
    """Like `resolve_champion`, but None when there is no champion yet."""
    try:
        return resolve_champion(tracking_uri, name=name, alias=alias, timeout=timeout)
    except NoChampionError:
        return None


def load_champion(tracking_uri: str | None = None, *, timeout: float = 10) -> ScoringModel:
    """The champion resolved once and loaded (from the local model cache when it holds it):
    a task that scores with it keeps that version even if the alias moves meanwhile."""
    uri = tracking_uri or get_mlflow_settings().resolved_tracking_uri
    return load_model(resolve_champion(uri, timeout=timeout), tracking_uri=uri)


def _model_tags_rest(uri: str, name: str, timeout: float) -> dict[str, str]:
    import httpx

    try:
        response = httpx.get(
            f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/get",
            params={"name": name},
            timeout=timeout,
            **_auth(),
        )
    except httpx.HTTPError as exc:
        raise RegistryError(
            f"MLflow at {uri} did not answer ({type(exc).__name__}: {exc})"
        ) from exc
    if response.status_code in (400, 404):
        return {}  # not registered yet: no tags
    if response.status_code != 200:
        raise RegistryError(
            f"MLflow at {uri} answered {response.status_code} to the model lookup: "
            f"{response.text[:300]}"
        )
    tags = response.json().get("registered_model", {}).get("tags", [])
    return {str(tag["key"]): str(tag.get("value", "")) for tag in tags}


def _model_tags_client(uri: str, name: str) -> dict[str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return dict(
            MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(name).tags
        )
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND:
            return {}
        raise


def relation_changed_at(
    tracking_uri: str | None = None, *, name: str | None = None, timeout: float = 10
) -> datetime | None:
    """When monitoring last saw the champion's live ROC AUC fall below its gate (the start of
    that window), or None: outcomes from before it follow a relation that no longer holds."""
    settings = get_mlflow_settings()
    uri = tracking_uri or settings.resolved_tracking_uri
    name = name or settings.model_name
    if uri.startswith(("http://", "https://")):
        tags = _model_tags_rest(uri, name, timeout)
    else:
        tags = _model_tags_client(uri, name)
    value = tags.get(RELATION_CHANGED_AT)
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
