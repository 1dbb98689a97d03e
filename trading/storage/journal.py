"""The event journal: an append-only, totally ordered log in the `events` table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

# Any constant works; it only has to differ from the other advisory locks of this database.
_APPEND_LOCK_ID = 0x64746F6A  # "dtoj"
_INSERT = """
    INSERT INTO events (stream, kind, key, payload) VALUES ($1, $2, $3, $4)
    ON CONFLICT ON CONSTRAINT events_stream_key DO NOTHING
"""

NewEntry = tuple[str, str, dict[str, Any], str | None]  # (stream, kind, payload, key), as `append` takes them


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One stored event. `seq` grows strictly with commit order, so `read(after_seq=...)` never skips one."""

    seq: int
    ts: datetime
    stream: str
    kind: str
    key: str | None
    payload: dict[str, Any] = field(default_factory=dict)


class EventJournal:
    """Append and read events. The database refuses UPDATE, DELETE and TRUNCATE on them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(self, stream: str, kind: str, payload: dict[str, Any], key: str | None = None) -> int | None:
        """Store an event; returns its seq, or None when `key` was already stored in this stream."""
        async with self._pool.acquire() as connection, connection.transaction():
            # A BIGSERIAL value is drawn at insert but becomes visible at commit: two concurrent appends
            # could commit out of order, and a reader following `after_seq` would skip the slower one.
            # One appender at a time (per database) keeps seq order equal to commit order.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK_ID)
            seq: int | None = await connection.fetchval(_INSERT + " RETURNING seq", stream, kind, key, payload)
        return seq

    async def append_many(self, entries: Sequence[NewEntry], connection: asyncpg.Connection | None = None) -> int:
        """Store `entries` in order, all or none, in one transaction (one commit instead of one per event);
        returns how many were new (an entry whose key its stream already holds is dropped). With `connection`,
        inside that connection's open transaction (other writes commit with the entries): call it last there,
        since the append lock is held until that transaction ends."""
        if not entries:
            return 0
        if connection is None:
            async with self._pool.acquire() as own, own.transaction():
                return await self._append_many(own, entries)
        return await self._append_many(connection, entries)

    @staticmethod
    async def _append_many(connection: asyncpg.Connection, entries: Sequence[NewEntry]) -> int:
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK_ID)  # see `append`
        before = await connection.fetchval("SELECT coalesce(max(seq), 0) FROM events")
        await connection.executemany(_INSERT, [(stream, kind, key, payload) for stream, kind, payload, key in entries])
        written: int = await connection.fetchval("SELECT count(*) FROM events WHERE seq > $1", before)
        return written

    async def read(self, after_seq: int = 0, stream: str | None = None, limit: int = 1000) -> list[JournalEntry]:
        """Events with seq > `after_seq` in seq order, optionally of one stream, at most `limit`."""
        if stream is None:
            rows = await self._pool.fetch("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", after_seq, limit)
        else:
            rows = await self._pool.fetch(
                "SELECT * FROM events WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                stream,
                after_seq,
                limit,
            )
        return [JournalEntry(**dict(row)) for row in rows]

    async def last_seq(self, stream: str | None = None) -> int:
        """The highest stored seq (of `stream` if given); 0 when there is none."""
        if stream is None:
            value = await self._pool.fetchval("SELECT max(seq) FROM events")
        else:
            value = await self._pool.fetchval("SELECT max(seq) FROM events WHERE stream = $1", stream)
        return int(value or 0)
