"""Repositories against the real database: idempotent writes, exact Decimals, hashes only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from trading.errors import InvalidValue
from trading.storage import (
    AccountRow,
    AccountStore,
    ApiKeyStore,
    CredentialStore,
    FillRow,
    FillStore,
    OrderRow,
    OrderStore,
    PositionRow,
    PositionStore,
    StorageError,
    StrategyRow,
    StrategyStore,
    ping,
)

from .support import Run

pytestmark = pytest.mark.storage

TINY = Decimal("0.00000001")
HUGE = Decimal("12345678901.23456789")


def order(uid: str, n: int = 1, **changes: object) -> OrderRow:
    values: dict[str, object] = {
        "client_order_id": f"O-{uid}-{n}",
        "strategy_id": f"S-{uid}",
        "instrument_id": "AAPL.ALPACA",
        "broker": "alpaca",
        "side": "buy",
        "order_type": "limit",
        "quantity": Decimal(10),
        "limit_price": Decimal("187.25"),
        "status": "submitted",
        "data": {"tif": "day"},
    }
    values.update(changes)
    return OrderRow(**values)  # type: ignore[arg-type]


def test_ping(pool: asyncpg.Pool, run: Run) -> None:
    assert run(ping(pool)) is True


def test_order_upsert_twice_is_one_row_with_the_new_state(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    orders = OrderStore(pool)
    first = run(orders.upsert(order(uid)))
    run(orders.upsert(order(uid)))  # a replay changes nothing
    filled = run(
        orders.upsert(
            order(
                uid, status="partially_filled", filled_qty=Decimal(4), avg_price=Decimal("187.2"), venue_order_id="V1"
            )
        )
    )
    later = run(orders.upsert(order(uid, status="filled", filled_qty=Decimal(10), avg_price=Decimal("187.21"))))

    assert len(run(orders.list(strategy_id=f"S-{uid}"))) == 1
    assert filled.status == "partially_filled" and filled.venue_order_id == "V1"
    assert later.status == "filled" and later.filled_qty == Decimal(10) and later.avg_price == Decimal("187.21")
    assert later.venue_order_id == "V1"  # a later update without the venue id keeps the known one
    assert later.created_at == first.created_at and later.updated_at is not None
    assert later.updated_at >= first.updated_at
    assert run(orders.get(f"O-{uid}-1")) == later
    assert run(orders.get(f"missing-{uid}")) is None


def test_client_order_id_reused_for_another_order_is_refused(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    orders = OrderStore(pool)
    run(orders.upsert(order(uid)))
    with pytest.raises(StorageError, match="another order"):
        run(orders.upsert(order(uid, instrument_id="MSFT.ALPACA")))
    assert run(orders.get(f"O-{uid}-1")).instrument_id == "AAPL.ALPACA"


def test_order_lists_and_open_orders(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    orders = OrderStore(pool)
    run(orders.upsert(order(uid, 1, status="accepted")))
    run(orders.upsert(order(uid, 2, status="filled", filled_qty=Decimal(10))))
    run(orders.upsert(order(uid, 3, status="partially_filled", instrument_id="MSFT.ALPACA", filled_qty=Decimal(1))))
    run(orders.upsert(order(uid, 4, status="initialized")))

    mine = run(orders.list(strategy_id=f"S-{uid}"))
    assert [o.client_order_id for o in mine] == [f"O-{uid}-{n}" for n in (1, 2, 3, 4)]
    assert [o.client_order_id for o in run(orders.list(status="filled", strategy_id=f"S-{uid}"))] == [f"O-{uid}-2"]
    msft = run(orders.list(strategy_id=f"S-{uid}", instrument_id="MSFT.ALPACA"))
    assert [o.client_order_id for o in msft] == [f"O-{uid}-3"]
    assert len(run(orders.list(strategy_id=f"S-{uid}", limit=2))) == 2
    open_ids = {o.client_order_id for o in run(orders.open_orders()) if o.strategy_id == f"S-{uid}"}
    assert open_ids == {f"O-{uid}-1", f"O-{uid}-3"}


def test_numeric_round_trips_exactly_as_decimal(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    orders = OrderStore(pool)
    stored = run(orders.upsert(order(uid, quantity=HUGE, limit_price=TINY, stop_price=Decimal("1.50"))))
    read = run(orders.get(f"O-{uid}-1"))
    for row in (stored, read):
        assert row.quantity == HUGE and str(row.quantity) == "12345678901.23456789"
        assert row.limit_price == TINY and isinstance(row.limit_price, Decimal)
        assert str(row.stop_price) == "1.50"  # the scale survives too


def test_floats_are_refused_for_money(uid: str) -> None:
    with pytest.raises(InvalidValue, match="quantity must be a Decimal"):
        order(uid, quantity=0.1)
    with pytest.raises(InvalidValue, match="timezone-aware"):
        FillRow("f", "o", "X.Y", "buy", Decimal(1), Decimal(1), Decimal(0), "USD", datetime(2024, 1, 1))


def test_fills_dedupe_by_fill_id(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    fills = FillStore(pool)
    t0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    fill = FillRow(f"T-{uid}-1", f"O-{uid}", "BTC/USDT.BINANCE", "sell", TINY, HUGE, Decimal("0.0001"), "USDT", t0)
    second = FillRow(
        f"T-{uid}-2",
        f"O-{uid}",
        "BTC/USDT.BINANCE",
        "sell",
        Decimal(2),
        Decimal(3),
        Decimal(0),
        "USDT",
        t0 + timedelta(seconds=5),
        {"liquidity": "maker"},
    )

    assert run(fills.add(fill)) is True
    assert run(fills.add(fill)) is False  # the venue replayed the execution report
    assert run(fills.add(second)) is True

    assert run(fills.list(client_order_id=f"O-{uid}")) == [fill, second]
    assert run(fills.list(since=t0 + timedelta(seconds=1), client_order_id=f"O-{uid}")) == [second]
    assert run(fills.list(since=t0, client_order_id=f"O-{uid}"))[0].quantity == TINY


def test_positions_round_trip(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    positions = PositionStore(pool)
    account = f"A-{uid}"
    run(positions.upsert(PositionRow(account, "MSFT.ALPACA", Decimal(-5), Decimal("410.10"))))
    run(positions.upsert(PositionRow(account, "AAPL.ALPACA", Decimal(3), Decimal("187.5"), data={"note": "x"})))
    updated = run(positions.upsert(PositionRow(account, "AAPL.ALPACA", Decimal(0), Decimal(0), realized_pnl=HUGE)))

    listed = run(positions.list(account))
    assert [(p.instrument_id, p.quantity) for p in listed] == [("AAPL.ALPACA", 0), ("MSFT.ALPACA", -5)]
    assert listed[0] == updated and updated.realized_pnl == HUGE and updated.data == {}
    assert listed[1].avg_price == Decimal("410.10") and listed[1].updated_at is not None
    assert run(positions.get(account, "MSFT.ALPACA")) == listed[1]
    assert run(positions.list(f"other-{uid}")) == []


def test_accounts_round_trip(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    accounts = AccountStore(pool)
    run(accounts.upsert(AccountRow(f"A-{uid}", f"broker-{uid}", "USD", Decimal("100000.00"))))
    stored = run(accounts.upsert(AccountRow(f"A-{uid}", f"broker-{uid}", "USD", TINY, {"buying_power": HUGE})))

    assert run(accounts.get(f"A-{uid}")) == stored
    assert stored.cash == TINY and stored.data == {"buying_power": str(HUGE)}
    assert run(accounts.list(broker=f"broker-{uid}")) == [stored]
    assert run(accounts.get(f"missing-{uid}")) is None


def test_strategies_round_trip(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    strategies = StrategyStore(pool)
    row = StrategyRow(f"S-{uid}", "strategies.sma:SmaCross", "stopped", {"fast": 10, "slow": 30, "qty": "1.5"})
    stored = run(strategies.upsert(row))
    assert run(strategies.set_state(f"S-{uid}", "running")) is True
    assert run(strategies.set_state(f"missing-{uid}", "running")) is False

    read = run(strategies.get(f"S-{uid}"))
    assert read.state == "running" and read.config == stored.config == row.config
    assert read in run(strategies.list(state="running"))


def test_api_keys_store_only_the_hash_and_revoke(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    keys = ApiKeyStore(pool)
    secret = f"dto_{uid}_s3cr3t-value"
    prefix = f"dto_{uid}"
    key_hash = "sha256:" + "ab" * 32  # the caller hashes; here any stand-in that isn't the key

    created = run(keys.create(prefix, key_hash, ["read", "trade"], user=f"alice-{uid}"))
    assert created.active and created.scopes == ("read", "trade") and created.user_name == f"alice-{uid}"
    raw = run(pool.fetchval("SELECT row_to_json(k)::text FROM api_keys k WHERE key_id = $1", created.key_id))
    assert secret not in raw and key_hash in raw

    found = run(keys.find_by_prefix(prefix))
    assert found == created and run(keys.find_by_prefix(f"nope-{uid}")) is None
    run(keys.touch(created.key_id))
    assert run(keys.find_by_prefix(prefix)).last_used_at is not None

    assert run(keys.revoke(created.key_id)) is True
    assert run(keys.revoke(created.key_id)) is False
    revoked = run(keys.find_by_prefix(prefix))
    assert not revoked.active and revoked.revoked_at is not None
    assert created.key_id not in {k.key_id for k in run(keys.list(include_revoked=False))}
    assert created.key_id in {k.key_id for k in run(keys.list())}

    # a second key for the same user reuses the user; a key without a user is allowed
    other = run(keys.create(f"dto2_{uid}", key_hash, ["read"], user=f"alice-{uid}"))
    assert other.user_id == created.user_id
    assert run(keys.create(f"dto3_{uid}", key_hash, [])).user_id is None


def test_api_key_passed_instead_of_its_hash_is_refused(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    with pytest.raises(InvalidValue, match="never the key itself"):
        run(ApiKeyStore(pool).create(f"dto_{uid}", f"dto_{uid}_the-whole-key", ["read"]))


def test_duplicate_prefix_is_refused(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    keys = ApiKeyStore(pool)
    run(keys.create(f"p_{uid}", "hash-1", []))
    with pytest.raises(asyncpg.UniqueViolationError):
        run(keys.create(f"p_{uid}", "hash-2", []))


def test_credentials_are_opaque_bytes(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    credentials = CredentialStore(pool)
    broker = f"alpaca-{uid}"
    blob = bytes(range(256))
    run(credentials.put(broker, "api_secret", blob))
    run(credentials.put(broker, "api_key", b"\x00cipher"))
    run(credentials.put(broker, "api_key", b"\x01rotated"))

    assert run(credentials.get(broker, "api_secret")) == blob
    assert run(credentials.get(broker, "api_key")) == b"\x01rotated"
    assert run(credentials.names(broker)) == [(broker, "api_key"), (broker, "api_secret")]
    assert run(credentials.delete(broker, "api_key")) is True
    assert run(credentials.delete(broker, "api_key")) is False
    assert run(credentials.get(broker, "api_key")) is None


def test_many_row_writes_store_what_single_writes_store(pool: asyncpg.Pool, run: Run, uid: str) -> None:
    """`upsert_many` / `add_many` (the order manager's one-transaction writes) keep the single writes' rules:
    exact Decimals, later state wins, fills once each, an order's identity never changes."""
    orders, fills, positions = OrderStore(pool), FillStore(pool), PositionStore(pool)
    run(orders.upsert_many([order(uid, 1), order(uid, 2, quantity=HUGE)]))
    run(orders.upsert_many([order(uid, 1, status="filled", filled_qty=Decimal(10), avg_price=TINY)]))
    run(orders.upsert_many([order(uid, 2, side="sell", status="canceled")]))  # another order's id: left as it was
    stored = {row.client_order_id: row for row in run(orders.list(strategy_id=f"S-{uid}"))}
    assert (stored[f"O-{uid}-1"].status, stored[f"O-{uid}-1"].avg_price) == ("filled", TINY)
    assert (stored[f"O-{uid}-2"].status, stored[f"O-{uid}-2"].side, stored[f"O-{uid}-2"].quantity) == (
        "submitted", "buy", HUGE
    )
    t0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)
    fill = FillRow(f"T-{uid}-1", f"O-{uid}-1", "AAPL.ALPACA", "buy", Decimal(10), TINY, Decimal(0), "USD", t0)
    run(fills.add_many([fill]))
    run(fills.add_many([fill]))
    assert run(fills.list(client_order_id=f"O-{uid}-1")) == [fill]
    account = f"A-{uid}"
    run(positions.upsert_many([PositionRow(account, "AAPL.ALPACA", Decimal(10), TINY)]))
    run(positions.upsert_many([PositionRow(account, "AAPL.ALPACA", Decimal(4), TINY, realized_pnl=HUGE)]))
    (position,) = run(positions.list(account))
    assert (position.quantity, position.realized_pnl) == (4, HUGE)
