"""The live cache in Redis: last bars, pub/sub events, the kill switch and rate limits.

Every key and channel is prefixed with a namespace (default "dto"), so several runtimes can share one
external Redis. Values are JSON (a Decimal becomes a string, like in the database).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from trading.storage.database import dumps
from trading.storage.errors import StorageError

# INCR and set the window's expiry in one atomic step: with two round trips, a crash between them
# would leave a counter without expiry that denies forever. Returns {count, milliseconds left}.
_RATE_LIMIT_LUA = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class LiveCache:
    """Redis access for the live runtime."""

    def __init__(self, client: aioredis.Redis, *, namespace: str = "dto") -> None:
        self._client = client
        self._namespace = namespace
        self._rate_limit = client.register_script(_RATE_LIMIT_LUA)

    @classmethod
    def from_url(cls, redis_url: str, *, namespace: str = "dto", timeout_s: float = 5.0) -> LiveCache:
        """A cache on its own client; connects lazily on first use."""
        client = aioredis.Redis.from_url(
            redis_url, decode_responses=True, socket_connect_timeout=timeout_s, health_check_interval=30
        )
        return cls(client, namespace=namespace)

    def _key(self, *parts: str) -> str:
        return ":".join([self._namespace, *parts])

    async def close(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()

    async def ping(self) -> bool:
        """True if Redis answers (for readiness probes)."""
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    # --- last bars ---

    async def set_last_bar(self, instrument_id: str, bar: dict[str, Any]) -> None:
        """Remember the latest bar of an instrument (replaces the previous one)."""
        await self._client.set(self._key("bar", instrument_id), dumps(bar))

    async def get_last_bar(self, instrument_id: str) -> dict[str, Any] | None:
        """The latest bar stored for the instrument, or None."""
        raw = await self._client.get(self._key("bar", instrument_id))
        return None if raw is None else _loads(raw)

    # --- pub/sub ---

    async def publish(self, channel: str, event: dict[str, Any]) -> int:
        """Send an event to the channel's current subscribers; returns how many received it."""
        receivers: int = await self._client.publish(self._key("ch", channel), dumps(event))
        return receivers

    async def publish_many(self, channel: str, events: list[dict[str, Any]]) -> None:
        """Send several events to the channel as one message (a JSON array), in order; a `Subscription` hands
        them out one by one. One PUBLISH per batch: per command, Redis and its client cost more than the
        encoding of an event."""
        if not events:
            return
        await self._client.publish(self._key("ch", channel), dumps(events))

    def subscribe(self, channel: str) -> Subscription:
        """An async iterator of the channel's events. Use it as `async with cache.subscribe(ch) as events:`
        so the subscription is in place before anything is published (Redis does not keep missed events)."""
        return Subscription(self._client.pubsub(), self._key("ch", channel))

    def subscribe_many(self, *channels: str) -> Subscription:
        """One subscription to several channels; read it with `next_message` to know which channel spoke."""
        return Subscription(self._client.pubsub(), *(self._key("ch", channel) for channel in channels))

    # --- kill switch ---

    async def set_kill_switch(self, on: bool, reason: str) -> None:
        """Turn the firm-wide kill switch on or off, and announce it on the "kill_switch" channel."""
        state = {"on": on, "reason": reason, "ts": datetime.now(UTC).isoformat()}
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._key("kill_switch"), dumps(state))
            pipe.publish(self._key("ch", "kill_switch"), dumps(state))
            await pipe.execute()

    async def kill_switch(self) -> tuple[bool, str]:
        """(on, reason); (False, "") if it was never set."""
        raw = await self._client.get(self._key("kill_switch"))
        if raw is None:
            return False, ""
        state = _loads(raw)
        return bool(state["on"]), str(state["reason"])

    # --- risk limits and trading state (the risk actor's, so a restart keeps them) ---

    async def set_risk_gate(self, gate: dict[str, Any]) -> None:
        await self._client.set(self._key("risk_gate"), dumps(gate))

    async def risk_gate(self) -> dict[str, Any] | None:
        raw = await self._client.get(self._key("risk_gate"))
        return None if raw is None else _loads(raw)

    # --- rate limits ---

    async def rate_limit_hit(self, key: str, limit: int, window_s: float) -> tuple[bool, float]:
        """Count one hit on `key` in a fixed window of `window_s` seconds.

        Returns (allowed, retry_after): allowed while at most `limit` hits fell in the current window;
        when denied, retry_after is the seconds until the window resets (0.0 when allowed).
        """
        window_ms = max(1, round(window_s * 1000))
        count, ttl_ms = await self._rate_limit(keys=[self._key("rl", key)], args=[window_ms])
        if int(count) <= limit:
            return True, 0.0
        return False, max(int(ttl_ms), 1) / 1000


class Subscription:
    """Events of one channel (or several), as dicts, in the order they were published."""

    def __init__(self, pubsub: PubSub, *channels: str) -> None:
        self._pubsub = pubsub
        self._channels = channels
        self._subscribed = False
        self._unread: deque[tuple[str, dict[str, Any]]] = deque()  # the rest of a batch message

    async def start(self) -> None:
        """Subscribe and wait for Redis to confirm (done by `async with` or the first iteration)."""
        if self._subscribed:
            return
        await self._pubsub.subscribe(*self._channels)
        confirmed = 0
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "subscribe":
                confirmed += 1
                if confirmed == len(self._channels):
                    self._subscribed = True
                    return
        raise StorageError(f"redis did not confirm the subscription to {', '.join(self._channels)!r}")

    async def next_message(self, timeout_s: float) -> tuple[str, dict[str, Any]] | None:
        """The next event as (channel without its namespace prefix, event), or None after `timeout_s`."""
        await self.start()
        deadline = time.monotonic() + timeout_s
        while not self._unread and (left := deadline - time.monotonic()) > 0:
            await self._read(left)
        return self._unread.popleft() if self._unread else None

    async def _read(self, timeout_s: float | None) -> None:
        """Wait for one pub/sub message (at most `timeout_s`; None: no limit) and queue its events."""
        message = await self._pubsub.get_message(timeout=timeout_s)
        if message is not None and message["type"] == "message":
            channel = str(message["channel"]).rpartition(":ch:")[2]
            self._unread.extend((channel, event) for event in _events(message["data"]))

    async def aclose(self) -> None:
        """Unsubscribe and release the connection."""
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def __aenter__(self) -> Subscription:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        await self.start()
        while not self._unread:
            await self._read(None)
        return self._unread.popleft()[1]


def _loads(raw: str | bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise StorageError(f"expected a JSON object in redis, got {type(value).__name__}")
    return value


def _events(raw: str | bytes) -> list[dict[str, Any]]:
    """The events of one pub/sub message: a JSON object (`publish`) or an array of them (`publish_many`)."""
    value = json.loads(raw)
    events = value if isinstance(value, list) else [value]
    for event in events:
        if not isinstance(event, dict):
            raise StorageError(f"expected a JSON object in redis, got {type(event).__name__}")
    return events
