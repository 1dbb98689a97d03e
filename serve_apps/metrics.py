"""Prometheus metrics of one gateway process: requests and latency per route, plus runtime figures collected
from the actors at scrape time (orders by status and broker, denials by reason, P&L and exposure per strategy,
risk state, actor restarts, the strategies' bar-to-order latency)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.latency import LATENCY_BUCKETS, LatencyHistogram, merged
from serve_apps.risk_routes import PortfolioGauges


class HistogramSnapshot:
    """A histogram whose values are kept elsewhere (the actors) and replaced at each scrape."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.value: LatencyHistogram | None = None

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation)
        if self.value is not None:
            cumulative = list(itertools.accumulate(self.value.counts))
            buckets = [(repr(bound), float(n)) for bound, n in zip(self.value.bounds, cumulative[:-1], strict=True)]
            family.add_metric([], [*buckets, ("+Inf", float(cumulative[-1]))], sum_value=self.value.total)
        yield family


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
        self.orders = Gauge("dto_orders", "orders in the order manager by status and broker", ["status", "broker"],
                            registry=r)
        self.denials = Gauge("dto_order_denials", "orders the risk engine denied, by reason code", ["reason"],
                             registry=r)
        self.exposure = Gauge("dto_strategy_exposure", "gross market value of each strategy's positions",
                              ["strategy"], registry=r)
        self.restarts = Gauge("dto_actor_restarts", "times Ray restarted each of the runtime's actors", ["actor"],
                              registry=r)
        self.bar_to_order = HistogramSnapshot(
            "dto_bar_to_order_seconds",
            "from a strategy actor receiving bars to the order manager's answer for the orders they made",
        )
        r.register(self.bar_to_order)
        self.pnl = Gauge("dto_strategy_pnl", "P&L per strategy (realized, unrealized, commissions, net)",
                         ["strategy", "kind"], registry=r)
        self.account_pnl = Gauge("dto_account_pnl", "account P&L", ["kind"], registry=r)
        self.fills = Gauge("dto_fills", "fills booked by the order manager", registry=r)
        self.halted = Gauge("dto_risk_halted", "1 when the risk engine halts trading", registry=r)
        self.kill_switch = Gauge("dto_kill_switch", "1 when the kill switch is on", registry=r)
        self.up = Gauge("dto_runtime_up", "1 when the runtime's actors answered the scrape", registry=r)
        self.portfolio = PortfolioGauges(r)

    def runtime(
        self,
        view: dict[str, Any] | None,
        risk: dict[str, Any] | None,
        strategies: list[dict[str, Any]] | None = None,
        restarts: dict[str, int] | None = None,
    ) -> None:
        """Set the runtime's figures from the actors' answers at scrape time (None: that actor did not answer)."""
        self.up.set(1 if view is not None and risk is not None else 0)
        if view is not None:
            self.orders.clear()
            for status, broker, count in view["orders_by_broker"]:
                self.orders.labels(status, broker).set(count)
            self.denials.clear()
            for reason, count in view["denials_by_reason"].items():
                self.denials.labels(reason).set(count)
            self.pnl.clear()
            for strategy, pnl in view["strategy_pnl"].items():
                for kind, value in pnl.items():
                    self.pnl.labels(strategy, kind).set(float(value))
            self.exposure.clear()
            for strategy, value in view["strategy_exposure"].items():
                self.exposure.labels(strategy).set(float(value))
            for kind, value in view["account_pnl"].items():
                self.account_pnl.labels(kind).set(float(value))
            self.fills.set(view["fills"])
        if risk is not None:
            self.halted.set(1 if risk["state"] == "halted" else 0)
            self.kill_switch.set(1 if risk["kill_switch"] else 0)
        self.portfolio.set(risk)
        if strategies is not None:
            self.bar_to_order.value = merged([s["bar_to_order"] for s in strategies if "bar_to_order" in s])
        if restarts is not None:
            self.restarts.clear()
            for actor, count in restarts.items():
                self.restarts.labels(actor).set(count)


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
