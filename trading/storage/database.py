"""The asyncpg connection pool: JSON codecs on every connection, a short connect timeout, a readiness ping."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from trading.storage.errors import StorageError


def json_default(value: object) -> str:
    """`json.dumps` fallback: Decimal as a fixed-point string (exact, never a float), dates as ISO 8601."""
    if isinstance(value, Decimal):
        return format(value, "f")  # "0.00000001", not str()'s "1E-8"
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """JSON text for a JSONB column."""
    return json.dumps(value, default=json_default, separators=(",", ":"))


async def _init_connection(connection: asyncpg.Connection) -> None:
    # JSON in and out as Python objects instead of text, on every pooled connection.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=dumps, decoder=json.loads, schema="pg_catalog", format="text"
        )


async def open_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout_s: float = 5.0,
    command_timeout_s: float | None = 30.0,
) -> asyncpg.Pool:
    """An asyncpg pool with JSON codecs; raises `StorageError` quickly if the server can't be reached."""
    try:
        pool = await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout_s,
            command_timeout=command_timeout_s,
            init=_init_connection,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StorageError(
            f"cannot reach PostgreSQL at {redact_url(database_url)}: {type(exc).__name__}: {exc}"
        ) from exc
    return pool


async def ping(pool: asyncpg.Pool, *, timeout_s: float = 2.0) -> bool:
    """True if the database answers a trivial query within `timeout_s` (for readiness probes)."""
    try:
        return bool(await pool.fetchval("SELECT 1", timeout=timeout_s) == 1)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


def redact_url(url: str) -> str:
    """`url` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
