"""The champion (and the challenger) in memory: loaded once, re-checked periodically, swapped
atomically.

The registry alias (`models:/<name>@champion`) is the hand-off from training. The service
resolves it to a concrete version (`mlops_common.champion`), loads that version once through
the shared model cache (`mlops_common.models`: a linear pipeline becomes a few numpy
operations on a float64 array, the same numbers as the pyfunc model, which a test asserts),
taking the feature reader's rows as they come, without a DataFrame per request. A background
thread re-reads the alias; a new version is loaded off the request path and published by one
reference assignment, so a request sees either the old model or the new one, never a mix.

The challenger (`models:/<name>@challenger`, PROMOTION_MODE=shadow) is held the same way by a
second holder, with two differences: no version at its alias is the normal state (nothing in
shadow; a retired or promoted challenger is dropped when the alias goes), and it never blocks
start-up or readiness: a challenger that cannot be loaded is reported in `/readyz` and the
metrics, and the champion serves alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_common.champion import NoChampionError, resolve_champion
from mlops_common.models import ModelLoadError, ScoringModel, load_model
from mlops_common.settings import get_mlflow_settings
from tenacity import Retrying, stop_after_delay, wait_exponential

from online_service.settings import OnlineSettings

logger = logging.getLogger(__name__)


class ModelUnavailableError(RuntimeError):
    """The champion could not be resolved or loaded from MLflow."""


def load_version(
    tracking_uri: str, champion: ScoringModel, source_features: Sequence[str]
) -> ScoringModel:
    """Load CHAMPION (from the local model cache when it holds it), scoring rows whose columns
    follow SOURCE_FEATURES (the feature reader's order)."""
    try:
        model = load_model(champion, tracking_uri=tracking_uri)
    except ModelLoadError as exc:
        raise ModelUnavailableError(f"model {champion.label}: {exc}") from exc
    missing = model.missing_features(source_features)
    if missing:
        raise ModelUnavailableError(
            f"model {champion.label} needs features {missing} that the feature service does "
            f"not serve ({list(source_features)})"
        )
    return model.taking_columns(source_features)


@dataclass
class ModelStatus:
    """What readiness reports about the registry."""

    last_check_at: datetime | None = None
    last_check_error: str | None = None
    last_success_at: datetime | None = None
    checking_since: datetime | None = None  # set while a re-check is running

    def report(
        self, now: datetime, refresh_seconds: float, timeout_seconds: float
    ) -> dict[str, object]:
        """The registry part of `/readyz`: the last check, the age of the last successful one,
        and a check running past its timeout reported as an error (MLflow not answering)."""
        error = self.last_check_error
        running = (now - self.checking_since).total_seconds() if self.checking_since else None
        if running is not None and running > timeout_seconds:
            error = (
                f"registry check running for {running:.0f} s, past its {timeout_seconds:.0f} s "
                "timeout: MLflow does not answer"
            )
        age = (now - self.last_success_at).total_seconds() if self.last_success_at else None
        return {
            "last_check_at": self.last_check_at,
            "last_check_error": error,
            "last_success_at": self.last_success_at,
            "last_success_age_seconds": round(age, 1) if age is not None else None,
            "check_running_seconds": round(running, 1) if running is not None else None,
            "refresh_seconds": refresh_seconds,
        }


OnChange = Callable[[ScoringModel | None, ScoringModel | None], None]  # (previous, now)


@dataclass
class ChampionHolder:
    """Holds the version a registry alias names (the champion, or with OPTIONAL the
    challenger) and keeps it in step with the alias."""

    tracking_uri: str
    name: str
    alias: str
    source_features: tuple[str, ...]
    refresh_seconds: float
    request_timeout_seconds: int = 10
    on_change: OnChange | None = None
    optional: bool = False  # no version at the alias is normal: `current` becomes None
    on_check: Callable[[str | None], None] | None = None  # each check's error, or None
    current: ScoringModel | None = None
    status: ModelStatus = field(default_factory=ModelStatus)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        # MLflow's HTTP client retries 7 times with backoff by default (minutes on a dead
        # server); the service has its own retry policy, so make each call short and single.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.request_timeout_seconds))

    def resolve(self) -> ScoringModel:
        """The version the alias points at now (one registry call)."""
        return resolve_champion(
            self.tracking_uri,
            name=self.name,
            alias=self.alias,
            timeout=self.request_timeout_seconds,
        )

    def refresh(self) -> bool:
        """Re-check the alias; load and swap in a new version. True when the model changed.

        Failures are recorded in `status` (readiness shows them) and the current model keeps
        serving.
        """
        try:
            self.status.checking_since = datetime.now(UTC)
            try:
                champion = self.resolve()
            except NoChampionError:
                if not self.optional:
                    raise
                self._drop()
                champion = None
            finally:
                self.status.checking_since = None
            if champion is None:
                self._checked(None)
                return False
            version = champion.version
            changed = self.current is None or self.current.version != version
            if changed:
                loaded = load_version(self.tracking_uri, champion, self.source_features)
                previous, self.current = self.current, loaded
                logger.info(
                    "%s %s v%s (was %s)",
                    "serving" if not self.optional else f"holding {self.alias}",
                    self.name,
                    version,
                    f"v{previous.version}" if previous else "none",
                )
                if self.on_change is not None:
                    self.on_change(previous, loaded)
        except Exception as exc:
            self.status.last_check_error = f"{type(exc).__name__}: {exc}"
            self.status.last_check_at = datetime.now(UTC)
            if self.on_check is not None:
                self.on_check(self.status.last_check_error)
            if self.current is not None:
                logger.warning(
                    "%s re-check failed, still holding %s v%s: %s",
                    self.alias,
                    self.name,
                    self.current.version,
                    exc,
                )
            raise
        self._checked(None)
        return changed

    def _checked(self, error: str | None) -> None:
        self.status.last_check_error = error
        self.status.last_check_at = self.status.last_success_at = datetime.now(UTC)
        if self.on_check is not None:
            self.on_check(error)

    def _drop(self) -> None:
        """No version at the alias any more (optional holder): stop holding the last one."""
        previous, self.current = self.current, None
        if previous is not None:
            logger.info("%s@%s: no version now (was v%s)", self.name, self.alias, previous.version)
            if self.on_change is not None:
                self.on_change(previous, None)

    def load_with_retries(self, timeout_seconds: float) -> ScoringModel:
        """Load the champion at start-up, retrying with backoff for up to TIMEOUT_SECONDS."""
        retrying = Retrying(
            stop=stop_after_delay(timeout_seconds),
            wait=wait_exponential(multiplier=0.5, max=10),
            before_sleep=lambda state: logger.warning(
                "champion not loadable yet (%s); retrying in %.1f s",
                state.outcome.exception() if state.outcome else None,
                state.next_action.sleep if state.next_action else 0,
            ),
            reraise=True,
        )
        try:
            retrying(self.refresh)
        except Exception as exc:
            raise ModelUnavailableError(
                f"could not load {self.name}@{self.alias} from MLflow at "
                f"{self.tracking_uri} within {timeout_seconds:.0f} s ({exc}). Start the "
                "tracking server (`make up`) or set MLFLOW_TRACKING_URI, and make sure "
                f"a version carries the alias `{self.alias}` (run training)."
            ) from exc
        assert self.current is not None
        return self.current

    def start_refreshing(self) -> None:
        """Re-check the alias every `refresh_seconds` in a daemon thread until `stop`."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.refresh_seconds):
                with contextlib.suppress(Exception):
                    self.refresh()

        self._thread = threading.Thread(target=loop, name=f"{self.alias}-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _alias_holder(
    settings: OnlineSettings, source_features: tuple[str, ...], alias: str, **options: Any
) -> ChampionHolder:
    """A holder of the registered model's version ALIAS names, timed by the service's settings."""
    mlflow_settings = get_mlflow_settings()
    return ChampionHolder(
        tracking_uri=mlflow_settings.resolved_tracking_uri,
        name=mlflow_settings.model_name,
        alias=alias,
        source_features=source_features,
        refresh_seconds=settings.model_refresh_seconds,
        request_timeout_seconds=settings.mlflow_request_timeout_seconds,
        **options,
    )


def open_champion(
    settings: OnlineSettings,
    source_features: tuple[str, ...],
    on_change: OnChange | None = None,
) -> ChampionHolder:
    """The service's champion from settings: loaded (retrying up to
    SERVING_MODEL_START_TIMEOUT_SECONDS) and re-checked every SERVING_MODEL_REFRESH_SECONDS."""
    holder = _alias_holder(
        settings, source_features, get_mlflow_settings().champion_alias, on_change=on_change
    )
    holder.load_with_retries(settings.model_start_timeout_seconds)
    holder.start_refreshing()
    return holder


def open_challenger(
    settings: OnlineSettings,
    source_features: tuple[str, ...],
    on_change: OnChange | None = None,
    on_check: Callable[[str | None], None] | None = None,
) -> ChampionHolder | None:
    """The service's challenger holder (None when SERVING_SHADOW_SHARE is 0): one load attempt
    now, whose failure is only recorded (readiness reports it, the champion serves alone),
    then re-checked every SERVING_MODEL_REFRESH_SECONDS like the champion."""
    if settings.shadow_share <= 0:
        logger.info("shadow scoring off (SERVING_SHADOW_SHARE=0)")
        return None
    holder = _alias_holder(
        settings,
        source_features,
        get_mlflow_settings().challenger_alias,
        on_change=on_change,
        optional=True,
        on_check=on_check,
    )
    try:
        holder.refresh()
    except Exception as exc:  # recorded in holder.status; the champion serves alone
        logger.warning("challenger not loaded (%s); the champion serves alone", exc)
    holder.start_refreshing()
    return holder
