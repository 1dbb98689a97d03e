"""The journal interface the order manager writes to, an in-memory journal, and a buffer for async journals.

The order manager is synchronous and pure; the real `trading.storage.EventJournal` is async (PostgreSQL).
`BufferedJournal` bridges the two: the manager appends to it synchronously and the hosting actor flushes the
buffer to the real journal (`await buffered.flush(event_journal)`) before it answers. Keys make appends
idempotent: an entry whose (stream, key) is already stored is dropped by both journals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from trading.storage.journal import NewEntry as Entry  # (stream, kind, payload, key)


class JournalEntryLike(Protocol):
    """What `OrderManager.rebuild` reads: `trading.storage.JournalEntry` and `JournalRecord` both fit."""

    @property
    def stream(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def key(self) -> str | None: ...

    @property
    def payload(self) -> dict[str, Any]: ...


class Journal(Protocol):
    def append(self, stream: str, kind: str, payload: dict[str, Any], key: str | None = None) -> object: ...


class AsyncJournal(Protocol):
    async def append(self, stream: str, kind: str, payload: dict[str, Any], key: str | None = None) -> int | None: ...

    async def append_many(self, entries: Sequence[Entry]) -> int: ...


@dataclass(frozen=True, slots=True)
class JournalRecord:
    seq: int
    stream: str
    kind: str
    key: str | None
    payload: dict[str, Any]
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


class InMemoryJournal:
    """An append-only journal in a list; idempotent by (stream, key) like the PostgreSQL one."""

    def __init__(self) -> None:
        self.entries: list[JournalRecord] = []
        self._keys: set[tuple[str, str]] = set()

    def append(self, stream: str, kind: str, payload: dict[str, Any], key: str | None = None) -> int | None:
        if key is not None:
            if (stream, key) in self._keys:
                return None
            self._keys.add((stream, key))
        record = JournalRecord(len(self.entries) + 1, stream, kind, key, payload)
        self.entries.append(record)
        return record.seq

    def read(self, stream: str | None = None) -> list[JournalRecord]:
        return [e for e in self.entries if stream is None or e.stream == stream]

    def extend(self, entries: Iterable[JournalEntryLike]) -> None:
        for entry in entries:
            self.append(entry.stream, entry.kind, entry.payload, entry.key)


class BufferedJournal:
    """Collects appends synchronously; `flush` writes them, in order, to an async journal."""

    def __init__(self) -> None:
        self.pending: list[Entry] = []
        self._writing = asyncio.Lock()

    def append(self, stream: str, kind: str, payload: dict[str, Any], key: str | None = None) -> None:
        self.pending.append((stream, kind, payload, key))

    @asynccontextmanager
    async def flushing(self) -> AsyncIterator[list[Entry]]:
        """The pending entries, taken out to be written (say, in a transaction with other writes): they go back
        in front, in order, if the block raises. One writer at a time, so entries land in the order appended."""
        async with self._writing:
            batch, self.pending = self.pending, []
            try:
                yield batch
            except BaseException:
                self.pending[:0] = batch
                raise

    async def flush(self, journal: AsyncJournal) -> int:
        """Write everything pending in one call; returns how many entries were new (duplicates by key are
        dropped)."""
        async with self.flushing() as batch:
            return await journal.append_many(batch) if batch else 0
