"""The champion in the MLflow Model Registry: which version the alias names right now.

The registry alias (`models:/<name>@champion`) is the hand-off from training to every
consumer. Registration (to compare a candidate with the champion), batch scoring, the online
service and the demo all resolve it here, with one meaning of "there is no champion yet".
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_common.errors import UserError
from mlops_common.settings import get_mlflow_settings

# What MLflow answers for a model that is not registered, or an alias that names no version.
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


class NoChampionError(UserError):
    """No version carries the champion alias (no training run passed the gates yet)."""


@dataclass(frozen=True)
class ChampionVersion:
    """The registered version behind the alias at the time it was resolved."""

    name: str
    alias: str
    version: str
    run_id: str | None

    @property
    def uri(self) -> str:
        """This exact version (`models:/<name>/<version>`): pinned, unlike the alias."""
        return f"models:/{self.name}/{self.version}"


def resolve_champion(
    tracking_uri: str | None = None, *, name: str | None = None, alias: str | None = None
) -> ChampionVersion:
    """The version NAME@ALIAS points at now (defaults from settings); one registry call.

    Raises `NoChampionError` (a UserError saying to run training) when the model or the alias
    does not exist; other registry failures (server down) propagate as MLflow raises them.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    settings = get_mlflow_settings()
    uri = tracking_uri or settings.resolved_tracking_uri
    name = name or settings.model_name
    alias = alias or settings.champion_alias
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        found = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _NOT_FOUND:
            raise NoChampionError(
                f"no champion model: models:/{name}@{alias} is not registered at {uri} "
                f"({exc.message}); run the training DAG (training_pipeline) first, it registers "
                "the model and sets the alias"
            ) from exc
        raise
    return ChampionVersion(name, alias, str(found.version), found.run_id)


def champion_or_none(
    tracking_uri: str | None = None, *, name: str | None = None, alias: str | None = None
) -> ChampionVersion | None:
    """Like `resolve_champion`, but None when there is no champion yet."""
    try:
        return resolve_champion(tracking_uri, name=name, alias=alias)
    except NoChampionError:
        return None
