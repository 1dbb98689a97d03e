"""The gateway over real HTTP (one `serve.run`) against the real runtime, PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import httpx
import pytest

from .conftest import Runtime, Storage

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_health_needs_no_auth_and_docs_are_served(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{gateway_url}/docs").status_code == 200
    assert "/v1/orders" in httpx.get(f"{gateway_url}/openapi.json").json()["paths"]


def test_auth_matrix_401_403_and_tokens(gateway_url: str, keys: dict[str, str]) -> None:
    url = gateway_url
    missing = httpx.get(f"{url}/v1/positions")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert httpx.get(f"{url}/v1/positions", headers=h("dto_deadbeef_nope")).status_code == 401
    assert httpx.get(f"{url}/v1/positions", headers=h("garbage")).status_code == 401
    assert httpx.get(f"{url}/v1/positions", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    assert httpx.get(f"{url}/v1/positions", headers=h(keys["read"])).status_code == 200
    order = {"client_order_id": "read-denied", "instrument_id": "SPX.PAPER", "side": "buy", "quantity": "1"}
    forbidden = httpx.post(f"{url}/v1/orders", json=order, headers=h(keys["read"]))
    assert forbidden.status_code == 403 and "trade" in forbidden.json()["error"]["message"]
    limits = httpx.patch(f"{url}/v1/risk/limits", json={"max_open_orders": 50}, headers=h(keys["trade"]))
    assert limits.status_code == 403
    token = httpx.post(f"{url}/v1/auth/token", headers=h(keys["trade"])).json()
    assert token["token_type"] == "bearer" and "trade" in token["scopes"]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(f"{url}/v1/orders", headers=bearer).status_code == 200
    # The scheme is case-insensitive; a token under another scheme is no credential at all.
    for authorization, status in [(f"bearer {token['access_token']}", 200), (f"Basic {token['access_token']}", 401),
                                  ("Bearer", 401)]:
        assert httpx.get(f"{url}/v1/orders", headers={"Authorization": authorization}).status_code == status
    assert httpx.patch(f"{url}/v1/risk/limits", json={}, headers=bearer).status_code == 403


def test_validation_errors_name_the_field(gateway_url: str, keys: dict[str, str]) -> None:
    bad = {"client_order_id": "x1", "instrument_id": "SPX.PAPER", "side": "buy", "quantity": "1", "colour": "red"}
    answer = httpx.post(f"{gateway_url}/v1/orders", json=bad, headers=h(keys["trade"]))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "colour"
    limit = {"client_order_id": "x2", "instrument_id": "SPX.PAPER", "side": "buy", "quantity": "1",
             "order_type": "limit"}
    answer = httpx.post(f"{gateway_url}/v1/orders", json=limit, headers=h(keys["trade"]))
    assert answer.status_code == 422 and "limit_price" in answer.json()["error"]["message"]
    unknown = {"client_order_id": "x3", "instrument_id": "NOPE.PAPER", "side": "buy", "quantity": "1"}
    answer = httpx.post(f"{gateway_url}/v1/orders", json=unknown, headers=h(keys["trade"]))
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "instrument_id"


def test_rate_limit_answers_429_with_retry_after(gateway_url: str, keys: dict[str, str]) -> None:
    with httpx.Client(headers=h(keys["limited"])) as client:
        codes = [client.get(f"{gateway_url}/v1/risk") for _ in range(45)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, [r.status_code for r in codes]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json()["error"]["code"] == "rate_limited"


class EventReader:
    """Reads the SSE stream in a thread, collecting (event, data)."""

    def __init__(self, url: str, key: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, key), daemon=True)
        self.thread.start()
        assert self.connected.wait(15), "event stream did not connect"

    def _run(self, url: str, key: str) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the deployment shut down under an open stream
            self._read(url, key)

    def _read(self, url: str, key: str) -> None:
        with httpx.stream("GET", f"{url}/v1/events", params={"duration_s": 20}, headers=h(key), timeout=30) as r:
            event = ""
            for line in r.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.events.append((event, json.loads(line[6:])))

    def wait_for(self, predicate: Any, timeout: float = 15) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in list(self.events):
                if predicate(item):
                    return item
            time.sleep(0.05)
        raise AssertionError(f"no such event in {self.events}")


def test_order_round_trip_through_the_api(gateway_url: str, keys: dict[str, str], runtime: Runtime) -> None:
    url, trade = gateway_url, h(keys["trade"])
    httpx.post(f"{url}/v1/risk/kill-switch", json={"on": False, "reason": "test start"}, headers=h(keys["admin"]))
    stream = EventReader(url, keys["read"])
    order = {"client_order_id": "rt-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "2"}
    first = httpx.post(f"{url}/v1/orders", json=order, headers=trade)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "accepted"
    assert first.json()["client_order_id"] == "m-rt-1"  # a person's ids carry the manual prefix
    again = httpx.post(f"{url}/v1/orders", json=order, headers=trade)
    assert again.status_code == 200 and again.json()["client_order_id"] == "m-rt-1"  # same id: same order
    prefixed = httpx.post(f"{url}/v1/orders", json={**order, "client_order_id": "m-rt-1"}, headers=trade)
    assert prefixed.status_code == 200  # the stored id names the same order
    reused = httpx.post(f"{url}/v1/orders", json={**order, "quantity": "3"}, headers=trade)
    assert reused.status_code == 409
    runtime.advance(1)  # the next bar fills the market order
    got = httpx.get(f"{url}/v1/orders/rt-1", headers=trade).json()  # found by the id sent, too
    assert got["status"] == "filled" and got["filled_quantity"] == "2"
    fills = httpx.get(f"{url}/v1/fills", params={"strategy_id": "manual"}, headers=trade).json()
    assert [f["client_order_id"] for f in fills] == ["m-rt-1"] and fills[0]["broker"] == "paper"
    positions = httpx.get(f"{url}/v1/positions", headers=trade).json()
    manual = [p for p in positions["strategy_positions"] if p["strategy_id"] == "manual"]
    assert manual and manual[0]["quantity"] == "2"
    listed = httpx.get(f"{url}/v1/orders", params={"strategy_id": "manual", "status": "filled"}, headers=trade).json()
    assert [o["client_order_id"] for o in listed] == ["m-rt-1"]
    stream.wait_for(lambda e: e[0] == "fill" and e[1]["client_order_id"] == "m-rt-1")
    stream.wait_for(lambda e: e[0] == "order" and e[1]["client_order_id"] == "m-rt-1" and e[1]["status"] == "filled")
    # a resting limit order far below the market, then cancel it
    limit = {**order, "client_order_id": "rt-2", "order_type": "limit", "limit_price": "100"}
    assert httpx.post(f"{url}/v1/orders", json=limit, headers=trade).status_code == 201
    canceled = httpx.delete(f"{url}/v1/orders/rt-2", headers=trade)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert httpx.delete(f"{url}/v1/orders/rt-2", headers=trade).status_code == 409
    assert httpx.delete(f"{url}/v1/orders/nope", headers=trade).status_code == 404


def test_kill_switch_through_the_api_denies_orders(gateway_url: str, keys: dict[str, str], runtime: Runtime) -> None:
    url, admin = gateway_url, h(keys["admin"])
    on = httpx.post(f"{url}/v1/risk/kill-switch", json={"on": True, "reason": "test"}, headers=admin)
    assert on.status_code == 200 and on.json()["state"] == "halted" and on.json()["kill_switch"]
    order = {"client_order_id": "ks-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "1"}
    denied = httpx.post(f"{url}/v1/orders", json=order, headers=admin).json()
    assert denied["status"] == "denied" and "KILL" in denied["reason"].upper()
    off = httpx.post(f"{url}/v1/risk/kill-switch", json={"on": False, "reason": "done"}, headers=admin)
    assert off.json() == {"state": "active", "reason": "kill switch off: done", "kill_switch": False, "canceled": []}
    accepted = httpx.post(f"{url}/v1/orders", json={**order, "client_order_id": "ks-2"}, headers=admin).json()
    assert accepted["status"] == "accepted", accepted["reason"]
    denials = [line for line in httpx.get(f"{url}/metrics", headers=admin).text.splitlines()
               if line.startswith('dto_order_denials{reason="KILL_SWITCH"}')]
    assert len(denials) == 1 and float(denials[0].split()[-1]) >= 1


def test_strategies_and_metrics(gateway_url: str, keys: dict[str, str]) -> None:
    url, trade = gateway_url, h(keys["trade"])
    # The first listing imports every strategy module in the replica, the model-based ones' libraries too.
    available = httpx.get(f"{url}/v1/strategies/available", headers=trade, timeout=60).json()
    assert {"sma_cross", "opening_range_breakout"} <= {s["name"] for s in available}
    running = httpx.get(f"{url}/v1/strategies", headers=trade).json()
    assert {"opening_range_breakout", "sma_cross"} <= {s["strategy_id"] for s in running}
    paused = httpx.post(f"{url}/v1/strategies/sma_cross/pause", headers=trade).json()
    assert paused["state"] == "paused"
    assert httpx.post(f"{url}/v1/strategies/sma_cross/resume", headers=trade).json()["state"] == "running"
    bad = httpx.patch(f"{url}/v1/strategies/sma_cross/params", json={"params": {"nope": 1}}, headers=trade)
    assert bad.status_code == 422, bad.text
    assert httpx.get(f"{url}/v1/strategies/ghost", headers=trade).status_code == 404
    bars = httpx.get(f"{url}/v1/market-data/last", headers=trade).json()
    assert bars and bars[0]["close"] > 0
    metrics = httpx.get(f"{url}/metrics", headers=trade).text
    assert 'dto_http_requests_total{method="GET",route="/v1/strategies",status="200"}' in metrics
    assert 'dto_orders{broker="paper",status=' in metrics and "dto_runtime_up 1.0" in metrics
    assert 'dto_actor_restarts{actor="order-manager"} 0.0' in metrics
    assert 'dto_actor_restarts{actor="strategy-sma_cross"} 0.0' in metrics
    for family in ("dto_strategy_exposure gauge", "dto_order_denials gauge", "dto_bar_to_order_seconds histogram"):
        assert f"# TYPE {family}" in metrics, family
    assert 'dto_bar_to_order_seconds_bucket{le="+Inf"}' in metrics


def test_readiness_turns_false_when_postgres_stops(
    gateway_url: str, keys: dict[str, str], storage: Storage
) -> None:
    url = gateway_url
    ready = httpx.get(f"{url}/ready", headers=h(keys["read"]))
    assert ready.status_code == 200 and ready.json()["ready"], ready.text
    storage.postgres.stop()
    down = httpx.get(f"{url}/ready", headers=h(keys["read"]))  # a cached key: auth still works
    assert down.status_code == 503
    assert down.json()["checks"] == {"actors": True, "postgres": False, "redis": True}
