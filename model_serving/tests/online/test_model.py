"""The champion in memory: fast predict equal to the pyfunc model, refresh and failure modes."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from mlops_testing import MlflowServer, register_tiny_champion

pytestmark = pytest.mark.integration

# The feature source's column order on purpose differs from the model's signature order.
SOURCE = ("avg_daily_trips", "conv_rate", "acc_rate")


def _holder(uri: str, name: str, **kwargs: object):
    from online_service.holder import ChampionHolder

    return ChampionHolder(
        tracking_uri=uri,
        name=name,
        alias="champion",
        source_features=SOURCE,
        refresh_seconds=60,
        **kwargs,
    )


def test_fast_predict_equals_pyfunc_predict(mlflow_server: MlflowServer) -> None:
    import mlflow.pyfunc

    name = f"m_{uuid.uuid4().hex[:8]}"
    champion = register_tiny_champion(mlflow_server.uri, name)
    holder = _holder(mlflow_server.uri, name)
    loaded = holder.load_with_retries(30)
    assert loaded.version == champion.version
    assert loaded.features == SOURCE

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "conv_rate": rng.uniform(0, 1, 200),
            "acc_rate": rng.uniform(0, 1, 200),
            "avg_daily_trips": rng.integers(0, 60, 200).astype("float64"),
        }
    )
    mlflow.set_tracking_uri(mlflow_server.uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    expected = np.asarray(pyfunc.predict(frame[list(champion.features)]))
    fast = loaded.predict(frame[list(SOURCE)].to_numpy())
    np.testing.assert_array_equal(fast, expected)


def test_moved_alias_is_swapped_in_by_refresh(mlflow_server: MlflowServer) -> None:
    name = f"m_{uuid.uuid4().hex[:8]}"
    first = register_tiny_champion(mlflow_server.uri, name, seed=0)
    changes: list[tuple[str | None, str]] = []
    holder = _holder(
        mlflow_server.uri,
        name,
        on_change=lambda old, new: changes.append((old.version if old else None, new.version)),
    )
    holder.load_with_retries(30)
    assert holder.refresh() is False  # unchanged alias: nothing reloaded
    second = register_tiny_champion(mlflow_server.uri, name, seed=1)
    assert holder.refresh() is True
    assert holder.current is not None
    assert holder.current.version == second.version
    assert changes == [(None, first.version), (first.version, second.version)]


def test_unreachable_registry_keeps_serving_and_is_reported(mlflow_server: MlflowServer) -> None:
    name = f"m_{uuid.uuid4().hex[:8]}"
    register_tiny_champion(mlflow_server.uri, name)
    holder = _holder(mlflow_server.uri, name)
    loaded = holder.load_with_retries(30)
    holder.tracking_uri = "http://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever MLflow raises
        holder.refresh()
    assert holder.current is loaded
    assert holder.status.last_check_error


def test_unreachable_registry_at_start_gives_a_clear_error() -> None:
    from online_service.holder import ModelUnavailableError

    holder = _holder("http://127.0.0.1:9", "driver_ranking")
    with pytest.raises(ModelUnavailableError, match="MLFLOW_TRACKING_URI"):
        holder.load_with_retries(1.5)


def test_registry_report_gives_the_age_and_flags_a_hung_check() -> None:
    from datetime import UTC, datetime, timedelta

    from online_service.holder import ModelStatus

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    status = ModelStatus(last_check_at=now - timedelta(seconds=40))
    status.last_success_at = status.last_check_at
    healthy = status.report(now, refresh_seconds=30, timeout_seconds=11)
    assert healthy["last_check_error"] is None
    assert healthy["last_success_age_seconds"] == 40
    # A re-check started 35 s ago and still running: past its timeout, an error.
    status.checking_since = now - timedelta(seconds=35)
    hung = status.report(now, refresh_seconds=30, timeout_seconds=11)
    assert "past its 11 s timeout" in str(hung["last_check_error"])
    assert hung["check_running_seconds"] == 35
    # Running but within the timeout: not (yet) an error.
    status.checking_since = now - timedelta(seconds=5)
    assert status.report(now, refresh_seconds=30, timeout_seconds=11)["last_check_error"] is None


def test_refresh_records_the_last_success(mlflow_server: MlflowServer) -> None:
    name = f"m_{uuid.uuid4().hex[:8]}"
    register_tiny_champion(mlflow_server.uri, name)
    holder = _holder(mlflow_server.uri, name)
    holder.load_with_retries(30)
    succeeded = holder.status.last_success_at
    assert succeeded is not None
    assert holder.status.checking_since is None
    holder.tracking_uri = "http://127.0.0.1:9"
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever MLflow raises
        holder.refresh()
    assert holder.status.last_success_at == succeeded  # a failure keeps the last success
    assert holder.status.checking_since is None


def test_the_challenger_holder_follows_its_alias_and_reports_what_cannot_load(
    mlflow_server: MlflowServer,
) -> None:
    import mlflow
    from online_service.holder import ChampionHolder, ModelUnavailableError

    name = f"m_{uuid.uuid4().hex[:8]}"
    register_tiny_champion(mlflow_server.uri, name, seed=0)
    changes: list[tuple[str | None, str | None]] = []
    checks: list[str | None] = []

    def holder(source: tuple[str, ...]) -> ChampionHolder:
        return ChampionHolder(
            tracking_uri=mlflow_server.uri,
            name=name,
            alias="challenger",
            source_features=source,
            refresh_seconds=60,
            optional=True,
            on_change=lambda old, new: changes.append(
                (old.version if old else None, new.version if new else None)
            ),
            on_check=checks.append,
        )

    challenger = holder(SOURCE)
    # No challenger: nothing held, and that is no error.
    assert challenger.refresh() is False
    assert challenger.current is None
    assert challenger.status.last_check_error is None

    second = register_tiny_champion(mlflow_server.uri, name, alias="challenger", seed=1)
    assert challenger.refresh() is True
    assert challenger.current is not None
    assert challenger.current.version == second.version
    assert challenger.current.tags == {}  # registered by hand: no challenger_since

    # A challenger this service cannot score (a feature it does not serve) is reported.
    narrow = holder(("conv_rate", "acc_rate"))
    with pytest.raises(ModelUnavailableError, match="avg_daily_trips"):
        narrow.refresh()
    assert narrow.current is None
    assert "avg_daily_trips" in str(narrow.status.last_check_error)
    assert checks[-1] == narrow.status.last_check_error

    # The alias goes (promoted or retired): the challenger is dropped.
    mlflow.MlflowClient(mlflow_server.uri).delete_registered_model_alias(name, "challenger")
    assert challenger.refresh() is False
    assert challenger.current is None
    assert changes == [(None, second.version), (second.version, None)]
    assert checks[-1] is None
