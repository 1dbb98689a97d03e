"""What the gateway holds: its settings, a PostgreSQL pool (API keys, research jobs), Redis (rate limits; the
runtime's event channel), and handles to the runtime's named actors. Connected lazily on first use, so the
same app works under Serve, uvicorn and a test client; nothing here is trading state."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import ray
import redis.asyncio as aioredis
from ray._private import state as ray_state
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from actors import MARKET_DATA, ORDER_MANAGER, RISK, strategy_name
from serve_apps.errors import ApiError
from serve_apps.ratelimit import TAKE_LUA, RateLimiter
from serve_apps.reads import ReadCoalescer
from serve_apps.settings import GatewaySettings
from trading.auth import jwt_secret
from trading.config import dto_home, external_urls
from trading.errors import BrokerError, ConfigError, FixRequest, InvalidValue, RetryLater
from trading.model.orders import Order
from trading.storage import ApiKeyStore, LiveCache, StorageError, open_pool, ping, start_storage


class Services:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.pool: Any = None
        self.cache: LiveCache | None = None
        self.keys: ApiKeyStore | None = None
        self.secret = ""
        self.database_url = ""
        self.redis_url = ""
        self._lock = asyncio.Lock()
        self._handles: dict[str, Any] = {}
        # Verified keys, trusted for `key_cache_s` (the revocation lag): key hash -> (until, key id, scopes),
        # and key id -> until for keys behind tokens.
        self.key_cache: dict[str, tuple[float, str, tuple[str, ...]]] = {}
        self.active_keys: dict[str, float] = {}
        self.reads = ReadCoalescer()
        self.instruments: frozenset[str] = frozenset()  # with market data; only ever grows, so never stale
        self.events_cache: LiveCache | None = None  # the runtime's own Redis namespace (its event channels)
        self.rate_limits = RateLimiter(self._take_hits, settings.rate_limit, settings.rate_window_s)
        self._redis: aioredis.Redis | None = None  # the rate-limit counters
        self._take_script: Any = None

    # ------------------------------------------------------------------------------------------ storage
    def _urls(self) -> tuple[str, str]:
        db, redis_url = self.settings.database_url, self.settings.redis_url
        env_db, env_redis = external_urls()
        db, redis_url = db or env_db, redis_url or env_redis
        if db is None or redis_url is None:
            # DTO_HOME's embedded servers: reused when running (this process never stops them).
            servers = start_storage(dto_home(), database_url=db, redis_url=redis_url)
            db, redis_url = servers.database_url, servers.redis_url
        return db, redis_url

    async def storage(self) -> tuple[ApiKeyStore, LiveCache]:
        """The key store and cache, connecting on first use; 503 if storage can't be reached."""
        if self.keys is not None and self.cache is not None:
            return self.keys, self.cache
        async with self._lock:
            if self.keys is None or self.cache is None:
                try:
                    if not self.database_url:
                        self.database_url, self.redis_url = await asyncio.to_thread(self._urls)
                        self.secret = self.settings.jwt_secret or jwt_secret()
                    if self.cache is None:
                        self.cache = LiveCache.from_url(self.redis_url, namespace=self.settings.redis_namespace)
                    self.pool = await open_pool(self.database_url, min_size=1, max_size=4, connect_timeout_s=3.0)
                    self.keys = ApiKeyStore(self.pool)
                except StorageError as exc:
                    raise ApiError(503, "storage_unavailable", str(exc)) from None
        assert self.keys is not None and self.cache is not None
        return self.keys, self.cache

    async def readiness(self) -> dict[str, bool]:
        checks = {"actors": False, "postgres": False, "redis": False}
        with contextlib.suppress(ApiError):
            await self.storage()
        if self.pool is not None:
            checks["postgres"] = await ping(self.pool, timeout_s=1.0)
        if self.cache is not None:
            checks["redis"] = await self.cache.ping()
        with contextlib.suppress(ApiError):
            await asyncio.gather(
                *(self.call(name, "status" if name != ORDER_MANAGER else "metrics_view", timeout_s=2.0)
                  for name in (RISK, ORDER_MANAGER, MARKET_DATA))
            )
            checks["actors"] = True
        return checks

    async def _take_hits(self, key: str, hits: int, window_ms: int) -> tuple[int, int]:
        """Take `hits` from the key's counter in Redis (see `serve_apps.ratelimit`)."""
        await self.storage()
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=5.0, health_check_interval=30)
            self._take_script = self._redis.register_script(TAKE_LUA)
        name = f"{self.settings.redis_namespace}:rl:gateway:{key}"  # the key LiveCache.rate_limit_hit counts
        count, ttl_ms = await self._take_script(keys=[name], args=[hits, window_ms])
        return int(count), int(ttl_ms)

    async def runtime_events(self) -> LiveCache:
        """Redis under the runtime's namespace, where the order manager publishes its events."""
        await self.storage()
        if self.events_cache is None:
            self.events_cache = LiveCache.from_url(self.redis_url, namespace=self.settings.namespace)
        return self.events_cache

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        for cache in (self.cache, self.events_cache):
            if cache is not None:
                await cache.close()
        if self._redis is not None:
            await self._redis.aclose()

    # ------------------------------------------------------------------------------------------- actors
    def handle(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            try:
                handle = ray.get_actor(name, namespace=self.settings.namespace)
            except ValueError:
                raise ApiError(503, "actor_unavailable", f"actor {name!r} is not running") from None
            self._handles[name] = handle
        return handle

    async def call(
        self,
        name: str,
        method: str,
        *args: Any,
        order_write: bool = False,
        timeout_s: float | None = None,
        conflict: tuple[type[Exception], str | None] | None = None,
    ) -> Any:
        """One actor call with the failure said plainly: 503 if the actor is down, 502 if it failed; for an
        order write whose outcome is unknown the error says so (retry with the same client order id).
        `conflict`: (exception type, field) the method raises when the request clashes with current state: 409."""
        state = "unknown" if order_write else None
        started = time.monotonic()
        try:
            ref = getattr(self.handle(name), method).remote(*args)
            return await asyncio.wait_for(ref, timeout_s or self.settings.actor_timeout_s)
        except RayTaskError as exc:
            raise self.failure(name, method, exc.cause, state, conflict) from None
        except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
            self._handles.pop(name, None)
            message = f"{name} is unavailable: {type(exc).__name__}"
            raise ApiError(503, "actor_unavailable", message, order_state=state) from None
        except (TimeoutError, GetTimeoutError):
            waited = time.monotonic() - started
            raise ApiError(
                503, "actor_timeout", f"{name}.{method} did not answer in {waited:.1f}s", order_state=state
            ) from None

    @staticmethod
    def failure(
        name: str,
        method: str,
        cause: BaseException | None,
        order_state: str | None,
        conflict: tuple[type[Exception], str | None] | None = None,
    ) -> ApiError:
        """The API error for an exception an actor method raised."""
        if isinstance(cause, ConfigError):
            return ApiError(422, "invalid_request", str(cause), field=cause.key)
        if isinstance(cause, InvalidValue | FixRequest):
            return ApiError(422, "invalid_request", str(cause))
        if conflict is not None and isinstance(cause, conflict[0]):
            return ApiError(409, "conflict", str(cause), field=conflict[1])
        if isinstance(cause, RetryLater):
            return ApiError(503, "broker_unavailable", str(cause), order_state=order_state)
        if isinstance(cause, BrokerError):
            return ApiError(502, "broker_error", str(cause), order_state=order_state)
        return ApiError(502, "actor_error", f"{name}.{method} failed: {cause!r}", order_state=order_state)

    async def submit_order(self, order: Order) -> dict[str, Any]:
        """A person's order through the order manager's order path (risk, journal, venue)."""
        answers: list[dict[str, Any] | BaseException] = await self.call(
            ORDER_MANAGER, "submit_manual_many", [order], order_write=True
        )
        answer = answers[0]
        if isinstance(answer, BaseException):
            raise self.failure(ORDER_MANAGER, "submit_manual", answer, "unknown")
        return answer

    async def read(self, name: str, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """A read-only actor call; identical concurrent reads share one call (see `serve_apps.reads`)."""
        return await self.reads.read(
            (name, method, args), lambda: self.call(name, method, *args, timeout_s=timeout_s)
        )

    async def tradable(self, instrument_id: str) -> bool:
        """True if the market-data actor has bars for the instrument (asked again on every unknown id)."""
        if instrument_id not in self.instruments:
            self.instruments = frozenset(await self.read(MARKET_DATA, "last_bars"))
        return instrument_id in self.instruments

    async def strategy_statuses(self, timeout_s: float = 2.0) -> list[dict[str, Any]]:
        """`status()` of every running strategy actor that answers within `timeout_s`."""
        names = await self.strategy_names()
        answers = await asyncio.gather(
            *(self.call(strategy_name(sid), "status", timeout_s=timeout_s) for sid in names), return_exceptions=True
        )
        return [a for a in answers if isinstance(a, dict)]

    async def actor_restarts(self) -> dict[str, int]:
        """How many times Ray restarted each of the runtime's named actors."""
        return await asyncio.to_thread(self._actor_restarts)

    def _actor_restarts(self) -> dict[str, int]:
        # Ray's public state API (`ray.util.state`) asks the dashboard, which `dto run` does not start; this reads
        # the GCS's actor table directly, as that API does.
        restarts: dict[str, int] = {}
        for name in self._named(""):
            try:
                handle = ray.get_actor(name, namespace=self.settings.namespace)
            except ValueError:  # gone since it was listed
                continue
            info = ray_state.actors(actor_id=handle._actor_id.hex())
            restarts[name] = int(info.get("NumRestarts", 0))
        return restarts

    async def strategy_names(self) -> list[str]:
        """Ids of the running strategy actors in the runtime's namespace."""
        return await self.names("strategy-")

    async def names(self, prefix: str) -> list[str]:
        """Names (without `prefix`) of the named actors starting with `prefix` in the runtime's namespace."""
        return await asyncio.to_thread(self._named, prefix)

    def _named(self, prefix: str) -> list[str]:
        named = ray.util.list_named_actors(all_namespaces=True)
        return sorted(
            a["name"][len(prefix) :]
            for a in named
            if a.get("namespace") == self.settings.namespace and a["name"].startswith(prefix)
        )
