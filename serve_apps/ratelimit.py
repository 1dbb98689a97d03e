"""Per-key rate limits shared by every replica through Redis, without a Redis round trip per request.

Redis holds one counter per key and fixed window (it expires with the window), as before. A replica takes hits
from it in blocks (INCRBY) and spends them locally, so at high request rates only one request in `block` talks
to Redis. Enforcement stays exact: Redis never hands out more than `limit` hits per window in total, whichever
replicas ask. The price is some unfairness between replicas: hits one replica took but did not spend in a
window are lost to the others for that window (at most `block - 1` per replica). The block is small for small
limits (a tenth of the limit), so a key limited to tens of requests is counted almost hit by hit.
A window known to be exhausted is answered locally (429 until it ends), with no Redis call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# INCRBY and set the window's expiry in one atomic step (a counter without expiry would deny forever).
# Returns {count after this take, milliseconds left in the window}.
TAKE_LUA = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
end
return {count, ttl}
"""

MAX_BLOCK = 64

# (key, hits wanted, window in ms) -> (count after the take, ms left in the window)
Take = Callable[[str, int, int], Awaitable[tuple[int, int]]]


@dataclass
class _Window:
    ends: float = 0.0  # monotonic time the Redis window ends
    granted: int = 0  # hits this replica took from Redis for the window
    used: int = 0
    exhausted: bool = False  # Redis refused: every hit is denied until `ends`
    taking: asyncio.Future[None] | None = None  # a take in flight: others wait for it instead of asking too


class RateLimiter:
    """`limit` hits per key per `window_s`, counted in Redis through `take` (see the module docstring)."""

    def __init__(self, take: Take, limit: int, window_s: float) -> None:
        self._take = take
        self.limit = limit
        self.window_s = window_s
        self._window_ms = max(1, round(window_s * 1000))
        self.block = max(1, min(limit // 10, MAX_BLOCK))
        self._windows: dict[str, _Window] = {}

    async def hit(self, key: str) -> tuple[bool, float]:
        """Count one hit: (allowed, seconds until the window ends when denied, else 0.0)."""
        while True:
            now = time.monotonic()
            window = self._windows.get(key)
            if window is None or (now >= window.ends and window.taking is None):
                self._drop_ended(now)
                window = self._windows[key] = _Window()
            if window.taking is not None:
                await asyncio.shield(window.taking)  # then look again: the take may have left hits for us
                continue
            if window.used < window.granted:
                window.used += 1
                return True, 0.0
            if window.exhausted:
                return False, max(window.ends - now, 0.001)
            await self._refill(key, window)

    async def _refill(self, key: str, window: _Window) -> None:
        window.taking = asyncio.get_running_loop().create_future()
        try:
            count, ttl_ms = await self._take(key, self.block, self._window_ms)
            fresh = max(0, min(self.block, self.limit - (count - self.block)))  # the part within the limit
            window.ends = time.monotonic() + max(int(ttl_ms), 1) / 1000
            window.granted += fresh
            window.exhausted = fresh < self.block
        finally:
            window.taking.set_result(None)
            window.taking = None

    def _drop_ended(self, now: float) -> None:
        # Keys seen once would otherwise stay forever; ended windows are rebuilt from Redis on the next hit.
        if len(self._windows) > 1024:
            self._windows = {k: w for k, w in self._windows.items() if w.ends > now or w.taking is not None}
