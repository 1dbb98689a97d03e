"""The runtime figures /metrics exports, from the actors' answers to Prometheus text (no cluster): the
strategies' bar-to-order histograms merged, cumulative buckets, orders by status and broker, denials."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from actors.latency import LatencyHistogram, merged
from serve_apps.metrics import GatewayMetrics


def test_a_latency_lands_in_the_first_bucket_that_holds_it() -> None:
    h = LatencyHistogram((0.01, 0.1))
    for seconds in (0.005, 0.01, 0.05, 3.0):
        h.observe(seconds)
    h.observe(0.02, times=3)
    assert h.counts == [2, 4, 1] and h.count == 7
    assert h.total == pytest.approx(0.005 + 0.01 + 0.05 + 3.0 + 0.06)


def test_histograms_of_several_strategies_merge_and_refuse_other_bounds() -> None:
    a, b = LatencyHistogram((0.01, 0.1)), LatencyHistogram((0.01, 0.1))
    a.observe(0.001)
    b.observe(0.5, times=2)
    both = merged([a.to_dict(), b.to_dict()])
    assert both is not None and both.counts == [1, 0, 2] and both.count == 3
    assert merged([]) is None
    with pytest.raises(ValueError, match="different bounds"):
        merged([a.to_dict(), LatencyHistogram((0.5,)).to_dict()])


def test_runtime_figures_become_prometheus_series() -> None:
    metrics = GatewayMetrics()
    latency = LatencyHistogram((0.01, 0.1))
    latency.observe(0.004)
    latency.observe(0.05, times=2)
    view = {
        "orders_by_broker": [["accepted", "paper", 3], ["denied", "paper", 2], ["filled", "alpaca", 1]],
        "denials_by_reason": {"KILL_SWITCH": 1, "MAX_POSITION": 1},
        "strategy_pnl": {"sma": {"realized": "1.5", "net": "1.25"}},
        "strategy_exposure": {"sma": "1234.50"},
        "account_pnl": {"net": "1.25"},
        "fills": 4,
    }
    risk = {"state": "active", "kill_switch": False}
    metrics.runtime(view, risk, [{"bar_to_order": latency.to_dict()}, {}], {"order-manager": 2})
    text = generate_latest(metrics.registry).decode()
    for line in (
        'dto_orders{broker="alpaca",status="filled"} 1.0',
        'dto_order_denials{reason="MAX_POSITION"} 1.0',
        'dto_strategy_exposure{strategy="sma"} 1234.5',
        'dto_actor_restarts{actor="order-manager"} 2.0',
        'dto_bar_to_order_seconds_bucket{le="0.01"} 1.0',
        'dto_bar_to_order_seconds_bucket{le="0.1"} 3.0',
        'dto_bar_to_order_seconds_bucket{le="+Inf"} 3.0',
        "dto_bar_to_order_seconds_count 3.0",
        "dto_bar_to_order_seconds_sum 0.104",
        "dto_runtime_up 1.0",
    ):
        assert line in text, line
    metrics.runtime(None, None, None, None)  # nothing answered: the runtime is down, the last figures stay
    assert "dto_runtime_up 0.0" in generate_latest(metrics.registry).decode()


def test_every_series_the_grafana_dashboard_queries_is_exported() -> None:
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "grafana" / "dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"\bdto_[a-z_]+", target["expr"])
    }
    metrics = GatewayMetrics()
    latency = LatencyHistogram()
    latency.observe(0.01)
    view = {"orders_by_broker": [["filled", "paper", 1]], "denials_by_reason": {"KILL_SWITCH": 1},
            "strategy_pnl": {"sma": {"net": "1"}}, "strategy_exposure": {"sma": "10"}, "account_pnl": {"net": "1"},
            "fills": 1}
    metrics.runtime(view, {"state": "active", "kill_switch": False}, [{"bar_to_order": latency.to_dict()}], {"x": 0})
    metrics.requests.labels("GET", "/health", "200").inc()
    metrics.latency.labels("GET", "/health").observe(0.001)
    exported = set(re.findall(r"^(dto_[a-z_]+)", generate_latest(metrics.registry).decode(), re.MULTILINE))
    assert queried and queried <= exported, sorted(queried - exported)
