"""Backoff for venue reads and a token-bucket rate limiter per venue.

Only reads go through `retry_read`: order writes are never retried here (a write that gets no answer is
looked up by client order id instead, see `trading.brokers.write_path`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from trading.errors import ConfigError, OrderStateUnknown, RetryLater

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits up to min(cap, base * 2**n) seconds."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 8.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"backoff attempts must be >= 1, got {self.attempts}", key="attempts")
        if self.base < 0 or self.cap < 0:
            raise ConfigError("backoff base and cap must not be negative", key="base")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based); a venue's Retry-After wins if longer."""
        ceiling = min(self.cap, self.base * (2**attempt))
        wait = random.uniform(0, ceiling) if self.jitter else ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait


async def retry_read(call: Callable[[], Awaitable[T]], *, backoff: Backoff, what: str = "read") -> T:
    """Run a read, retrying `RetryLater` with backoff. Everything else (and the last failure) propagates."""
    for attempt in range(backoff.attempts):
        try:
            return await call()
        except OrderStateUnknown:
            raise  # only writes raise this; never retry a write
        except RetryLater as exc:
            if attempt == backoff.attempts - 1:
                raise
            wait = backoff.delay(attempt, exc.retry_after)
            log.warning("%s failed (%s), retry %d in %.2fs", what, exc, attempt + 1, wait)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class RateLimiter:
    """A token bucket: `rate` requests per `per` seconds, bursts up to `burst`. One per venue connection.

    `acquire` waits until a token is free, so calls queue up on our side instead of the venue answering 429.
    """

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or per <= 0:
            raise ConfigError(f"rate limit must be positive, got {rate} per {per}s", key="rate_limit")
        self.rate = rate / per  # tokens per second
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def pause(self, seconds: float) -> None:
        """The venue said 429 anyway (e.g. another client shares the key): hold everyone back for a while."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0

    async def acquire(self, cost: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._refill()
                if self._tokens >= cost:
                    self._tokens -= cost
                    return
                await asyncio.sleep((cost - self._tokens) / self.rate)
