"""End to end through the runtime's actors: the kill switch reaches a signed webhook and an email within 2 s, and a
channel that is down while the replay trades loses no fill alert and changes no fill."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import ray

from actors import broker_name
from actors.alerts import ALERTS
from actors.client import RuntimeClient
from dto.runtime import runtime_spec, start_runtime
from strategies import BUILTIN
from trading.alerts import verify_signature
from trading.backtest.runner import BacktestSpec, run_backtest
from trading.data.loaders import load_bars
from trading.live.config import parse_runtime_config

from .local_servers import LocalSmtp, RecordingHttpServer

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]
DAY = Path(__file__).resolve().parents[2] / "data" / "backtrader" / "2006-day-001.txt"


class ServerThread:
    """A RecordingHttpServer on its own event loop thread (the test itself blocks on Ray)."""

    def __init__(self) -> None:
        self.server = RecordingHttpServer()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.arrived: dict[str, float] = {}  # delivery id -> first arrival (perf_counter)

    def start(self) -> ServerThread:
        self.server.on_request = lambda r: self.arrived.setdefault(r.headers.get("X-DTO-Delivery", ""),
                                                                   time.perf_counter())
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def wait_for(check: Any, timeout_s: float) -> bool:
    ends = time.perf_counter() + timeout_s
    while time.perf_counter() < ends:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


def test_kill_switch_alerts_arrive_within_2s_and_a_down_channel_loses_nothing_and_slows_no_order(
    ray_session: None, storage_urls: tuple[str, str], tmp_path: Path
) -> None:
    ops = ServerThread().start()
    fills_hook = ServerThread()  # down while the replay trades
    smtp = LocalSmtp(tmp_path).start()
    params = {"fast": 1, "slow": 15}
    expected = run_backtest(BacktestSpec(data=str(DAY), strategy="sma_cross", params=params),
                            BUILTIN["sma_cross"], load_bars(DAY))
    config: dict[str, Any] = {
        "brokers": [{"name": "paper", "kind": "paper", "cash": "10000"}],
        "replay": {"data": str(DAY), "speed": "max", "instrument": "DATA.SIM"},
        "strategies": [{"id": "cross", "strategy": "sma_cross", "params": params, "instrument": "DATA.SIM",
                        "broker": "paper"}],
    }
    config["notifications"] = {
        "channels": [
            {"name": "ops", "kind": "webhook", "url": f"{ops.server.url}/dto"},
            {"name": "desk", "kind": "email", "host": "127.0.0.1", "port": smtp.port, "sender": "dto@example.com",
             "to": ["desk@example.com"], "username": LocalSmtp.USER, "ca_file": str(smtp.cert)},
            {"name": "fills", "kind": "webhook", "url": f"{fills_hook.server.url}/fills", "max_backoff_s": 0.5,
             "rate_per_minute": 1000},
        ],
        "rules": [{"rule": "kill_switch", "channels": ["ops", "desk"]}, {"rule": "fill", "channels": ["fills"]}],
        "outbox": str(tmp_path / "outbox.jsonl"),
    }
    database_url, redis_url = storage_urls
    namespace = f"test-alerts-{time.time_ns() % 10**8}"
    handle = start_runtime(runtime_spec(parse_runtime_config(config), namespace=namespace, run_id=namespace,
                                        database_url=database_url, redis_url=redis_url))

    def actor(name: str) -> Any:
        return ray.get_actor(name, namespace=namespace)

    try:
        started = time.perf_counter()
        ray.get(handle.wait_replay.remote(), timeout=180)
        replay_s = time.perf_counter() - started
        venue_fills = ray.get(actor(broker_name("paper")).fills.remote())
        assert len(venue_fills) == len(expected.fills) > 10  # the order path did not notice the dead channel
        alerts = actor(ALERTS)
        assert wait_for(lambda: ray.get(alerts.status.remote())["channels"]["fills"]["failed_attempts"] > 0, 10)
        assert fills_hook.server.requests == []

        switched = time.perf_counter()
        # what POST /v1/risk/kill-switch awaits:
        asyncio.run(RuntimeClient(namespace).set_kill_switch(True, "e2e drill"))
        assert wait_for(lambda: ops.server.requests and smtp.mailbox.messages, 2.0), "no alert within 2 s"
        webhook_s = min(ops.arrived.values()) - switched
        request = ops.server.requests[0]
        assert request.json()["rule"] == "kill_switch"
        assert verify_signature(b"e2e-hook-secret", request.headers["X-DTO-Timestamp"], request.body,
                                request.headers["X-DTO-Signature"])
        assert "e2e drill" in smtp.mailbox.messages[0]["Subject"] + smtp.mailbox.messages[0].get_payload()
        assert smtp.mailbox.envelopes[0][2]  # over TLS

        fills_hook.start()  # the channel is back
        assert wait_for(lambda: len(fills_hook.arrived) == len(expected.fills), 30)
        keys = {(r.json()["data"]["trade_id"], r.json()["data"]["client_order_id"]) for r in fills_hook.server.requests}
        assert len(keys) == len(expected.fills)  # every fill, none lost
        assert ray.get(alerts.dead_letters.remote()) == []
        print(f"\nreplay with the fills channel down: {replay_s:.2f}s; kill switch -> signed webhook "
              f"{webhook_s * 1000:.0f} ms")
    finally:
        ray.get(handle.shutdown.remote())
        ray.kill(handle, no_restart=True)
        ops.stop()
        if fills_hook.server._runner is not None:
            fills_hook.stop()
        smtp.stop()
