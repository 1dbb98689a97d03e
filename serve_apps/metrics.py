"""Prometheus metrics of one gateway process: requests and latency per route, plus runtime figures (orders by
status, P&L per strategy, risk state) collected from the actors at scrape time."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dto_http_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "dto_http_request_duration_seconds",
            "time to the end of the response, by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.orders = Gauge("dto_orders", "orders in the order manager by status", ["status"], registry=r)
        self.pnl = Gauge("dto_strategy_pnl", "P&L per strategy (realized, unrealized, commissions, net)",
                         ["strategy", "kind"], registry=r)
        self.account_pnl = Gauge("dto_account_pnl", "account P&L", ["kind"], registry=r)
        self.fills = Gauge("dto_fills", "fills booked by the order manager", registry=r)
        self.halted = Gauge("dto_risk_halted", "1 when the risk engine halts trading", registry=r)
        self.kill_switch = Gauge("dto_kill_switch", "1 when the kill switch is on", registry=r)
        self.up = Gauge("dto_runtime_up", "1 when the runtime's actors answered the scrape", registry=r)

    def runtime(self, view: dict[str, Any] | None, risk: dict[str, Any] | None) -> None:
        self.up.set(1 if view is not None and risk is not None else 0)
        if view is not None:
            self.orders.clear()
            for status, count in view["orders_by_status"].items():
                self.orders.labels(status).set(count)
            self.pnl.clear()
            for strategy, pnl in view["strategy_pnl"].items():
                for kind, value in pnl.items():
                    self.pnl.labels(strategy, kind).set(float(value))
            for kind, value in view["account_pnl"].items():
                self.account_pnl.labels(kind).set(float(value))
            self.fills.set(view["fills"])
        if risk is not None:
            self.halted.set(1 if risk["state"] == "halted" else 0)
            self.kill_switch.set(1 if risk["kill_switch"] else 0)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (e.g. /v1/orders/{client_order_id})."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - started)
