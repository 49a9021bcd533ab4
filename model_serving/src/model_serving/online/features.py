"""Online feature reads for the service: one Redis round trip per request.

`store.get_online_features` costs a few hundred microseconds of Python per call (response
protos, type conversion, a dict of lists); at 1,000 requests per second that is the budget of
the whole request. This reader does the same lookup with the same keys: the layout is taken
from Feast's registry (`feature_store.layout.online_views`) and keys and values go through
`feature_store.feast_internals` (Feast's own helpers), so it follows Feast rather than copying
it. A test asserts it returns exactly what `get_online_features` returns.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import redis
from feature_store import feast_internals
from feature_store.layout import OnlineView, online_views
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

if TYPE_CHECKING:
    from feast import FeatureStore

logger = logging.getLogger(__name__)


class FeaturesUnavailableError(RuntimeError):
    """The online store could not be read (Redis down, timed out or refused the call)."""


# What a read can raise when Redis (or the cluster node serving a key's slot) is unavailable;
# the cluster client's own errors (no node for a slot) do not derive from RedisError.
_REDIS_ERRORS = (redis.RedisError, RedisClusterException)


@dataclass(frozen=True)
class FeatureRows:
    """Features of the requested drivers that have every feature online.

    `values[i]` belongs to `driver_ids[i]`, columns in `feature_names` order; drivers with any
    feature missing are listed in `missing_driver_ids` (request order) instead.
    """

    feature_names: tuple[str, ...]
    driver_ids: list[int]
    values: np.ndarray
    missing_driver_ids: list[int]


class FeatureSource(Protocol):
    """What the ranking logic needs from an online store (a stub in logic tests)."""

    feature_names: tuple[str, ...]

    def read(self, driver_ids: Sequence[int]) -> FeatureRows: ...

    def ping(self) -> bool: ...


class RedisFeatureReader:
    """Reads a Feast feature service's values for driver ids straight from Feast's Redis store.

    Built once from the registry (`from_store`); each `read` is one pipelined HMGET round trip
    (on a Redis Cluster, one pipeline per node serving the keys' slots, with MOVED/ASK and
    topology changes followed by redis-py's cluster client). Redis errors surface as
    `FeaturesUnavailableError` within the client timeouts (no hang), and the connection pool
    reconnects by itself once Redis is back; on a cluster only the requests whose keys live on
    an unavailable node fail.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        project: str,
        join_key: str,
        entity_key_serialization_version: int,
        views: Sequence[OnlineView],
        feature_names: Sequence[str],
    ) -> None:
        self._client = client
        self._views = tuple(views)
        self.feature_names = tuple(feature_names)
        self._redis_key = feast_internals.int64_key_builder(
            project, join_key, entity_key_serialization_version
        )

    @classmethod
    def from_store(
        cls,
        store: FeatureStore,
        feature_service: str,
        *,
        host: str,
        port: int,
        password: str | None,
        socket_timeout: float,
        connect_timeout: float,
    ) -> RedisFeatureReader:
        """Lay out FEATURE_SERVICE's features from STORE's registry and open a Redis client:
        at HOST:PORT for a standalone store, or a cluster client on the startup nodes of
        STORE's connection string when its `redis_type` is `redis_cluster`."""
        views = online_views(store, store.get_feature_service(feature_service))
        names = [name for view in views for name in view.features]
        join_keys = {key for view in views for key in view.join_keys}
        config = store.config
        if len(join_keys) != 1:
            raise ValueError(
                f"feature service {feature_service!r} spans join keys {sorted(join_keys)}; "
                "the online service reads one entity (driver_id)"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"feature service {feature_service!r} repeats a feature name")
        client: redis.Redis | RedisCluster
        if feast_internals.redis_topology(store) == "cluster":
            client = _cluster_client(
                feast_internals.redis_startup_nodes(store),
                password=password,
                socket_timeout=socket_timeout,
                connect_timeout=connect_timeout,
            )
        else:
            client = redis.Redis(
                host=host,
                port=port,
                password=password,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                # One immediate retry replaces a pooled connection that died with a restart.
                retry=Retry(NoBackoff(), 1),
                health_check_interval=0,
            )
        return cls(
            client,
            project=config.project,
            join_key=join_keys.pop(),
            entity_key_serialization_version=config.entity_key_serialization_version,
            views=views,
            feature_names=names,
        )

    def read(self, driver_ids: Sequence[int]) -> FeatureRows:
        """Values of every feature for DRIVER_IDS, in one pipelined round trip."""
        keys = [self._redis_key(driver_id) for driver_id in driver_ids]
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for view in self._views:
                    for key in keys:
                        pipe.hmget(key, view.hash_fields)  # type: ignore[arg-type]
                replies = pipe.execute()
        except _REDIS_ERRORS as exc:
            raise FeaturesUnavailableError(f"online store (Redis) unavailable: {exc}") from exc

        n = len(keys)
        found_ids: list[int] = []
        rows: list[list[float]] = []
        missing: list[int] = []
        for index, driver_id in enumerate(driver_ids):
            row: list[float] = []
            for view_index in range(len(self._views)):
                for raw in replies[view_index * n + index]:
                    value = feast_internals.decode_number(raw)
                    row.append(math.nan if value is None else value)
            if any(math.isnan(value) for value in row):
                missing.append(driver_id)
            else:
                found_ids.append(driver_id)
                rows.append(row)
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.feature_names))
        return FeatureRows(self.feature_names, found_ids, values, missing)

    def ping(self) -> bool:
        """True when Redis answers within the client timeouts (on a cluster: when one of its
        masters does; a node that is down fails only the requests for its slots)."""
        client = self._client
        try:
            if isinstance(client, RedisCluster):
                return any(_node_answers(client, node) for node in client.get_primaries())
            return bool(client.ping())
        except _REDIS_ERRORS:
            return False

    def close(self) -> None:
        self._client.close()


def _cluster_client(
    nodes: Sequence[tuple[str, int]],
    *,
    password: str | None,
    socket_timeout: float,
    connect_timeout: float,
) -> RedisCluster:
    """A redis-py cluster client on the startup NODES, failing within the timeouts.

    It learns the slot map from the first node that answers at once; when no node answers it
    raises `FeaturesUnavailableError` (the service's start-up fails with that message).
    """
    try:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],
            password=password,
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            # One immediate retry (after the client refreshes its slot map) instead of the
            # default backed-off three: a dead node must give a fast 503, not a slow one.
            retry=Retry(NoBackoff(), 1),
            # A master that is down takes only its own slots away from the readers.
            require_full_coverage=False,
        )
    except _REDIS_ERRORS as exc:
        raise FeaturesUnavailableError(f"online store (Redis Cluster) unavailable: {exc}") from exc


def _node_answers(client: RedisCluster, node: ClusterNode) -> bool:
    try:
        return bool(client.ping(target_nodes=node))
    except _REDIS_ERRORS:
        return False
