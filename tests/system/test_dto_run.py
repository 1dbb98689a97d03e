"""`make run` end to end: `dto run` in its own process on embedded defaults, an order through its gateway, a clean
stop on SIGINT, and the session's orders left in PostgreSQL (the runtime is durable)."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.storage

START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"X-API-Key": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str], marker: str, seen: list[str], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith(marker):
            return line
    raise AssertionError(f"no {marker!r} line within {timeout_s} s; output:\n{''.join(seen[-40:])}")


def _stored(home: Path, client_order_id: str) -> tuple[list[str], list[str]]:
    """(kinds of the journal events, statuses of the order rows) stored for the order in `home`'s database."""
    import asyncio

    from trading.storage import open_pool, start_storage

    servers = start_storage(home)

    async def read() -> tuple[list[str], list[str]]:
        pool = await open_pool(servers.database_url)
        try:
            events = await pool.fetch(
                "SELECT kind FROM events WHERE stream LIKE 'oms:%' AND payload::text LIKE $1 ORDER BY seq",
                f"%{client_order_id}%",
            )
            # Rows carry the run's stream in their id ("oms:<run>/<client order id>"): runs share one database.
            rows = await pool.fetch(
                "SELECT status FROM orders WHERE client_order_id LIKE $1", f"oms:%/{client_order_id}"
            )
            return [e["kind"] for e in events], [r["status"] for r in rows]
        finally:
            await pool.close()

    try:
        return asyncio.run(read())
    finally:
        servers.stop()


def test_dto_run_serves_trades_stops_on_sigint_and_keeps_the_session_in_postgres(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DTO_HOME": str(tmp_path), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dto")), "run", "--port", str(port), "--speed", "600x"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # a Ctrl-C in the terminal running the tests is not also sent to it
    )
    seen: list[str] = []
    try:
        lines = _lines(process)
        key = _read_until(lines, "admin key", seen, START_TIMEOUT_S).split()[2]
        base = f"http://127.0.0.1:{port}"
        status, ready = _request(f"{base}/ready", key)
        assert status == 200 and ready["ready"] is True, ready
        order = {"client_order_id": "m-e2e-1", "instrument_id": "SPX.PAPER", "side": "buy", "order_type": "market",
                 "quantity": "1"}
        status, placed = _request(f"{base}/v1/orders", key, order)
        assert status in (200, 201) and placed["status"] in ("accepted", "filled"), placed
        status, again = _request(f"{base}/v1/orders", key, order)  # a retry with the same id places nothing new
        assert status in (200, 201) and again["client_order_id"] == "m-e2e-1"
        status, listed = _request(f"{base}/v1/orders?strategy_id=manual", key)
        assert status == 200 and [o["client_order_id"] for o in listed] == ["m-e2e-1"]
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)  # the process this test started, by its id
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group (start_new_session)
            process.wait()
            raise
    time.sleep(1)  # the reader thread drains the last lines
    assert process.returncode == 0, "".join(seen[-40:])
    kinds, statuses = _stored(tmp_path, "m-e2e-1")
    assert kinds[:2] == ["OrderSubmitted", "OrderAccepted"], kinds  # journaled, write-ahead, exactly once
    assert kinds.count("OrderSubmitted") == 1
    assert len(statuses) == 1 and statuses[0] in ("accepted", "filled"), statuses
