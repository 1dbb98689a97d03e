"""Apply the numbered SQL files of `trading/storage/migrations/` in order, each once, in a transaction."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from trading.storage.errors import StorageError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works: it only has to be the same in every process that migrates this database.
_ADVISORY_LOCK_ID = 0x64746F6D  # "dtom"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: `NNNN_name.sql`."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The packaged migrations, sorted by version."""
    migrations = []
    for entry in resources.files("trading.storage.migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise StorageError(f"two migration files share a version number: {versions}")
    return migrations


async def migrate(pool: asyncpg.Pool, migrations: list[Migration] | None = None) -> list[int]:
    """Bring the schema up to date; returns the versions applied now (empty when already current).

    Safe to call on every start and from several processes at once: an advisory lock serialises them.
    Raises `StorageError` if an applied migration's file was edited afterwards.
    """
    migrations = load_migrations() if migrations is None else migrations
    applied_now: list[int] = []
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_ID)
        try:
            await connection.execute(_CREATE_TABLE)
            rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
            applied: dict[int, str] = {row["version"]: row["checksum"] for row in rows}
            for migration in migrations:
                if migration.version in applied:
                    if applied[migration.version] != migration.checksum:
                        raise StorageError(
                            f"migration {migration.version:04d}_{migration.name}.sql was edited after it "
                            "was applied; add a new migration instead"
                        )
                    continue
                async with connection.transaction():
                    # No arguments: the simple query protocol runs a file of many statements.
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
                applied_now.append(migration.version)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_ID)
    return applied_now
