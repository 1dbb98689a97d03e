"""The event journal: ordered appends, idempotency keys, and a database that refuses to rewrite history."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from trading.storage import EventJournal

from .support import Run

pytestmark = pytest.mark.storage


def test_append_then_read_in_order(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    journal = EventJournal(pool)
    stream = f"orders-{uid}"
    seqs = [run(journal.append(stream, "OrderSubmitted", {"n": n})) for n in range(5)]

    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    entries = run(journal.read(after_seq=0, stream=stream))
    assert [entry.seq for entry in entries] == seqs
    assert [entry.payload for entry in entries] == [{"n": n} for n in range(5)]
    assert all(entry.kind == "OrderSubmitted" and entry.ts.tzinfo is not None for entry in entries)
    assert run(journal.last_seq(stream)) == seqs[-1]
    assert run(journal.last_seq()) >= seqs[-1]
    # a cursor: read what came after the second event, two at a time
    assert [entry.seq for entry in run(journal.read(after_seq=seqs[1], stream=stream, limit=2))] == seqs[2:4]


def test_read_all_streams_interleaved(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    journal = EventJournal(pool)
    first = run(journal.append(f"a-{uid}", "A", {}))
    run(journal.append(f"b-{uid}", "B", {}))
    run(journal.append(f"a-{uid}", "A", {}))

    kinds = [(entry.stream, entry.kind) for entry in run(journal.read(after_seq=first - 1))]
    assert kinds[:3] == [(f"a-{uid}", "A"), (f"b-{uid}", "B"), (f"a-{uid}", "A")]
    assert run(journal.last_seq(f"nothing-{uid}")) == 0


def test_same_idempotency_key_is_stored_once(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    journal = EventJournal(pool)
    stream = f"fills-{uid}"
    first = run(journal.append(stream, "Fill", {"qty": "1"}, key="trade-1"))
    again = run(journal.append(stream, "Fill", {"qty": "1"}, key="trade-1"))
    other_stream = run(journal.append(f"other-{uid}", "Fill", {}, key="trade-1"))
    no_key_1 = run(journal.append(stream, "Note", {}))
    no_key_2 = run(journal.append(stream, "Note", {}))

    assert isinstance(first, int) and again is None
    assert other_stream is not None  # keys are unique per stream only
    assert no_key_1 is not None and no_key_2 is not None  # events without a key never collide
    assert [entry.key for entry in run(journal.read(stream=stream))] == ["trade-1", None, None]


def test_concurrent_appends_commit_in_seq_order(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    journal = EventJournal(pool)
    stream = f"burst-{uid}"

    async def burst() -> list[int | None]:
        return list(await asyncio.gather(*(journal.append(stream, "Tick", {"i": i}) for i in range(30))))

    seqs = run(burst())
    entries = run(journal.read(stream=stream))
    assert sorted(seq for seq in seqs if seq is not None) == [entry.seq for entry in entries]
    assert len(entries) == 30


def test_decimal_in_payload_is_kept_exactly_as_a_string(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    journal = EventJournal(pool)
    run(journal.append(f"px-{uid}", "Price", {"price": Decimal("0.00000001"), "nested": [{"q": Decimal("2.50")}]}))
    (entry,) = run(journal.read(stream=f"px-{uid}"))
    assert entry.payload == {"price": "0.00000001", "nested": [{"q": "2.50"}]}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET kind = 'Rewritten' WHERE stream = $1",
        "DELETE FROM events WHERE stream = $1",
    ],
)
def test_update_and_delete_are_refused(pool: asyncpg.Pool, run: Run, uid: str, statement: str) -> None:
    journal = EventJournal(pool)
    stream = f"history-{uid}"
    run(journal.append(stream, "Happened", {"x": 1}))

    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        run(pool.execute(statement, stream))
    assert [entry.kind for entry in run(journal.read(stream=stream))] == ["Happened"]


def test_truncate_is_refused(pool: asyncpg.Pool, run: Run) -> None:
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        run(pool.execute("TRUNCATE events"))


def test_append_many_stores_in_order_all_or_none_and_drops_known_keys(
    pool: asyncpg.Pool, run: Run, uid: str
) -> None:
    journal = EventJournal(pool)
    stream = f"batch-{uid}"
    first = [(stream, "A", {"n": 1}, "k1"), (stream, "B", {"n": 2}, "k2"), (stream, "C", {"n": 3}, None)]
    assert run(journal.append_many(first)) == 3
    assert run(journal.append_many([(stream, "B", {"n": 2}, "k2"), (stream, "D", {"n": 4}, "k4")])) == 1
    assert run(journal.append_many([])) == 0
    entries = run(journal.read(stream=stream))
    assert [(e.kind, e.key, e.payload) for e in entries] == [
        ("A", "k1", {"n": 1}), ("B", "k2", {"n": 2}), ("C", None, {"n": 3}), ("D", "k4", {"n": 4})
    ]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    unencodable = [(stream, "E", {"n": 5}, "k5"), (stream, "F", {"bad": object()}, "k6")]
    with pytest.raises(asyncpg.DataError, match="not JSON serializable"):
        run(journal.append_many(unencodable))
    assert [e.kind for e in run(journal.read(stream=stream))] == ["A", "B", "C", "D"]  # E was rolled back too


def test_a_buffered_journal_keeps_what_a_failed_flush_did_not_write(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    from trading.live import BufferedJournal

    journal = EventJournal(pool)
    stream = f"buffered-{uid}"
    buffer = BufferedJournal()
    buffer.append(stream, "A", {"n": 1}, "a")
    buffer.append(stream, "B", {"bad": object()}, "b")
    with pytest.raises(asyncpg.DataError, match="not JSON serializable"):
        run(buffer.flush(journal))
    assert [kind for _, kind, _, _ in buffer.pending] == ["A", "B"]  # nothing lost, order kept
    buffer.pending[1] = (stream, "B", {"n": 2}, "b")
    buffer.append(stream, "C", {"n": 3}, "c")
    assert run(buffer.flush(journal)) == 3 and buffer.pending == []
    assert [e.kind for e in run(journal.read(stream=stream))] == ["A", "B", "C"]
