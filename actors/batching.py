"""Group commit for async actors: requests that arrive while one group is being handled form the next group.

With one remote call per group instead of one per request, a hop that costs a millisecond serves many callers
at once (strategies stepping the broker, people submitting orders through the gateway), and a quiet system
still handles each request as soon as it arrives (a group of one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")


class GroupCommit(Generic[Request, Answer]):
    """`await submit(request)` returns that request's answer from `handle(group)` (answers in request order).
    An exception from `handle` reaches every request of its group; the next group is handled anyway."""

    def __init__(self, handle: Callable[[list[Request]], Awaitable[Sequence[Answer]]]) -> None:
        self._handle = handle
        self._queue: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.groups = 0
        self.requests = 0
        self.waited = 0  # requests that arrived while a group was in hand (they went in a later group)

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
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        else:
            self.waited += len(requests)

    async def _run(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            self.groups += 1
            self.requests += len(group)
            try:
                answers = await self._handle([request for request, _ in group])
            except Exception as error:  # every caller of the group hears it (each may resend)
                for _, future in group:
                    if not future.done():  # a caller that gave up (cancelled) hears nothing
                        future.set_exception(error)
                continue
            for (_, future), answer in zip(group, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
