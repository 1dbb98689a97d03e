"""What the actors share for durable state and for surviving each other's restarts.

`ActorStorage` opens one actor's connections (a small asyncpg pool on the actor's own event loop, the event
journal, the table stores, the Redis live cache) from the URLs in the runtime spec; with no URL the actor
keeps its state in memory. `call_with_retry` re-sends a call to an actor that died and is being restarted:
every call on the runtime's paths is idempotent (client order ids, bar timestamps), so a resend is safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ray.exceptions import RayActorError

from trading.live import BufferedJournal
from trading.messages import Message
from trading.storage import (
    EventJournal,
    FillRow,
    FillStore,
    JournalEntry,
    LiveCache,
    OrderRow,
    OrderStore,
    PositionRow,
    PositionStore,
    open_pool,
)

log = logging.getLogger(__name__)

RETRY_WAIT_S = 0.1
RETRY_ATTEMPTS = 600  # a restarting actor takes seconds, not a minute


async def call_with_retry(make: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Await `make()`; while the target actor is dead or restarting, wait and call again."""
    for _ in range(RETRY_ATTEMPTS):
        try:
            return await make()
        except RayActorError:
            await asyncio.sleep(RETRY_WAIT_S)
    raise RuntimeError(f"{what}: the actor did not come back")


class EventPublisher:
    """Publishes an actor's events to a Redis channel in order, off the order path: an answer does not wait for
    the live stream. Redis pub/sub keeps nothing for absent subscribers anyway; the journal is the record, and
    a stream reader re-syncs from the REST views. A failed publish is logged and counted, never raised."""

    def __init__(self, cache: LiveCache, channel: str, stream: str) -> None:
        self.cache = cache
        self.channel = channel
        self.stream = stream
        self.dropped = 0
        self._pending: list[Message] = []
        self._task: asyncio.Task[None] | None = None

    def publish(self, events: Sequence[Message]) -> None:
        self._pending += events
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._drain())

    async def drained(self) -> None:
        """Wait until everything published so far has reached Redis (or was dropped)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.cache.publish_many(self.channel, [{"stream": self.stream, **e.to_dict()} for e in batch])
            except Exception:  # the live stream is best effort; trading goes on
                self.dropped += len(batch)
                log.exception("publishing %d events to %s failed", len(batch), self.channel)


class ActorStorage:
    """One actor's connections to PostgreSQL and Redis (either may be absent)."""

    def __init__(self, database_url: str | None, redis_url: str | None, namespace: str = "dto") -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.namespace = namespace
        self.pool: Any = None
        self.journal: EventJournal | None = None
        self.orders: OrderStore | None = None
        self.fills: FillStore | None = None
        self.positions: PositionStore | None = None
        self.cache: LiveCache | None = None

    async def open(self) -> ActorStorage:
        if self.database_url and self.pool is None:
            self.pool = await open_pool(self.database_url, min_size=1, max_size=2)
            self.journal = EventJournal(self.pool)
            self.orders = OrderStore(self.pool)
            self.fills = FillStore(self.pool)
            self.positions = PositionStore(self.pool)
        if self.redis_url and self.cache is None:
            self.cache = LiveCache.from_url(self.redis_url, namespace=self.namespace)
        return self

    async def write(
        self,
        buffer: BufferedJournal,
        orders: Sequence[OrderRow] = (),
        fills: Sequence[FillRow] = (),
        positions: Sequence[PositionRow] = (),
    ) -> None:
        """The journal entries `buffer` holds and the rows they changed, in one transaction: one commit (one
        disk flush) for a whole group of orders, where one per event and per row made the database the order
        path's bottleneck. The journal goes last: its append lock is held until the commit."""
        if self.pool is None or self.journal is None:
            return
        assert self.orders is not None and self.fills is not None and self.positions is not None
        async with buffer.flushing() as entries:
            if not (entries or orders or fills or positions):
                return
            async with self.pool.acquire() as connection, connection.transaction():
                await self.orders.upsert_many(orders, connection)
                await self.fills.add_many(fills, connection)
                await self.positions.upsert_many(positions, connection)
                await self.journal.append_many(entries, connection)

    async def read_stream(self, stream: str) -> list[JournalEntry]:
        """Every journal entry of `stream`, in order."""
        if self.journal is None:
            return []
        out: list[JournalEntry] = []
        after = 0
        while True:
            page = await self.journal.read(after_seq=after, stream=stream, limit=5000)
            out += page
            if len(page) < 5000:
                return out
            after = page[-1].seq

    async def close(self) -> None:
        if self.cache is not None:
            await self.cache.close()
            self.cache = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
