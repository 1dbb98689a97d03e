"""Starting and stopping the embedded servers: reuse, restart, recovery after SIGKILL, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading.storage import (
    EventJournal,
    LiveCache,
    StorageError,
    StorageServers,
    migrate,
    open_pool,
    start_storage,
    stop_storage,
)

from .support import is_running, pids_in

pytestmark = pytest.mark.storage


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One home for this module's start/stop tests (initdb runs once); each test stops what it starts."""
    folder = tmp_path_factory.mktemp("restart_home")
    yield folder
    stop_storage(folder)  # in case a failing test left a server behind


def assert_nothing_running(home: Path, *pids: int | None) -> None:
    for pid in pids:
        assert pid is not None and not is_running(pid)
    assert pids_in(home / "postgres") == []  # no postmaster, no leftover backend
    assert pids_in(home / "redis") == []


async def write(servers: StorageServers, stream: str) -> int | None:
    pool = await open_pool(servers.database_url)
    try:
        await migrate(pool)
        seq = await EventJournal(pool).append(stream, "Written", {"ok": True})
    finally:
        await pool.close()
    cache = LiveCache.from_url(servers.redis_url)
    try:
        await cache.set_kill_switch(True, stream)
    finally:
        await cache.close()
    return seq


async def read(servers: StorageServers, stream: str) -> tuple[list[int], tuple[bool, str]]:
    pool = await open_pool(servers.database_url)
    try:
        await migrate(pool)  # a no-op after `write`; lets a test read from a fresh home
        seqs = [entry.seq for entry in await EventJournal(pool).read(stream=stream)]
    finally:
        await pool.close()
    cache = LiveCache.from_url(servers.redis_url)
    try:
        switch = await cache.kill_switch()
    finally:
        await cache.close()
    return seqs, switch


def test_session_servers_started_quickly(servers: StorageServers) -> None:
    # the session fixture's start includes initdb; a generous bound, the point is to notice a regression
    assert 0 < servers.start_seconds < 10
    assert servers.postgres_pid is not None and servers.redis_pid is not None
    assert "host=" in servers.database_url and servers.redis_url.startswith("unix://")


def test_restart_on_the_same_home_keeps_the_data(home: Path) -> None:
    first = start_storage(home)
    seq = asyncio.run(write(first, "restart"))
    first.stop()
    first.stop()  # idempotent
    assert_nothing_running(home, first.postgres_pid, first.redis_pid)

    second = start_storage(home)
    try:
        assert second.start_seconds < 5
        assert asyncio.run(read(second, "restart")) == ([seq], (True, "restart"))
    finally:
        second.stop()
    assert_nothing_running(home, second.postgres_pid, second.redis_pid)


def test_start_after_sigkill_recovers(home: Path) -> None:
    killed = start_storage(home)
    seq = asyncio.run(write(killed, "sigkill"))
    assert killed.postgres_pid is not None and killed.redis_pid is not None
    os.kill(killed.postgres_pid, signal.SIGKILL)
    os.kill(killed.redis_pid, signal.SIGKILL)
    # SIGKILL is asynchronous: on a loaded machine the process can still look alive for a moment
    deadline = time.monotonic() + 10
    while (is_running(killed.postgres_pid) or is_running(killed.redis_pid)) and time.monotonic() < deadline:
        time.sleep(0.01)
    # the pid file stays behind, naming a dead (here: not yet reaped) process
    assert (home / "postgres" / "postmaster.pid").exists()

    recovered = start_storage(home)
    try:
        assert recovered.postgres_pid not in (None, killed.postgres_pid)
        seqs, _ = asyncio.run(read(recovered, "sigkill"))
        assert seqs == [seq]  # committed before the kill, so it survived crash recovery
        killed.stop()  # stopping the dead handle is harmless and leaves the new servers alone
        assert asyncio.run(read(recovered, "sigkill"))[0] == [seq]
    finally:
        recovered.stop()
    assert_nothing_running(home, killed.postgres_pid, killed.redis_pid, recovered.postgres_pid, recovered.redis_pid)


def test_second_start_reuses_running_servers_and_leaves_them_running(home: Path) -> None:
    owner = start_storage(home)
    try:
        guest = start_storage(home)
        assert (guest.database_url, guest.redis_url) == (owner.database_url, owner.redis_url)
        assert guest.postgres_pid is None and guest.redis_pid is None
        guest.stop()
        assert is_running(owner.postgres_pid or 0) and is_running(owner.redis_pid or 0)
        asyncio.run(read(owner, "anything"))
    finally:
        owner.stop()
    assert_nothing_running(home, owner.postgres_pid, owner.redis_pid)


def test_stop_storage_stops_servers_left_by_another_run(home: Path) -> None:
    abandoned = start_storage(home)
    stop_storage(home)
    assert_nothing_running(home, abandoned.postgres_pid, abandoned.redis_pid)
    abandoned.stop()  # nothing left to do


def test_external_urls_start_nothing(servers: StorageServers, tmp_path: Path) -> None:
    external = start_storage(tmp_path, database_url=servers.database_url, redis_url=servers.redis_url)
    assert (external.database_url, external.redis_url) == (servers.database_url, servers.redis_url)
    assert external.postgres_pid is None and external.redis_pid is None
    assert not (tmp_path / "postgres").exists()
    external.stop()
    assert is_running(servers.postgres_pid or 0)


def test_long_home_path_puts_sockets_under_tmp(tmp_path: Path) -> None:
    home = tmp_path / ("h" * 100)
    with start_storage(home) as servers:
        assert "/dto-" in servers.database_url and "/dto-" in servers.redis_url
        asyncio.run(read(servers, "long"))
        socket_dir = Path(servers.redis_url.removeprefix("unix://")).parent
        assert socket_dir.parent == Path(tempfile.gettempdir())
    assert_nothing_running(home, servers.postgres_pid, servers.redis_pid)
    assert not socket_dir.exists()  # the /tmp socket folder is removed on stop


def test_unreachable_database_fails_fast_and_clearly(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError, match="cannot reach PostgreSQL"):
        asyncio.run(open_pool(f"postgresql://postgres@/postgres?host={tmp_path}", connect_timeout_s=1.0))
    assert time.monotonic() - started < 3


def test_servers_left_by_a_dead_process_are_adopted(home: Path) -> None:
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from trading.storage import start_storage\n"
        "servers = start_storage(Path(sys.argv[1]))\n"
        "print(servers.postgres_pid, servers.redis_pid)\n"
        "os._exit(0)  # die without stopping them, like a killed runtime\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    output = subprocess.run(
        [sys.executable, "-c", script, str(home)], env=env, capture_output=True, text=True, check=True
    ).stdout
    orphan_pg, orphan_redis = (int(pid) for pid in output.split())
    assert is_running(orphan_pg) and is_running(orphan_redis)

    adopter = start_storage(home)
    assert (adopter.postgres_pid, adopter.redis_pid) == (orphan_pg, orphan_redis)
    asyncio.run(read(adopter, "adopted"))
    adopter.stop()
    assert_nothing_running(home, orphan_pg, orphan_redis)
