"""`build_app(settings)`: the gateway as a plain FastAPI app (Serve wraps it; uvicorn can run it as is)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serve_apps import alert_routes, market_routes, research, risk_routes, v1, web
from serve_apps.admission import AdmissionMiddleware, AuthFailures
from serve_apps.errors import ERROR_RESPONSES, ApiError, install_error_handlers
from serve_apps.metrics import GatewayMetrics, MetricsMiddleware
from serve_apps.schemas import Health, Readiness
from serve_apps.security import Principal, document_security, need
from serve_apps.services import Services
from serve_apps.settings import GatewaySettings
from trading.auth import Scope

ReadScope = Annotated[Principal, Depends(need(Scope.READ))]

DESCRIPTION = """The Day Trading Orchestrator's HTTP API.

Authenticate with an API key (`dto keys create --scope read|trade|admin`) in `X-API-Key`, or with a short-lived
token from `POST /v1/auth/token` in `Authorization: Bearer <token>`. Scopes: `read` for GETs, `trade` for
orders and strategy control, `admin` for risk limits and the kill switch. Every error is
`{"error": {"code", "message", "field"?}}`; a 502/503 on an order write says `order_state: unknown`: retry with
the same `client_order_id` (it is idempotent).
"""


def build_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    svc = Services(settings)
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await svc.close()

    app = FastAPI(
        title="Day Trading Orchestrator",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.services = svc
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(
        AdmissionMiddleware,
        max_body_bytes=settings.max_body_bytes,
        auth_failures=AuthFailures(settings.auth_failures, settings.auth_failure_window_s),
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: refusals are counted too
    app.include_router(v1.router)
    app.include_router(research.router)
    app.include_router(market_routes.router)
    app.include_router(risk_routes.router)  # /v1/risk/portfolio, /v1/risk/stress
    app.include_router(alert_routes.router)  # /v1/alerts: notifications, test alerts, dead letters
    app.include_router(web.router)  # /ui: the command center
    document_security(app, [v1.router, research.router, market_routes.router, risk_routes.router, alert_routes.router])

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui")

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health() -> Health:
        """The process is up (no auth, no dependencies)."""
        return Health()

    @app.get(
        "/ready",
        response_model=Readiness,
        tags=["operations"],
        responses={**ERROR_RESPONSES, 503: {"model": Readiness, "description": "something is down"}},
    )
    async def ready(_: ReadScope) -> Any:
        """Actors, PostgreSQL and Redis reachable; 503 with the failing check otherwise."""
        checks = await svc.readiness()
        body = Readiness(ready=all(checks.values()), checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    async def metrics_endpoint(_: ReadScope) -> Response:
        """Prometheus metrics: requests and latency per route; orders by status and broker, denials by reason,
        P&L and exposure per strategy, risk state, actor restarts and the strategies' bar-to-order latency."""
        view = risk = None
        with contextlib.suppress(ApiError):
            view, risk = await asyncio.gather(
                svc.read_within(2.0, svc.runtime.order_metrics), svc.read_within(2.0, svc.runtime.risk_status)
            )
        strategies, restarts = await asyncio.gather(svc.strategy_statuses(), svc.actor_restarts())
        metrics.runtime(view, risk, strategies, restarts)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def services_of(app: FastAPI) -> Services:
    svc: Services = app.state.services
    return svc
