"""What the gateway holds: its settings, a PostgreSQL pool (API keys, research jobs), Redis (rate limits; the
runtime's event channel), and the typed `RuntimeClient` to the runtime's actors. Connected lazily on first use, so the
same app works under Serve, uvicorn and a test client; nothing here is trading state."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from ray.exceptions import GetTimeoutError

from actors.client import ActorUnavailable, RuntimeClient, raised_by
from serve_apps.errors import ApiError
from serve_apps.ratelimit import TAKE_LUA, RateLimiter
from serve_apps.reads import ReadCoalescer
from serve_apps.settings import GatewaySettings
from trading.auth import jwt_secret
from trading.brokers.capabilities import UnsupportedOrder
from trading.config import dto_home, external_urls
from trading.errors import BrokerError, ConfigError, FixRequest, InvalidValue, RetryLater
from trading.live.config import BrokerConfig
from trading.model.orders import Order
from trading.storage import ApiKeyStore, LiveCache, StorageError, open_pool, ping, start_storage

P = ParamSpec("P")
T = TypeVar("T")


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
        self.runtime = RuntimeClient(settings.namespace)  # every call into the runtime goes through it
        self._brokers: dict[str, BrokerConfig] | None = None
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
            runtime = self.runtime
            await asyncio.gather(
                self.call(runtime.risk_status(), timeout_s=2.0),
                self.call(runtime.order_metrics(), timeout_s=2.0),
                self.call(runtime.market_data_status(), timeout_s=2.0),
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
    async def call(
        self,
        request: Awaitable[T],
        *,
        order_write: bool = False,
        timeout_s: float | None = None,
        conflict: tuple[type[Exception], str | None] | None = None,
    ) -> T:
        """One runtime call (a `RuntimeClient` method's awaitable) with the failure said plainly: 503 if the actor
        is down or slow, 502 if it failed, 422 for a request it refused; for an order write whose outcome is
        unknown the error says so (retry with the same client order id). `conflict`: (exception type, field) the
        call raises when the request clashes with current state: 409."""
        state = "unknown" if order_write else None
        started = time.monotonic()
        try:
            return await asyncio.wait_for(request, timeout_s or self.settings.actor_timeout_s)
        except ActorUnavailable as exc:
            raise ApiError(503, "actor_unavailable", str(exc), order_state=state) from None
        except (TimeoutError, GetTimeoutError):
            waited = time.monotonic() - started
            raise ApiError(
                503, "actor_timeout", f"the runtime did not answer in {waited:.1f}s", order_state=state
            ) from None
        except Exception as exc:  # the actor's own exception (`RuntimeClient` raises it as is)
            raise self.failure(exc, state, conflict) from None

    @staticmethod
    def failure(
        cause: BaseException,
        order_state: str | None,
        conflict: tuple[type[Exception], str | None] | None = None,
    ) -> ApiError:
        """The API error for an exception an actor method raised."""
        if isinstance(cause, ApiError):
            return cause
        if isinstance(cause, UnsupportedOrder):
            return ApiError(422, "unsupported_by_venue", str(cause), field=cause.field)
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
        where = raised_by(cause) or "the runtime"
        return ApiError(502, "actor_error", f"{where} failed: {cause!r}", order_state=order_state)

    async def submit_orders(self, orders: list[Order]) -> list[dict[str, Any]]:
        """People's orders through the order manager's order path (risk, journal, venue), in order; the first
        error any of them met is raised (the orders before it went their way: each is idempotent by id)."""
        answers = await self.call(self.runtime.submit_orders(orders), order_write=True)
        out: list[dict[str, Any]] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise self.failure(answer, "unknown")
            out.append(answer)
        return out

    async def read(self, fetch: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A read-only runtime call; identical concurrent reads share one call (see `serve_apps.reads`)."""
        key = (getattr(fetch, "__name__", repr(fetch)), args, tuple(sorted(kwargs.items())))
        answer: T = await self.reads.read(key, lambda: self.call(fetch(*args, **kwargs)))
        return answer

    async def read_within(
        self, timeout_s: float, fetch: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`read` that gives up after `timeout_s` (probes: /ready, /metrics)."""
        key = (getattr(fetch, "__name__", repr(fetch)), args, tuple(sorted(kwargs.items())), timeout_s)
        answer: T = await self.reads.read(key, lambda: self.call(fetch(*args, **kwargs), timeout_s=timeout_s))
        return answer

    async def brokers(self) -> dict[str, BrokerConfig]:
        """The runtime's brokers by name (asked once: the runtime's brokers are fixed by its config)."""
        if self._brokers is None:
            self._brokers = {b.name: b for b in await self.read(self.runtime.brokers)}
        return self._brokers

    async def broker(self, name: str) -> BrokerConfig:
        """The named broker; 404 if the runtime has none by that name."""
        brokers = await self.brokers()
        if name not in brokers:
            raise ApiError(404, "broker_not_found", f"no broker {name!r} (this runtime has: "
                           f"{', '.join(sorted(brokers)) or 'none'})", field="broker")
        return brokers[name]

    async def tradable(self, instrument_id: str) -> bool:
        """True if the market-data actor has bars for the instrument (asked again on every unknown id)."""
        if instrument_id not in self.instruments:
            self.instruments = frozenset(await self.read(self.runtime.last_bars))
        return instrument_id in self.instruments

    async def strategy_statuses(self, timeout_s: float = 2.0) -> list[dict[str, Any]]:
        """`status()` of every running strategy actor that answers within `timeout_s`."""
        names = await self.strategy_names()
        answers = await asyncio.gather(
            *(self.call(self.runtime.strategy_status(sid), timeout_s=timeout_s) for sid in names),
            return_exceptions=True,
        )
        return [a for a in answers if isinstance(a, dict)]

    async def actor_restarts(self) -> dict[str, int]:
        """How many times Ray restarted each of the runtime's named actors."""
        return await self.runtime.actor_restarts()

    async def strategy_names(self) -> list[str]:
        """Ids of the running strategy actors in the runtime's namespace."""
        return await self.runtime.named_actors("strategy-")
