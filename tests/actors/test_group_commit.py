"""`GroupCommit`, the batching every hop of the runtime and the gateway relies on (plain asyncio, no Ray):
requests that arrive while a group is in hand form the next group, answers go back in request order, a failed
group's error reaches each of its requests and the next group is handled anyway."""

from __future__ import annotations

import asyncio

import pytest

from actors.batching import GroupCommit


class Doubler:
    """Doubles each request; holds every group until `release` is set, so a test decides who arrives when."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.groups: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_on = fail_on

    async def __call__(self, group: list[int]) -> list[int]:
        self.groups.append(group)
        await self.release.wait()
        if self.fail_on in group:
            raise RuntimeError(f"group with {self.fail_on} failed")
        return [2 * n for n in group]


def test_requests_that_arrive_during_a_group_form_the_next_group_and_get_their_own_answers() -> None:
    async def scenario() -> None:
        handle = Doubler()
        commit = GroupCommit(handle)
        first = asyncio.ensure_future(commit.submit(1))
        await asyncio.sleep(0)  # the first group (of one) is in hand
        later = [asyncio.ensure_future(commit.submit(n)) for n in (2, 3, 4)]
        many = asyncio.ensure_future(commit.submit_many([5, 6]))
        await asyncio.sleep(0)
        handle.release.set()
        assert await first == 2
        assert [await f for f in later] == [4, 6, 8]
        assert await many == [10, 12]
        assert handle.groups == [[1], [2, 3, 4, 5, 6]]
        assert (commit.groups, commit.requests, commit.waited) == (2, 6, 5)

    asyncio.run(scenario())


def test_a_failed_group_fails_each_of_its_requests_and_the_next_group_still_runs() -> None:
    async def scenario() -> None:
        handle = Doubler(fail_on=2)
        commit = GroupCommit(handle)
        first = asyncio.ensure_future(commit.submit_many([1, 2]))
        await asyncio.sleep(0)
        single = asyncio.ensure_future(commit.submit(7))
        handle.release.set()
        answers = await first
        assert all(isinstance(a, RuntimeError) and "group with 2" in str(a) for a in answers) and len(answers) == 2
        assert await single == 14
        with pytest.raises(RuntimeError, match="group with 2"):
            await commit.submit(2)

    asyncio.run(scenario())


def test_submit_many_of_nothing_answers_nothing() -> None:
    async def scenario() -> None:
        handle = Doubler()
        handle.release.set()
        commit = GroupCommit(handle)
        assert await commit.submit_many([]) == []
        assert await commit.submit_many([3]) == [6]

    asyncio.run(scenario())


class Slow:
    """Doubles each request; each group is in hand for `hold_s` (the remote call)."""

    def __init__(self, hold_s: float) -> None:
        self.groups: list[list[int]] = []
        self.hold_s = hold_s

    async def __call__(self, group: list[int]) -> list[int]:
        self.groups.append(group)
        await asyncio.sleep(self.hold_s)
        return [2 * n for n in group]


def test_balanced_groups_wait_for_half_of_the_last_group_then_go_together() -> None:
    """After a group of 8 the next leaves once 4 requests are queued, not with the first one: under load the
    groups alternate at about half the clients each instead of one big group and a tiny one."""

    async def scenario() -> None:
        handle = Slow(hold_s=0.5)
        commit = GroupCommit(handle, balance=True)
        assert await commit.submit_many(list(range(8))) == [2 * n for n in range(8)]
        first = asyncio.ensure_future(commit.submit(10))
        for _ in range(3):
            await asyncio.sleep(0)  # the group waits: one request is not half of eight
        assert handle.groups[1:] == [] and commit.held == 1
        rest = asyncio.ensure_future(commit.submit_many([11, 12, 13]))
        assert await first == 20 and await rest == [22, 24, 26]
        assert handle.groups[1:] == [[10, 11, 12, 13]]

    asyncio.run(scenario())


def test_balanced_groups_wait_no_longer_than_the_last_group_took_and_not_at_all_once_the_load_is_gone() -> None:
    async def scenario() -> None:
        handle = Slow(hold_s=0.05)
        commit = GroupCommit(handle, balance=True)
        await commit.submit_many(list(range(8)))
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await commit.submit(10) == 20  # alone: waits for company at most 0.05 s, then goes
        assert commit.held == 1 and handle.groups[1] == [10] and loop.time() - started < 1.0
        await commit.submit_many(list(range(8)))
        await asyncio.sleep(0.2)  # longer than that group took: the load is gone
        assert await commit.submit(11) == 22
        assert commit.held == 1 and handle.groups[3] == [11]
        plain = GroupCommit(Slow(hold_s=0.05))  # without `balance` a group never waits
        await plain.submit_many(list(range(8)))
        assert await plain.submit(1) == 2 and plain.held == 0

    asyncio.run(scenario())
