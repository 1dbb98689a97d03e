"""Real PostgreSQL and Redis for the storage tests: started once in a temporary home, stopped at the end.

The tests are plain functions that drive coroutines through `run` on one session event loop, so the pool
and the Redis client (both bound to a loop) are shared by every test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from trading.storage import LiveCache, StorageServers, migrate, open_pool, start_storage

from .support import Run


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageServers]:
    home: Path = tmp_path_factory.mktemp("dto_home")
    started = start_storage(home)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="session")
def run(loop: asyncio.AbstractEventLoop) -> Run:
    """Run a coroutine to completion on the session loop and return its result."""
    return loop.run_until_complete


@pytest.fixture(scope="session")
def pool(servers: StorageServers, run: Run) -> Iterator[asyncpg.Pool]:
    database = run(open_pool(servers.database_url))
    run(migrate(database))
    yield database
    run(database.close())


@pytest.fixture(scope="session")
def cache(servers: StorageServers, run: Run) -> Iterator[LiveCache]:
    live = LiveCache.from_url(servers.redis_url, namespace="test")
    yield live
    run(live.close())


@pytest.fixture
def uid() -> str:
    """A fresh suffix, so tests sharing the session database never see each other's rows."""
    return uuid.uuid4().hex[:12]
