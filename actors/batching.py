"""Group commit for async actors: requests that arrive while one group is being handled form the next group.

With one remote call per group instead of one per request, a hop that costs a millisecond serves many callers
at once (strategies stepping the broker, people submitting orders through the gateway), and a quiet system
still handles each request as soon as it arrives (a group of one).

`balance=True` is for callers that answer many concurrent clients from one event loop (the gateway): there the
groups tend to split into one big group and a tiny one. A big group comes back; the one or two requests queued
meanwhile leave at once as the next group; the loop then spends a while answering the big group's clients and
reading their next requests, and by the time the tiny group returns they are all queued again. The two hops
then take turns instead of working at the same time. Measured at 32 clients through the gateway: groups of
about 31 and 1, one every 30-35 ms. So after a group of n the next waits, at most as long as that group took,
until n // 2 requests are queued: the groups settle at about half the clients each and alternate (measured:
groups of 16, one every 9-10 ms; 1,253 -> 1,440 orders/s and p99 41.7 -> 36.3 ms, means of 9 rounds each in
3 alternating pairs, `benchmarks.gateway`'s load). A request that finds no recent group leaves at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")


class GroupCommit(Generic[Request, Answer]):
    """`await submit(request)` returns that request's answer from `handle(group)` (answers in request order).
    An exception from `handle` reaches every request of its group; the next group is handled anyway."""

    def __init__(
        self, handle: Callable[[list[Request]], Awaitable[Sequence[Answer]]], *, balance: bool = False
    ) -> None:
        self._handle = handle
        self.balance = balance  # see the module docstring
        self._queue: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._last: tuple[int, float, float] = (0, 0.0, 0.0)  # the last group: size, seconds in hand, ended at
        self._wanted = 0
        self._filled: asyncio.Future[None] | None = None  # set once `_wanted` requests are queued
        self.groups = 0
        self.requests = 0
        self.waited = 0  # requests that arrived while a group was in hand (they went in a later group)
        self.held = 0  # groups that waited to fill (`balance`)

    async def submit(self, request: Request) -> Answer:
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._enqueue([(request, answer)])
        return await answer

    async def submit_many(self, requests: Sequence[Request]) -> list[Answer | BaseException]:
        """`submit` for several requests at once, without a task each (they join the same group): answers in
        request order, the exception in place of the answer for requests whose group failed."""
        if not requests:
            return []
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[Answer]] = [loop.create_future() for _ in requests]
        self._enqueue(list(zip(requests, answers, strict=True)))
        return await asyncio.gather(*answers, return_exceptions=True)

    def _enqueue(self, requests: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        self._queue.extend(requests)
        if self._filled is not None and len(self._queue) >= self._wanted:
            _settle(self._filled)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        else:
            self.waited += len(requests)

    async def _run(self) -> None:
        while self._queue:
            if self.balance:
                await self._fill()
            group, self._queue = self._queue, []
            self.groups += 1
            self.requests += len(group)
            started = time.monotonic()
            try:
                answers = await self._handle([request for request, _ in group])
            except Exception as error:  # every caller of the group hears it (each may resend)
                for _, future in group:
                    if not future.done():  # a caller that gave up (cancelled) hears nothing
                        future.set_exception(error)
                continue
            finally:
                ended = time.monotonic()
                self._last = (len(group), ended - started, ended)
            for (_, future), answer in zip(group, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def _fill(self) -> None:
        """Wait until half as many requests as the last group had are queued, at most as long as it was in hand
        (and not at all once that long has passed since it ended: the load is gone, a request leaves at once)."""
        size, took, ended = self._last
        wait = took - (time.monotonic() - ended)
        if size < 4 or len(self._queue) >= size // 2 or wait <= 0:
            return
        self.held += 1
        loop = asyncio.get_running_loop()
        self._wanted, self._filled = size // 2, loop.create_future()
        timer = loop.call_later(wait, _settle, self._filled)
        try:
            await self._filled
        finally:
            timer.cancel()
            self._filled = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
