"""Fixtures every test folder shares: one local Ray per test session, joined (never restarted) when another
folder's tests already started one. Folders that need something else (the gateway's ingress) define their own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# The venue emulators' test credentials (not secrets: they open local servers only). Set before any test starts
# Ray, so broker actors, whose processes inherit this environment, read them as they would real keys.
os.environ.setdefault("ALPACA_API_KEY", "PKEMULATOR0000000000")
os.environ.setdefault("ALPACA_SECRET_KEY", "emulator-secret-key")
os.environ.setdefault("CCXT_API_KEY", "emulator-api-key")
os.environ.setdefault("CCXT_SECRET", "emulator-secret")


def _local_ray(num_cpus: int) -> Iterator[None]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        started = True
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """Ray with the machine's 2 CPUs (pipelines and ML measure work split across them)."""
    yield from _local_ray(2)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """Ray with 4 logical CPUs: the live runtime's many small actors."""
    yield from _local_ray(4)


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
