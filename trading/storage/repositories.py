"""Async repositories over the runtime's tables, with one small frozen row type each.

Quantities, prices and money are Decimal both ways (NUMERIC columns); JSON columns are `dict[str, Any]`
(a Decimal inside JSON is stored as a string). Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from trading.errors import InvalidValue
from trading.model.orders import OPEN_STATUSES
from trading.storage.errors import StorageError

_OPEN_STATUSES = sorted(status.value for status in OPEN_STATUSES)


def _require_decimal(row: object, *names: str) -> None:
    # A float slipping in (from JSON or an untyped caller) would store a binary approximation of money.
    for name in names:
        value = getattr(row, name)
        if value is not None and not isinstance(value, Decimal):
            raise InvalidValue(f"{type(row).__name__}.{name} must be a Decimal, got {type(value).__name__}")


def _require_aware(row: object, *names: str) -> None:
    for name in names:
        value = getattr(row, name)
        if value is not None and value.tzinfo is None:
            raise InvalidValue(f"{type(row).__name__}.{name} must be timezone-aware, got {value!r}")


def _where(filters: dict[str, object]) -> tuple[str, list[object]]:
    """`WHERE a = $1 AND b = $2` for the filters that are not None (column names come from our code)."""
    conditions: list[str] = []
    args: list[object] = []
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), args


# --- orders ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRow:
    """The latest known state of one order. Timestamps are filled in by the database when None."""

    client_order_id: str
    strategy_id: str
    instrument_id: str
    broker: str
    side: str
    order_type: str
    quantity: Decimal
    status: str
    filled_qty: Decimal = Decimal(0)
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    avg_price: Decimal | None = None
    venue_order_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_decimal(self, "quantity", "filled_qty", "limit_price", "stop_price", "avg_price")
        _require_aware(self, "created_at", "updated_at")


_ORDER_UPSERT = """
    INSERT INTO orders (client_order_id, strategy_id, instrument_id, broker, side, order_type,
                        quantity, limit_price, stop_price, status, filled_qty, avg_price,
                        venue_order_id, data, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, COALESCE($15, now()))
    ON CONFLICT (client_order_id) DO UPDATE SET
        order_type = EXCLUDED.order_type,
        quantity = EXCLUDED.quantity,
        limit_price = EXCLUDED.limit_price,
        stop_price = EXCLUDED.stop_price,
        status = EXCLUDED.status,
        filled_qty = EXCLUDED.filled_qty,
        avg_price = EXCLUDED.avg_price,
        venue_order_id = COALESCE(EXCLUDED.venue_order_id, orders.venue_order_id),
        data = EXCLUDED.data,
        updated_at = now()
    WHERE orders.strategy_id = EXCLUDED.strategy_id
      AND orders.instrument_id = EXCLUDED.instrument_id
      AND orders.broker = EXCLUDED.broker
      AND orders.side = EXCLUDED.side
"""


def _order_args(row: OrderRow) -> tuple[object, ...]:
    return (
        row.client_order_id,
        row.strategy_id,
        row.instrument_id,
        row.broker,
        row.side,
        row.order_type,
        row.quantity,
        row.limit_price,
        row.stop_price,
        row.status,
        row.filled_qty,
        row.avg_price,
        row.venue_order_id,
        row.data,
        row.created_at,
    )


class OrderStore:
    """Orders by client order id; `upsert` is idempotent, so replaying an order's events is harmless."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, row: OrderRow) -> OrderRow:
        """Insert or update the order; returns the stored row. The order's identity (strategy, instrument,
        broker, side) can't change: a client order id reused for another order raises `StorageError`."""
        record = await self._pool.fetchrow(_ORDER_UPSERT + " RETURNING *", *_order_args(row))
        if record is None:
            raise StorageError(f"client order id {row.client_order_id!r} already belongs to another order")
        return OrderRow(**dict(record))

    async def upsert_many(self, rows: Sequence[OrderRow], connection: asyncpg.Connection | None = None) -> None:
        """`upsert` for several orders in one round trip (on `connection`, in its transaction, if given). A row
        whose client order id belongs to another order is left as it is, silently: this is for the order
        manager, which never reuses an id."""
        if rows:
            await (connection or self._pool).executemany(_ORDER_UPSERT, [_order_args(row) for row in rows])

    async def get(self, client_order_id: str) -> OrderRow | None:
        """The order, or None."""
        record = await self._pool.fetchrow("SELECT * FROM orders WHERE client_order_id = $1", client_order_id)
        return None if record is None else OrderRow(**dict(record))

    async def open_orders(self) -> list[OrderRow]:
        """Orders that may still fill at a venue (submitted, accepted, partially filled...), oldest first."""
        rows = await self._pool.fetch(
            "SELECT * FROM orders WHERE status = ANY($1::text[]) ORDER BY created_at, client_order_id",
            _OPEN_STATUSES,
        )
        return [OrderRow(**dict(row)) for row in rows]

    # `list` comes last: below it, `list[...]` in this class body would name the method.
    async def list(
        self,
        status: str | None = None,
        strategy_id: str | None = None,
        instrument_id: str | None = None,
        limit: int = 1000,
    ) -> list[OrderRow]:
        """Orders matching every given filter, oldest first."""
        where, args = _where({"status": status, "strategy_id": strategy_id, "instrument_id": instrument_id})
        rows = await self._pool.fetch(
            f"SELECT * FROM orders{where} ORDER BY created_at, client_order_id LIMIT ${len(args) + 1}",
            *args,
            limit,
        )
        return [OrderRow(**dict(row)) for row in rows]


# --- fills ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FillRow:
    """One venue trade. `fill_id` is the venue's trade id (unique per venue), so replays dedupe."""

    fill_id: str
    client_order_id: str
    instrument_id: str
    side: str
    quantity: Decimal
    price: Decimal
    commission: Decimal
    currency: str
    ts: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_decimal(self, "quantity", "price", "commission")
        _require_aware(self, "ts")


_FILL_INSERT = """
    INSERT INTO fills (fill_id, client_order_id, instrument_id, side, quantity, price, commission,
                       currency, ts, data)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (fill_id) DO NOTHING
"""


def _fill_args(row: FillRow) -> tuple[object, ...]:
    return (
        row.fill_id,
        row.client_order_id,
        row.instrument_id,
        row.side,
        row.quantity,
        row.price,
        row.commission,
        row.currency,
        row.ts,
        row.data,
    )


class FillStore:
    """Fills, stored once each."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, row: FillRow) -> bool:
        """Store the fill; False if a fill with this `fill_id` is already stored (nothing changes)."""
        stored = await self._pool.fetchval(_FILL_INSERT + " RETURNING fill_id", *_fill_args(row))
        return stored is not None

    async def add_many(self, rows: Sequence[FillRow], connection: asyncpg.Connection | None = None) -> None:
        """`add` for several fills in one round trip (on `connection`, in its transaction, if given)."""
        if rows:
            await (connection or self._pool).executemany(_FILL_INSERT, [_fill_args(row) for row in rows])

    async def list(
        self, since: datetime | None = None, client_order_id: str | None = None, limit: int = 10_000
    ) -> list[FillRow]:
        """Fills at or after `since` (inclusive), optionally of one order, oldest first."""
        rows = await self._pool.fetch(
            """
            SELECT * FROM fills
            WHERE ($1::timestamptz IS NULL OR ts >= $1) AND ($2::text IS NULL OR client_order_id = $2)
            ORDER BY ts, fill_id
            LIMIT $3
            """,
            since,
            client_order_id,
            limit,
        )
        return [FillRow(**dict(row)) for row in rows]


# --- positions and accounts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionRow:
    """The position of one account in one instrument; quantity is signed (negative: short)."""

    account_id: str
    instrument_id: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal = Decimal(0)
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_decimal(self, "quantity", "avg_price", "realized_pnl")


_POSITION_UPSERT = """
    INSERT INTO positions (account_id, instrument_id, quantity, avg_price, realized_pnl, data)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (account_id, instrument_id) DO UPDATE SET
        quantity = EXCLUDED.quantity,
        avg_price = EXCLUDED.avg_price,
        realized_pnl = EXCLUDED.realized_pnl,
        data = EXCLUDED.data,
        updated_at = now()
"""


def _position_args(row: PositionRow) -> tuple[object, ...]:
    return (row.account_id, row.instrument_id, row.quantity, row.avg_price, row.realized_pnl, row.data)


class PositionStore:
    """Positions by (account, instrument). A flat position stays as a row with quantity 0."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, row: PositionRow) -> PositionRow:
        """Insert or replace the position; returns the stored row."""
        record = await self._pool.fetchrow(_POSITION_UPSERT + " RETURNING *", *_position_args(row))
        return PositionRow(**dict(record))

    async def upsert_many(self, rows: Sequence[PositionRow], connection: asyncpg.Connection | None = None) -> None:
        """`upsert` for several positions in one round trip (on `connection`, in its transaction, if given)."""
        if rows:
            await (connection or self._pool).executemany(_POSITION_UPSERT, [_position_args(row) for row in rows])

    async def get(self, account_id: str, instrument_id: str) -> PositionRow | None:
        """The position, or None."""
        record = await self._pool.fetchrow(
            "SELECT * FROM positions WHERE account_id = $1 AND instrument_id = $2", account_id, instrument_id
        )
        return None if record is None else PositionRow(**dict(record))

    async def list(self, account_id: str) -> list[PositionRow]:
        """All positions of the account, by instrument."""
        rows = await self._pool.fetch(
            "SELECT * FROM positions WHERE account_id = $1 ORDER BY instrument_id", account_id
        )
        return [PositionRow(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class AccountRow:
    """A broker account's balance in its base currency."""

    account_id: str
    broker: str
    currency: str
    cash: Decimal
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_decimal(self, "cash")


class AccountStore:
    """Accounts by id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, row: AccountRow) -> AccountRow:
        """Insert or replace the account; returns the stored row."""
        record = await self._pool.fetchrow(
            """
            INSERT INTO accounts (account_id, broker, currency, cash, data) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (account_id) DO UPDATE SET
                broker = EXCLUDED.broker,
                currency = EXCLUDED.currency,
                cash = EXCLUDED.cash,
                data = EXCLUDED.data,
                updated_at = now()
            RETURNING *
            """,
            row.account_id,
            row.broker,
            row.currency,
            row.cash,
            row.data,
        )
        return AccountRow(**dict(record))

    async def get(self, account_id: str) -> AccountRow | None:
        """The account, or None."""
        record = await self._pool.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)
        return None if record is None else AccountRow(**dict(record))

    async def list(self, broker: str | None = None) -> list[AccountRow]:
        """All accounts (of one broker if given), by id."""
        where, args = _where({"broker": broker})
        rows = await self._pool.fetch(f"SELECT * FROM accounts{where} ORDER BY account_id", *args)
        return [AccountRow(**dict(row)) for row in rows]


# --- strategies -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyRow:
    """A deployed strategy: what to import, its configuration and its lifecycle state."""

    strategy_id: str
    import_path: str
    state: str
    config: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


class StrategyStore:
    """Strategies by id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, row: StrategyRow) -> StrategyRow:
        """Insert or replace the strategy; returns the stored row."""
        record = await self._pool.fetchrow(
            """
            INSERT INTO strategies (strategy_id, import_path, config, state) VALUES ($1, $2, $3, $4)
            ON CONFLICT (strategy_id) DO UPDATE SET
                import_path = EXCLUDED.import_path,
                config = EXCLUDED.config,
                state = EXCLUDED.state,
                updated_at = now()
            RETURNING *
            """,
            row.strategy_id,
            row.import_path,
            row.config,
            row.state,
        )
        return StrategyRow(**dict(record))

    async def get(self, strategy_id: str) -> StrategyRow | None:
        """The strategy, or None."""
        record = await self._pool.fetchrow("SELECT * FROM strategies WHERE strategy_id = $1", strategy_id)
        return None if record is None else StrategyRow(**dict(record))

    async def list(self, state: str | None = None) -> list[StrategyRow]:
        """All strategies (in one state if given), by id."""
        where, args = _where({"state": state})
        rows = await self._pool.fetch(f"SELECT * FROM strategies{where} ORDER BY strategy_id", *args)
        return [StrategyRow(**dict(row)) for row in rows]

    async def set_state(self, strategy_id: str, state: str) -> bool:
        """Change only the state; False if there is no such strategy."""
        result: str = await self._pool.execute(
            "UPDATE strategies SET state = $2, updated_at = now() WHERE strategy_id = $1", strategy_id, state
        )
        return result != "UPDATE 0"


# --- API keys and broker credentials --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """An API key's record: the public `prefix` finds it, `key_hash` verifies it; the key itself is never
    stored."""

    key_id: str
    prefix: str
    key_hash: str
    scopes: tuple[str, ...]
    user_id: str | None
    user_name: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_API_KEY_SELECT = """
    SELECT k.key_id, k.prefix, k.key_hash, k.scopes, k.user_id, u.name AS user_name,
           k.created_at, k.revoked_at, k.last_used_at
    FROM api_keys k LEFT JOIN users u ON u.user_id = k.user_id
"""


def _api_key(record: asyncpg.Record) -> ApiKeyRow:
    values = dict(record)
    values["scopes"] = tuple(values["scopes"])
    return ApiKeyRow(**values)


class ApiKeyStore:
    """API keys, stored as a prefix plus a hash (hashing is the caller's job)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, prefix: str, key_hash: str, scopes: list[str] | tuple[str, ...], user: str | None = None
    ) -> ApiKeyRow:
        """Store a new key for the user named `user` (created if new); the prefix must be unused."""
        if not prefix or not key_hash or key_hash.startswith(prefix):
            # Keys usually start with their prefix, so this catches a key passed where its hash belongs.
            raise InvalidValue("an API key needs a prefix and a hash of the key, never the key itself")
        async with self._pool.acquire() as connection, connection.transaction():
            user_id = None
            if user is not None:
                user_id = await connection.fetchval(
                    """
                    INSERT INTO users (name) VALUES ($1)
                    ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
                    RETURNING user_id
                    """,
                    user,
                )
            key_id = await connection.fetchval(
                "INSERT INTO api_keys (user_id, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4) RETURNING key_id",
                user_id,
                prefix,
                key_hash,
                list(scopes),
            )
            record = await connection.fetchrow(_API_KEY_SELECT + " WHERE k.key_id = $1", key_id)
        return _api_key(record)

    async def find_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        """The key with this prefix (revoked ones too: check `.active`), or None."""
        record = await self._pool.fetchrow(_API_KEY_SELECT + " WHERE k.prefix = $1", prefix)
        return None if record is None else _api_key(record)

    async def get(self, key_id: str) -> ApiKeyRow | None:
        """The key with this id (revoked ones too: check `.active`), or None."""
        record = await self._pool.fetchrow(_API_KEY_SELECT + " WHERE k.key_id = $1", key_id)
        return None if record is None else _api_key(record)

    async def list(self, include_revoked: bool = True) -> list[ApiKeyRow]:
        """All keys, oldest first."""
        where = "" if include_revoked else " WHERE k.revoked_at IS NULL"
        rows = await self._pool.fetch(_API_KEY_SELECT + where + " ORDER BY k.created_at, k.key_id")
        return [_api_key(row) for row in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke the key; False if it does not exist or was already revoked."""
        result: str = await self._pool.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id
        )
        return result != "UPDATE 0"

    async def touch(self, key_id: str) -> None:
        """Record that the key was just used."""
        await self._pool.execute("UPDATE api_keys SET last_used_at = now() WHERE key_id = $1", key_id)


class CredentialStore:
    """Broker credentials as opaque ciphertext; encrypting and decrypting is the caller's job."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def put(self, broker: str, name: str, ciphertext: bytes) -> None:
        """Store or replace one secret."""
        await self._pool.execute(
            """
            INSERT INTO broker_credentials (broker, name, ciphertext) VALUES ($1, $2, $3)
            ON CONFLICT (broker, name) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()
            """,
            broker,
            name,
            ciphertext,
        )

    async def get(self, broker: str, name: str) -> bytes | None:
        """The stored ciphertext, or None."""
        value = await self._pool.fetchval(
            "SELECT ciphertext FROM broker_credentials WHERE broker = $1 AND name = $2", broker, name
        )
        return None if value is None else bytes(value)

    async def delete(self, broker: str, name: str) -> bool:
        """Forget one secret; False if there was none."""
        result: str = await self._pool.execute(
            "DELETE FROM broker_credentials WHERE broker = $1 AND name = $2", broker, name
        )
        return result != "DELETE 0"

    async def names(self, broker: str | None = None) -> list[tuple[str, str]]:
        """(broker, name) of every stored secret, never the secrets."""
        where, args = _where({"broker": broker})
        rows = await self._pool.fetch(f"SELECT broker, name FROM broker_credentials{where} ORDER BY 1, 2", *args)
        return [(row["broker"], row["name"]) for row in rows]


# --- research jobs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResearchJobRow:
    """A backtest or sweep submitted for research: what was asked, where it is, and what came out."""

    job_id: str
    kind: str  # backtest or sweep
    state: str  # queued, running, succeeded, failed
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    key_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ResearchJobStore:
    """Research jobs by id; the table is the queue (unfinished jobs are found again after a restart)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, job_id: str, kind: str, request: dict[str, Any], key_id: str | None = None
    ) -> ResearchJobRow:
        """Store a new queued job."""
        record = await self._pool.fetchrow(
            "INSERT INTO research_jobs (job_id, kind, state, request, key_id) VALUES ($1, $2, 'queued', $3, $4) "
            "RETURNING *",
            job_id,
            kind,
            request,
            key_id,
        )
        return ResearchJobRow(**dict(record))

    async def get(self, job_id: str) -> ResearchJobRow | None:
        """The job, or None."""
        record = await self._pool.fetchrow("SELECT * FROM research_jobs WHERE job_id = $1", job_id)
        return None if record is None else ResearchJobRow(**dict(record))

    async def unfinished(self) -> list[ResearchJobRow]:
        """Queued and running jobs, oldest first."""
        rows = await self._pool.fetch(
            "SELECT * FROM research_jobs WHERE state IN ('queued', 'running') ORDER BY created_at, job_id"
        )
        return [ResearchJobRow(**dict(row)) for row in rows]

    async def start(self, job_id: str) -> None:
        """Mark the job running."""
        await self._pool.execute(
            "UPDATE research_jobs SET state = 'running', started_at = now() WHERE job_id = $1", job_id
        )

    async def finish(self, job_id: str, result: dict[str, Any] | None, error: str | None = None) -> None:
        """Store the outcome: `result` when it succeeded, else the `error`."""
        await self._pool.execute(
            "UPDATE research_jobs SET state = $2, result = $3, error = $4, finished_at = now() WHERE job_id = $1",
            job_id,
            "failed" if error is not None else "succeeded",
            result,
            error,
        )

    # `list` comes last: below it, `list[...]` in this class body would name the method.
    async def list(self, kind: str | None = None, limit: int = 100) -> list[ResearchJobRow]:
        """The latest jobs (of one kind if given), newest first."""
        where, args = _where({"kind": kind})
        rows = await self._pool.fetch(
            f"SELECT * FROM research_jobs{where} ORDER BY created_at DESC, job_id LIMIT ${len(args) + 1}", *args, limit
        )
        return [ResearchJobRow(**dict(row)) for row in rows]
