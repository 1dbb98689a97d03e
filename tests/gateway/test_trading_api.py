"""Trading through the gateway on the real runtime (two paper accounts): accounts, positions, orders and fills
per broker; a bracket and an OCO pair become linked orders; what a venue cannot take is a 422; the kill switch
cancels working orders and flatten closes positions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from .conftest import SECOND_BROKER, Runtime, Storage, settings_for
from .test_http import h

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]


def last_close(url: str, key: str) -> Decimal:
    bars = httpx.get(f"{url}/v1/market-data/last", headers=h(key)).json()
    return Decimal(str(bars[0]["close"])).quantize(Decimal(1))


def order_of(url: str, key: str, client_order_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/v1/orders/{client_order_id}", headers=h(key))
    assert answer.status_code == 200, answer.text
    got: dict[str, Any] = answer.json()
    return got


def release_kill_switch(url: str, keys: dict[str, str]) -> None:
    off = httpx.post(f"{url}/v1/risk/kill-switch", json={"on": False, "reason": "test"}, headers=h(keys["admin"]))
    assert off.status_code == 200 and off.json()["state"] == "active", off.text


def test_accounts_list_every_broker(gateway_url: str, keys: dict[str, str]) -> None:
    url, read = gateway_url, h(keys["read"])
    listed = httpx.get(f"{url}/v1/accounts", headers=read).json()
    by_name = {a["broker"]: a for a in listed}
    assert set(by_name) == {"paper", SECOND_BROKER}
    second = by_name[SECOND_BROKER]
    assert (second["kind"], second["live"], second["currency"], second["error"]) == ("paper", False, "USD", None)
    assert Decimal(second["cash"]) > 0 and Decimal(second["equity"]) > 0
    one = httpx.get(f"{url}/v1/accounts", params={"broker": SECOND_BROKER}, headers=read).json()
    assert [a["broker"] for a in one] == [SECOND_BROKER]
    missing = httpx.get(f"{url}/v1/accounts", params={"broker": "nope"}, headers=read)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "broker"


def test_orders_fills_and_positions_per_broker(gateway_url: str, keys: dict[str, str], runtime: Runtime) -> None:
    url, trade = gateway_url, h(keys["trade"])
    release_kill_switch(url, keys)
    close = last_close(url, keys["read"])
    bought = {"client_order_id": "pb-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "3",
              "broker": "paper"}
    resting = {**bought, "client_order_id": "pb-2", "order_type": "limit", "limit_price": str(close / 2),
               "broker": SECOND_BROKER}
    for body in (bought, resting):
        placed = httpx.post(f"{url}/v1/orders", json=body, headers=trade)
        assert placed.status_code == 201 and placed.json()["broker"] == body["broker"], placed.text
    runtime.advance(1)
    assert order_of(url, keys["read"], "pb-1")["status"] == "filled"
    assert order_of(url, keys["read"], "pb-2")["status"] == "accepted"

    def ids(path: str, broker: str) -> list[str]:
        rows = httpx.get(f"{url}/v1/{path}", params={"broker": broker, "limit": 5000}, headers=trade).json()
        assert all(r["broker"] == broker for r in rows), rows
        return [r["client_order_id"] for r in rows]

    assert ids("orders", SECOND_BROKER) == ["m-pb-2"]
    assert "m-pb-1" in ids("orders", "paper") and "m-pb-2" not in ids("orders", "paper")
    assert "m-pb-1" in ids("fills", "paper") and ids("fills", SECOND_BROKER) == []
    mine = httpx.get(f"{url}/v1/positions", params={"broker": "paper"}, headers=trade).json()
    assert {p["account_id"] for p in mine["positions"]} == {"paper"} and set(mine["account_pnl"]) == {"paper"}
    assert all(p["broker"] == "paper" for p in mine["strategy_positions"])
    manual = [p for p in mine["strategy_positions"] if p["strategy_id"] == "manual"]
    assert manual and Decimal(manual[0]["quantity"]) >= 3
    other = httpx.get(f"{url}/v1/positions", params={"broker": SECOND_BROKER}, headers=trade).json()
    assert other["positions"] == [] and other["strategy_positions"] == [] and set(other["account_pnl"]) == {
        SECOND_BROKER}
    everything = httpx.get(f"{url}/v1/positions", headers=trade).json()
    assert {"paper", SECOND_BROKER} == set(everything["account_pnl"])
    for path in ("orders", "fills", "positions"):
        assert httpx.get(f"{url}/v1/{path}", params={"broker": "nope"}, headers=trade).status_code == 404


def test_a_bracket_becomes_an_entry_and_two_linked_exits(
    gateway_url: str, keys: dict[str, str], runtime: Runtime
) -> None:
    url, trade = gateway_url, h(keys["trade"])
    release_kill_switch(url, keys)
    close = last_close(url, keys["read"])
    body = {"client_order_id": "br-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "1",
            "bracket": {"stop_loss": str(close / 2), "take_profit": str(close * 2)}}
    placed = httpx.post(f"{url}/v1/orders", json=body, headers=trade)
    assert placed.status_code == 201, placed.text
    entry = placed.json()
    assert entry["client_order_id"] == "m-br-1" and entry["contingency"] == "oto"
    assert entry["linked_ids"] == ["m-br-1-sl", "m-br-1-tp"]
    stop, take = entry["linked_orders"]
    assert (stop["order_type"], stop["side"], Decimal(stop["stop_price"])) == ("stop", "sell", close / 2)
    assert (take["order_type"], take["side"], Decimal(take["limit_price"])) == ("limit", "sell", close * 2)
    for child, other in ((stop, take), (take, stop)):
        assert child["parent_id"] == "m-br-1" and child["contingency"] == "oco"
        assert child["linked_ids"] == [other["client_order_id"]]
    runtime.advance(1)  # the entry fills; the exits now work at the venue, far from the market
    assert order_of(url, keys["read"], "br-1")["status"] == "filled"
    for cid in ("m-br-1-sl", "m-br-1-tp"):
        assert order_of(url, keys["read"], cid)["status"] in ("accepted", "submitted"), cid
    again = httpx.post(f"{url}/v1/orders", json=body, headers=trade)
    assert again.status_code == 200 and len(again.json()["linked_orders"]) == 2  # a retry: the same three


def test_an_oco_pair_becomes_two_orders_linked_to_each_other(
    gateway_url: str, keys: dict[str, str], runtime: Runtime
) -> None:
    url, trade = gateway_url, h(keys["trade"])
    release_kill_switch(url, keys)
    close = last_close(url, keys["read"])
    body = {"client_order_id": "oco-1", "instrument_id": runtime.instrument_id, "side": "sell", "quantity": "1",
            "order_type": "limit", "limit_price": str(close * 2),
            "oco": {"order_type": "stop", "stop_price": str(close / 2)}}
    placed = httpx.post(f"{url}/v1/orders", json=body, headers=trade)
    assert placed.status_code == 201, placed.text
    first = placed.json()
    (second,) = first["linked_orders"]
    assert (first["client_order_id"], second["client_order_id"]) == ("m-oco-1", "m-oco-1-oco")
    assert first["linked_ids"] == ["m-oco-1-oco"] and second["linked_ids"] == ["m-oco-1"]
    assert first["contingency"] == second["contingency"] == "oco"
    assert first["status"] == second["status"] == "accepted"


@pytest.fixture(scope="module")
def with_a_ccxt_broker(runtime: Runtime, storage: Storage) -> Iterator[Any]:
    """The gateway app in process, its broker table holding a ccxt broker too (none runs: the capability check
    answers before any call reaches a venue)."""
    from fastapi.testclient import TestClient

    from serve_apps.app import build_app, services_of
    from serve_apps.settings import GatewaySettings
    from trading.live.config import BrokerConfig

    app = build_app(GatewaySettings(**settings_for(runtime, storage, rate_limit=100_000)))
    svc = services_of(app)
    brokers = asyncio.run(svc.runtime.brokers())
    svc._brokers = {**{b.name: b for b in brokers}, "binance": BrokerConfig(name="binance", kind="ccxt")}
    with TestClient(app) as client:
        yield client


def test_a_trailing_stop_for_a_ccxt_broker_is_a_422_naming_field_and_venue(
    with_a_ccxt_broker: Any, keys: dict[str, str], runtime: Runtime
) -> None:
    body = {"client_order_id": "ts-1", "instrument_id": runtime.instrument_id, "side": "sell", "quantity": "1",
            "order_type": "trailing_stop", "trailing_percent": "2", "broker": "binance"}
    answer = with_a_ccxt_broker.post("/v1/orders", json=body, headers=h(keys["trade"]))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unsupported_by_venue" and error["field"] == "order_type"
    assert "binance" in error["message"] and "ccxt" in error["message"]
    bracket = {**body, "order_type": "market", "trailing_percent": None, "bracket": {"stop_loss": "1",
                                                                                     "take_profit": "9"}}
    refused = with_a_ccxt_broker.post("/v1/orders", json=bracket, headers=h(keys["trade"]))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "bracket"
    paper = {**body, "broker": "paper", "client_order_id": "ts-paper"}  # the same order suits the paper venue
    assert with_a_ccxt_broker.post("/v1/orders", json=paper, headers=h(keys["trade"])).status_code == 201


def test_the_kill_switch_cancels_working_orders_at_every_venue(
    gateway_url: str, keys: dict[str, str], runtime: Runtime
) -> None:
    url, admin = gateway_url, h(keys["admin"])
    release_kill_switch(url, keys)
    close = last_close(url, keys["read"])
    far = {"client_order_id": "far-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "1",
           "order_type": "limit", "limit_price": str(close / 2), "broker": SECOND_BROKER}
    assert httpx.post(f"{url}/v1/orders", json=far, headers=admin).json()["status"] == "accepted"
    on = httpx.post(f"{url}/v1/risk/kill-switch", json={"on": True, "reason": "test: cancel all"}, headers=admin)
    assert on.status_code == 200 and on.json()["kill_switch"] and on.json()["state"] == "halted", on.text
    assert "m-far-1" in on.json()["canceled"]
    assert order_of(url, keys["read"], "far-1")["status"] == "canceled"
    open_orders = httpx.get(f"{url}/v1/orders", params={"status": "open"}, headers=admin).json()
    assert [o["client_order_id"] for o in open_orders] == []  # at every venue, the bracket's exits included
    assert {"m-br-1-sl", "m-br-1-tp", "m-oco-1", "m-oco-1-oco"} <= set(on.json()["canceled"])
    release_kill_switch(url, keys)


def test_flatten_sends_a_closing_market_order_per_position_journaled(
    gateway_url: str, keys: dict[str, str], runtime: Runtime
) -> None:
    url, admin = gateway_url, h(keys["admin"])
    on = httpx.post(f"{url}/v1/risk/kill-switch", json={"on": True, "reason": "test: close out"}, headers=admin)
    assert on.status_code == 200, on.text  # halted: the strategies open nothing new meanwhile
    book = httpx.get(f"{url}/v1/positions", headers=admin).json()
    held = {p["strategy_id"]: Decimal(p["quantity"]) for p in book["strategy_positions"]}
    assert held.get("manual", 0) > 0, held  # bought by the earlier tests
    journal = asyncio.run(runtime.client.journal_size())
    assert httpx.post(f"{url}/v1/risk/flatten", json={"reason": "x"}, headers=h(keys["trade"])).status_code == 403
    flat = httpx.post(f"{url}/v1/risk/flatten", json={"reason": "test: close out"}, headers=admin)
    assert flat.status_code == 200 and flat.json()["orders"], flat.text
    sent = [order_of(url, keys["read"], cid) for cid in flat.json()["orders"]]
    closing = {o["strategy_id"]: o for o in sent if o["strategy_id"] in held}
    assert set(closing) == set(held)  # one per strategy position, in its name
    for strategy_id, order in closing.items():
        assert order["order_type"] == "market" and order["status"] in ("accepted", "submitted", "filled")
        assert order["side"] == ("sell" if held[strategy_id] > 0 else "buy")
        assert Decimal(order["quantity"]) == abs(held[strategy_id])
    assert asyncio.run(runtime.client.journal_size()) > journal + len(sent)  # the action and its orders


def test_flatten_leaves_every_account_flat(gateway_url: str, keys: dict[str, str], runtime: Runtime) -> None:
    url, admin = gateway_url, h(keys["admin"])
    runtime.advance(1)  # the flatten's market orders fill on the next bar; halted strategies send nothing
    try:
        at_venues = {b: asyncio.run(runtime.client.broker_positions(b)) for b in ("paper", SECOND_BROKER)}
        assert {b: [p.quantity for p in rows if p.quantity != 0] for b, rows in at_venues.items()} == {
            "paper": [], SECOND_BROKER: []}  # the venues' own word (reproduced alone: sells 3 twice, ends -3)
        assert httpx.get(f"{url}/v1/positions", headers=admin).json()["positions"] == []
    finally:
        release_kill_switch(url, keys)


def test_a_fill_at_a_second_paper_account_is_booked(gateway_url: str, keys: dict[str, str], runtime: Runtime) -> None:
    url, trade = gateway_url, h(keys["trade"])
    release_kill_switch(url, keys)
    order = {"client_order_id": "pb2-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "1",
             "broker": SECOND_BROKER}
    assert httpx.post(f"{url}/v1/orders", json=order, headers=trade).status_code == 201
    runtime.advance(1)
    assert order_of(url, keys["read"], "pb2-1")["status"] == "filled"  # runs last: the lost fill leaves it open
