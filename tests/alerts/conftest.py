"""The alert actor's tests: real Redis (and PostgreSQL) for the session; Ray from tests/conftest.py. The channels'
secrets are set here, at import, before any test starts Ray, so actor processes inherit them like real ones."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("DTO_WEBHOOK_SECRET", "e2e-hook-secret")
os.environ.setdefault("DTO_SMTP_PASSWORD", "smtp-pass")


@pytest.fixture(scope="session")
def storage_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
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
