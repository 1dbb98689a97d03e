"""GET /v1/risk/portfolio, POST /v1/risk/stress, the portfolio limits through PATCH /v1/risk/limits and the
portfolio gauges on /metrics, against the real runtime (the demo's risk profile and risk model)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from .conftest import Runtime

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def portfolio_when(url: str, key: str, ready: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/v1/risk/portfolio", headers=h(key), timeout=15)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if ready(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"the portfolio never got there: {body}")


def test_portfolio_risk_of_the_live_book(gateway_url: str, keys: dict[str, str], runtime: Runtime) -> None:
    url, read, trade, admin = gateway_url, keys["read"], keys["trade"], keys["admin"]
    httpx.post(f"{url}/v1/risk/kill-switch", json={"on": False, "reason": "risk routes"}, headers=h(admin))
    order = {"client_order_id": "pr-1", "instrument_id": runtime.instrument_id, "side": "buy", "quantity": "1"}
    placed = httpx.post(f"{url}/v1/orders", json=order, headers=h(trade))
    assert placed.status_code == 201 and placed.json()["status"] != "denied", placed.text
    runtime.advance(1)
    body = portfolio_when(url, read, lambda b: b["report"] is not None)

    assert body["model"]["method"] == "historical" and body["model"]["confidence"] == 0.99
    assert body["model"]["instruments"] == [runtime.instrument_id]
    firm = body["figures"]["firm"]
    assert firm["var"] > 0 and firm["es"] >= firm["var"]
    assert Decimal(firm["gross_exposure"]) > 0
    assert 0 < firm["concentration"]["pct_of_equity"] < 5  # the demo's profile: max_concentration_pct 5
    assert set(body["figures"]["accounts"]) >= {"paper"}
    assert set(body["by_method"]) == {"historical", "parametric", "montecarlo"}
    assert body["by_method"]["historical"]["var"] == pytest.approx(firm["var"])
    report = body["report"]
    assert report["detail"]["positions"] and "manual" in report["by_strategy"]
    assert body["limits"]["max_var"] == "2500" and body["breach"] is None

    stressed = httpx.post(f"{url}/v1/risk/stress", json={"kind": "hypothetical", "shocks": {"equity": -0.1}},
                          headers=h(read))
    assert stressed.status_code == 200, stressed.text
    (result,) = stressed.json()["results"]
    assert Decimal(result["account_pnl"]) < 0
    historical = httpx.post(f"{url}/v1/risk/stress", json={"kind": "historical"}, headers=h(read), timeout=30)
    assert historical.status_code == 200 and len(historical.json()["results"]) == 10, historical.text
    bad = httpx.post(f"{url}/v1/risk/stress", json={"kind": "hypothetical", "shocks": {"equity": -2}},
                     headers=h(read))
    assert bad.status_code == 422

    metrics = httpx.get(f"{url}/metrics", headers=h(read)).text
    assert 'dto_portfolio_risk{book="firm",figure="var"}' in metrics


def test_portfolio_limits_through_patch(gateway_url: str, keys: dict[str, str]) -> None:
    url, admin = gateway_url, keys["admin"]
    changed = httpx.patch(f"{url}/v1/risk/limits", json={"max_es": "4500", "accounts": {"paper": {
        "max_var": "2500", "max_gross_exposure": "50000", "max_net_exposure": "40000"}}}, headers=h(admin))
    assert changed.status_code == 200, changed.text
    answer = changed.json()  # the limits in force, portfolio limits included
    assert answer["max_es"] == "4500" and answer["accounts"]["paper"]["max_net_exposure"] == "40000"
    read_back = httpx.get(f"{url}/v1/risk/limits", headers=h(keys["read"])).json()
    assert read_back["max_var"] == answer["max_var"] and read_back["accounts"] == answer["accounts"]
    body = portfolio_when(url, keys["read"], lambda b: b["limits"]["max_es"] == "4500")
    assert body["limits"]["accounts"]["paper"]["max_net_exposure"] == "40000"
    unknown = httpx.patch(f"{url}/v1/risk/limits", json={"max_vaar": "1"}, headers=h(admin))
    assert unknown.status_code == 422
    restored = httpx.patch(f"{url}/v1/risk/limits", json={"max_es": "4000", "accounts": {"paper": {
        "max_var": "2500", "max_gross_exposure": "50000"}}}, headers=h(admin))
    assert restored.status_code == 200
