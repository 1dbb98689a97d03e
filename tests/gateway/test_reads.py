"""Coalesced reads: identical concurrent reads share one call, and no request gets an answer computed before
it arrived."""

from __future__ import annotations

import asyncio

import pytest

from serve_apps.reads import ReadCoalescer


class Counter:
    """A read whose answer is the number of calls started so far; each call takes `delay_s`."""

    def __init__(self, delay_s: float = 0.02) -> None:
        self.calls = 0
        self.delay_s = delay_s

    async def read(self) -> int:
        self.calls += 1
        started = self.calls
        await asyncio.sleep(self.delay_s)
        return started


def test_concurrent_identical_reads_share_one_call() -> None:
    async def scenario() -> tuple[list[int], int]:
        reads, counter = ReadCoalescer(), Counter()
        answers = await asyncio.gather(*(reads.read("positions", counter.read) for _ in range(32)))
        return answers, counter.calls

    answers, calls = asyncio.run(scenario())
    assert answers == [1] * 32
    assert calls == 1


def test_a_read_arriving_during_a_call_waits_for_the_next_one() -> None:
    async def scenario() -> tuple[int, int, int]:
        reads, counter = ReadCoalescer(), Counter(delay_s=0.05)
        first = asyncio.create_task(reads.read("k", counter.read))
        await asyncio.sleep(0.01)  # the first call is in flight: the state it reads may predate this request
        late = [asyncio.create_task(reads.read("k", counter.read)) for _ in range(5)]
        answers = await asyncio.gather(first, *late)
        assert len(set(answers[1:])) == 1
        return answers[0], answers[1], counter.calls

    first, late, calls = asyncio.run(scenario())
    assert (first, late, calls) == (1, 2, 2)


def test_different_keys_do_not_share_and_errors_reach_every_waiter() -> None:
    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("actor down")

    async def scenario() -> None:
        reads, counter = ReadCoalescer(), Counter()
        a, b = await asyncio.gather(reads.read("a", counter.read), reads.read("b", counter.read))
        assert counter.calls == 2 and {a, b} == {1, 2}
        results = await asyncio.gather(*(reads.read("x", failing) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await reads.read("x", counter.read) == 3  # a failed round leaves nothing behind

    asyncio.run(scenario())


def test_a_waiter_that_gives_up_does_not_cancel_the_others() -> None:
    async def scenario() -> int:
        reads, counter = ReadCoalescer(), Counter(delay_s=0.05)
        quitter = asyncio.create_task(reads.read("k", counter.read))
        stayer = asyncio.create_task(reads.read("k", counter.read))
        await asyncio.sleep(0.01)
        quitter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        return await stayer

    assert asyncio.run(scenario()) == 1
