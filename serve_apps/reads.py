"""Coalesced reads: concurrent identical read calls to an actor share one call.

An actor answers one call at a time, so 32 clients asking for the same view at once would queue 32 identical
calls behind each other. Here they share rounds instead: a request never gets an answer computed before it
arrived. Requests arriving while a round is in flight wait for it to end and share the next round, which
starts after all of them arrived. The answers are as fresh as with one call per request; there is no cache.
The requests of a round share one answer object: read it, never change it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Slot:
    next_round: asyncio.Future[Any] | None = None  # the round new requests join (not started yet)
    driver: asyncio.Task[None] | None = None  # runs rounds while requests keep joining


class ReadCoalescer:
    """Shares rounds of a read per key (the key names the actor, method and arguments)."""

    def __init__(self) -> None:
        self._slots: dict[Hashable, _Slot] = {}

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        slot = self._slots.setdefault(key, _Slot())
        if slot.next_round is None:
            slot.next_round = asyncio.get_running_loop().create_future()
        joined = slot.next_round
        if slot.driver is None:
            slot.driver = asyncio.create_task(self._drive(key, slot, fetch))
        # shield: one waiter giving up (a client disconnecting) must not cancel the others' round
        return await asyncio.shield(joined)

    async def _drive(self, key: Hashable, slot: _Slot, fetch: Callable[[], Awaitable[Any]]) -> None:
        try:
            while slot.next_round is not None:
                current, slot.next_round = slot.next_round, None  # later arrivals form the next round
                try:
                    current.set_result(await fetch())
                except Exception as exc:  # every waiter of this round gets the same error
                    current.set_exception(exc)
                    current.exception()  # marked retrieved: a round whose waiters all left logs nothing
                except BaseException:  # cancelled (shutdown): release the waiters, then stop
                    current.cancel()
                    raise
        finally:
            slot.driver = None
            if slot.next_round is None:
                self._slots.pop(key, None)
