"""Fixtures of the actor tests: real PostgreSQL and Redis for the session (Ray: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def storage_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Real PostgreSQL + Redis for the session (one home, migrated once); runs use their own streams."""
    import asyncio

    from trading.storage import migrate, open_pool, start_storage

    servers = start_storage(tmp_path_factory.mktemp("dto_home"))

    async def prepare() -> None:
        pool = await open_pool(servers.database_url)
        try:
            await migrate(pool)
        finally:
            await pool.close()

    asyncio.run(prepare())
    yield servers.database_url, servers.redis_url
    servers.stop()
