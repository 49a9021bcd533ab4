"""Online feature reads for the service: the requests waiting at one moment share one Redis call.

`store.get_online_features` costs a few hundred microseconds of Python per call (response
protos, type conversion, a dict of lists); at 1,000 requests per second that is the budget of
the whole request. This reader does the same lookup with the same keys: the layout is taken
from Feast's registry (`feature_store.layout.online_views`) and keys and values go through
`feature_store.feast_internals` (Feast's own helpers), so it follows Feast rather than copying
it. A test asserts it returns exactly what `get_online_features` returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import redis
import redis.asyncio
from aiodataloader import DataLoader
from feature_store import feast_internals
from feature_store.layout import OnlineView, online_views
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException

if TYPE_CHECKING:
    from feast import FeatureStore

    from online_service.settings import OnlineSettings

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


# Parsing a ValueProto costs ~5 us in Python, 15 times per request of 5 drivers: a third of
# the handler's CPU under py-spy. The serialized value is its own cache key; materialized
# values repeat across requests until the next materialization.
_decode_cached = lru_cache(maxsize=65_536)(feast_internals.decode_number)

# A standalone Redis answers every HMGET of a batch of requests in one command: a pipeline of
# one HMGET per view and driver costs redis-py's Python per command (packing, a parsed reply
# each; 28% of the worker's samples under py-spy at 16 connections), one EVALSHA costs it once
# and hiredis parses the nested reply in C. ARGV holds, per view, its field count then its
# fields; the replies come view-major. (A Redis Cluster reads through a pipeline per node: a
# script's keys must share one slot.) Missing fields stay nil in the reply.
_READ_HASHES = """
local replies, at = {}, 1
while at <= #ARGV do
  local count = tonumber(ARGV[at])
  for i = 1, #KEYS do
    replies[#replies + 1] = redis.call('HMGET', KEYS[i], unpack(ARGV, at + 1, at + count))
  end
  at = at + count + 1
end
return replies
"""


# One immediate retry replaces a pooled connection that died with a Redis restart; a timeout
# is not retried, so a hung Redis is answered within one socket timeout.
_RETRIED_ERRORS = (redis.ConnectionError,)


class AsyncRedisFeatureReader:
    """Reads a Feast feature service's values for driver ids straight from Feast's Redis store,
    on `redis.asyncio`: the handler awaits Redis on the event loop instead of hopping to a
    worker thread, and a hung Redis holds no thread.

    Built once from the registry (`from_store`). Redis errors surface as
    `FeaturesUnavailableError` within the client timeouts (no hang), and the connection pool
    reconnects by itself once Redis is back.
    """

    _client: redis.asyncio.Redis | AsyncRedisCluster

    def __init__(
        self,
        client: Any,
        *,
        max_batch: int = 64,
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
        # The script's ARGV: per view, its field count then its hash fields (see _READ_HASHES).
        script_args: list[bytes | int] = []
        for view in self._views:
            script_args += [len(view.hash_fields), *view.hash_fields]
        self._script_args = tuple(script_args)
        # A standalone Redis reads through the script; a cluster keeps its per-node pipelines.
        cluster = isinstance(client, AsyncRedisCluster)
        self._script = None if cluster else client.register_script(_READ_HASHES)
        self._max_batch = max_batch
        self._loader: DataLoader[tuple[int, ...], FeatureRows] | None = None

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
        **reader_options: Any,
    ) -> Self:
        """Lay out FEATURE_SERVICE's features from STORE's registry and open a Redis client:
        at HOST:PORT for a standalone store, or a cluster client on the startup nodes of
        STORE's connection string when its `redis_type` is `redis_cluster` (one pipeline per
        node serving the keys' slots; MOVED/ASK and topology changes followed by redis-py; a
        master that is down fails only the requests for its slots). READER_OPTIONS go to the
        reader's constructor."""
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
        options = {
            "password": password,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
        }
        client: redis.asyncio.Redis | AsyncRedisCluster
        if feast_internals.redis_topology(store) == "cluster":
            nodes = feast_internals.redis_startup_nodes(store)
            try:
                client = cls._open_cluster_client(nodes, **options)
            except _REDIS_ERRORS as exc:
                raise FeaturesUnavailableError(
                    f"online store (Redis Cluster) unavailable: {exc}"
                ) from exc
        else:
            client = cls._open_client(host=host, port=port, **options)
        return cls(
            client,
            project=config.project,
            join_key=join_keys.pop(),
            entity_key_serialization_version=config.entity_key_serialization_version,
            views=views,
            feature_names=names,
            **reader_options,
        )

    def _keys(self, driver_ids: Sequence[int]) -> list[bytes]:
        return [self._redis_key(driver_id) for driver_id in driver_ids]

    def _rows(
        self, driver_ids: Sequence[int], replies: Sequence[Sequence[bytes | None]]
    ) -> FeatureRows:
        """FeatureRows from the replies (view-major, one HMGET per view and id)."""
        n = len(driver_ids)
        found_ids: list[int] = []
        rows: list[list[float]] = []
        missing: list[int] = []
        for index, driver_id in enumerate(driver_ids):
            row: list[float] = []
            for view_index in range(len(self._views)):
                for raw in replies[view_index * n + index]:
                    value = _decode_cached(raw)
                    row.append(math.nan if value is None else value)
            if any(math.isnan(value) for value in row):
                missing.append(driver_id)
            else:
                found_ids.append(driver_id)
                rows.append(row)
        values = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.feature_names))
        return FeatureRows(self.feature_names, found_ids, values, missing)

    @classmethod
    def _open_client(cls, **options: Any) -> redis.asyncio.Redis:
        return redis.asyncio.Redis(
            **options,
            retry=AsyncRetry(NoBackoff(), 1, supported_errors=_RETRIED_ERRORS),
            health_check_interval=0,
        )

    @classmethod
    def _open_cluster_client(
        cls, nodes: Sequence[tuple[str, int]], **options: Any
    ) -> AsyncRedisCluster:
        # The async client learns the slot map on its first command, not here.
        return AsyncRedisCluster(
            startup_nodes=[AsyncClusterNode(host, port) for host, port in nodes],
            retry=AsyncRetry(NoBackoff(), 1),
            require_full_coverage=False,
            **options,
        )

    async def read(self, driver_ids: Sequence[int]) -> FeatureRows:
        """Values of every feature for DRIVER_IDS, in one round trip.

        On a standalone Redis the reads of the requests waiting on this event loop at the
        same moment share one script call (an `aiodataloader.DataLoader` without its cache,
        at most `max_batch` requests per call): under load a Redis round trip's system calls
        and redis-py's Python per command are paid once per batch instead of once per
        request, and a lone request is sent in the same loop iteration. On a cluster: one
        pipeline per node serving the keys' slots, per request.
        """
        if self._script is None:
            return await self._read_pipelined(driver_ids)
        loader, loop = self._loader, asyncio.get_running_loop()
        if loader is None or loader.loop is not loop:  # futures belong to one loop
            loader = self._loader = DataLoader(
                self._read_batch, cache=False, max_batch_size=self._max_batch, loop=loop
            )
        return await loader.load(tuple(driver_ids))

    async def _read_batch(self, requests: list[tuple[int, ...]]) -> list[FeatureRows]:
        """The rows of each of REQUESTS (driver id tuples) from one script call."""
        keys = [key for driver_ids in requests for key in self._keys(driver_ids)]
        try:
            replies = await self._script(keys=keys, args=self._script_args)  # type: ignore[misc]
        except _REDIS_ERRORS as exc:
            raise FeaturesUnavailableError(f"online store (Redis) unavailable: {exc}") from exc
        n, views = len(keys), range(len(self._views))
        rows, offset = [], 0
        for driver_ids in requests:  # replies are view-major over all the batch's keys
            k = len(driver_ids)
            own = [replies[v * n + offset + i] for v in views for i in range(k)]
            rows.append(self._rows(driver_ids, own))
            offset += k
        return rows

    async def _read_pipelined(self, driver_ids: Sequence[int]) -> FeatureRows:
        keys = self._keys(driver_ids)
        try:
            await _reinitialize_through_a_live_primary(self._client)
            async with self._client.pipeline(transaction=False) as pipe:
                for view in self._views:
                    for key in keys:
                        pipe.hmget(key, view.hash_fields)  # type: ignore[arg-type]
                replies = await pipe.execute()
        except _REDIS_ERRORS as exc:
            raise FeaturesUnavailableError(f"online store (Redis) unavailable: {exc}") from exc
        return self._rows(driver_ids, replies)

    async def ping(self) -> bool:
        """True when Redis answers within the client timeouts (on a cluster: one master)."""
        client = self._client
        try:
            if isinstance(client, AsyncRedisCluster):
                primaries = client.get_primaries()
                if not primaries:  # the slot map is not known yet: any node will do
                    return bool(await client.ping())  # type: ignore[misc]  # redis-py types both
                for node in primaries:
                    try:
                        if await client.ping(target_nodes=node):  # type: ignore[misc]
                            return True
                    except _REDIS_ERRORS:
                        continue
                return False
            return bool(await client.ping())  # type: ignore[misc]  # redis-py types both
        except _REDIS_ERRORS:
            return False

    async def close(self) -> None:
        await self._client.aclose()


async def _reinitialize_through_a_live_primary(client: Any) -> None:
    """Re-initialise CLIENT (a cluster client flagged for it after an error) through a primary
    that answers.

    redis-py 7.4's async cluster client re-reads the slot map after a connection error (an
    unreachable startup node is skipped), then sends COMMAND to its default node, which is
    always the first primary: when that master is the one down, every later command failed
    until it came back, the drivers of the live masters included (found by
    `test_a_dead_master_fails_only_its_slots_then_recovers`; the sync client replaces its
    default node there). Here the first primary that answers COMMAND becomes the default.
    """
    if not getattr(client, "_initialize", False):  # healthy: one attribute read per request
        return
    await client.nodes_manager.initialize()
    for node in client.get_primaries():
        try:
            await client.commands_parser.initialize(node)
        except _REDIS_ERRORS:
            continue
        client.nodes_manager.default_node = node
        client._initialize = False
        return
    raise RedisClusterException("no master of the Redis Cluster answers")


def open_feature_reader(settings: OnlineSettings) -> AsyncRedisFeatureReader:
    """The service's reader of the project's feature service, on the configured Redis."""
    from feature_store.feast_internals import feast_type_checks_skipped
    from mlops_common.settings import get_feast_settings, get_redis_settings

    redis_settings = get_redis_settings()
    # The service reads the feature service back from the registry: Feast's typeguard
    # instrumentation of its definition classes (seconds of its import) checks nothing here.
    with feast_type_checks_skipped():
        from feature_store.store import get_store

        store = get_store()
    password = redis_settings.password
    return AsyncRedisFeatureReader.from_store(
        store,
        get_feast_settings().feature_service,
        host=redis_settings.host,
        port=redis_settings.port,
        password=password.get_secret_value() if password else None,
        socket_timeout=redis_settings.socket_timeout,
        connect_timeout=settings.redis_connect_timeout_seconds,
        max_batch=settings.feature_batch_max,
    )
