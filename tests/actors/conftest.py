"""One local Ray for the actor tests (joined, not restarted, if another test folder started one)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
        started = True
    yield
    if started:
        ray.shutdown()


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
