"""Migrations: applied once, in order, each in a transaction; safe to run again and concurrently."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import asyncpg
import pytest

from trading.storage import StorageError, StorageServers, migrate, open_pool
from trading.storage.migrate import Migration, load_migrations

from .support import Run

pytestmark = pytest.mark.storage

TABLES = {
    "events",
    "orders",
    "fills",
    "positions",
    "accounts",
    "strategies",
    "users",
    "api_keys",
    "broker_credentials",
    "schema_migrations",
}


@pytest.fixture
def fresh_pool(servers: StorageServers, pool: asyncpg.Pool, run: Run, uid: str) -> Iterator[asyncpg.Pool]:
    """A pool on a new, empty database of the session server."""
    name = f"mig_{uid}"
    run(pool.execute(f"CREATE DATABASE {name}"))
    url = servers.database_url.replace("/postgres?", f"/{quote(name)}?")
    fresh = run(open_pool(url))
    yield fresh
    run(fresh.close())
    run(pool.execute(f"DROP DATABASE {name}"))


def test_files_are_numbered_and_ordered() -> None:
    migrations = load_migrations()
    assert migrations[0].version == 1
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})


def test_migrate_is_idempotent(pool: asyncpg.Pool, run: Run) -> None:
    assert run(migrate(pool)) == []  # the session fixture already migrated
    assert run(migrate(pool)) == []
    versions = [row["version"] for row in run(pool.fetch("SELECT version FROM schema_migrations ORDER BY 1"))]
    assert versions == [m.version for m in load_migrations()]
    tables = {
        row["tablename"] for row in run(pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    }
    assert tables >= TABLES


def test_fresh_database_concurrent_migrations_apply_once(fresh_pool: asyncpg.Pool, run: Run) -> None:
    import asyncio

    async def twice() -> list[list[int]]:
        return list(await asyncio.gather(migrate(fresh_pool), migrate(fresh_pool)))

    results = run(twice())
    everything = [m.version for m in load_migrations()]
    assert sorted(results, key=len) == [[], everything]


def test_a_failing_migration_is_rolled_back_whole(fresh_pool: asyncpg.Pool, run: Run) -> None:
    broken = Migration(9001, "broken", "CREATE TABLE half_done (x int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        run(migrate(fresh_pool, [*load_migrations(), broken]))

    # the good ones stay applied; nothing of the broken one remains, and it is not recorded
    assert run(fresh_pool.fetchval("SELECT to_regclass('half_done')")) is None
    assert run(fresh_pool.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9001")) == 0
    assert run(fresh_pool.fetchval("SELECT to_regclass('events')")) is not None


def test_an_edited_migration_is_refused(pool: asyncpg.Pool, run: Run) -> None:
    first, *rest = load_migrations()
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    with pytest.raises(StorageError, match="edited after it was applied"):
        run(migrate(pool, [edited, *rest]))
