"""Per-key rate limits taken from Redis in blocks: never more than the limit per window in total, however many
replicas ask, and 429 answers carry the time until the window ends."""

from __future__ import annotations

import asyncio
import time

from serve_apps.ratelimit import RateLimiter


class FakeRedis:
    """The TAKE_LUA script's semantics: one counter per key and fixed window, counting takes."""

    def __init__(self) -> None:
        self.counters: dict[str, tuple[int, float]] = {}  # key -> (count, window end)
        self.calls = 0

    async def take(self, key: str, hits: int, window_ms: int) -> tuple[int, int]:
        self.calls += 1
        await asyncio.sleep(0.001)
        now = time.monotonic()
        count, ends = self.counters.get(key, (0, 0.0))
        if now >= ends:
            count, ends = 0, now + window_ms / 1000
        self.counters[key] = (count + hits, ends)
        return count + hits, max(1, round((ends - now) * 1000))


def test_two_replicas_never_allow_more_than_the_limit_together() -> None:
    async def scenario() -> tuple[int, list[float], int]:
        redis = FakeRedis()
        replicas = [RateLimiter(redis.take, limit=40, window_s=5.0) for _ in range(2)]
        results = await asyncio.gather(*(replicas[i % 2].hit("k") for i in range(200)))
        allowed = sum(ok for ok, _ in results)
        return allowed, [wait for ok, wait in results if not ok], redis.calls

    allowed, waits, calls = asyncio.run(scenario())
    assert 40 - 2 * 3 <= allowed <= 40  # a block is 4 hits: each replica may leave at most 3 unspent
    assert waits and all(0 < w <= 5.0 for w in waits)
    assert calls < 40  # taken in blocks, and an exhausted window is answered without Redis


def test_high_limits_take_blocks_and_keys_are_separate() -> None:
    async def scenario() -> tuple[int, int, bool]:
        redis = FakeRedis()
        limiter = RateLimiter(redis.take, limit=100_000, window_s=1.0)
        results = await asyncio.gather(*(limiter.hit("a") for _ in range(640)))
        other, _ = await limiter.hit("b")
        return sum(ok for ok, _ in results), redis.calls, other

    allowed, calls, other = asyncio.run(scenario())
    assert allowed == 640
    assert calls == 640 // 64 + 1
    assert other


def test_a_new_window_allows_again() -> None:
    async def scenario() -> list[bool]:
        limiter = RateLimiter(FakeRedis().take, limit=3, window_s=0.05)
        first = [(await limiter.hit("k"))[0] for _ in range(4)]
        await asyncio.sleep(0.06)
        return [*first, (await limiter.hit("k"))[0]]

    assert asyncio.run(scenario()) == [True, True, True, False, True]
