"""/v1/risk/portfolio and /v1/risk/stress: the live book's portfolio risk as the risk actor values it (VaR and ES
by method, exposures, concentration, contributions; firm-wide and per account) and stress tests of today's
positions; plus the Prometheus gauges of those figures. The limits themselves are `PATCH /v1/risk/limits`
(`RiskLimits`: max_var, max_es, max_concentration_pct, max_gross_exposure, max_net_exposure, and `accounts`)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from prometheus_client import CollectorRegistry, Gauge
from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve_apps.errors import ERROR_RESPONSES
from serve_apps.security import Principal, need, services
from serve_apps.services import Services
from trading.auth import Scope

router = APIRouter(prefix="/v1/risk", responses=ERROR_RESPONSES, tags=["risk"])
Svc = Annotated[Services, Depends(services)]
Read = Annotated[Principal, Depends(need(Scope.READ))]


class PortfolioRiskOut(BaseModel):
    """The book's risk at the risk actor's last valuation (money as strings, statistics as floats)."""

    state: str = Field(description="Trading state: active, reducing or halted")
    reason: str = Field(description="Why the state is what it is (a reason code first)")
    limits: dict[str, Any] = Field(description="The limits in force (RiskLimits)")
    breach: str | None = Field(description="The first portfolio limit the book is over, if any")
    model: dict[str, Any] | None = Field(description="Method, confidence, horizon and instruments of the risk model")
    figures: dict[str, Any] | None = Field(
        description="Firm-wide and per-account VaR, ES (money), gross and net exposure, concentration, and the "
        "marginal VaR/ES per unit of market value of each instrument (what the pre-trade checks estimate with)"
    )
    by_method: dict[str, dict[str, float]] = Field(description="Firm VaR and ES (money) by method")
    report: dict[str, Any] | None = Field(
        description="Contributions per position and per strategy, exposures, correlation, betas, days to exit"
    )
    report_error: str | None = Field(description="Why there is no report (e.g. no open position)")


class StressRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["historical", "hypothetical"] = Field(
        "historical", description="The worst days and weeks of the reference series, or shocks by asset class"
    )
    shocks: dict[str, float] | None = Field(
        None, description="hypothetical: return per asset class, e.g. {equity: -0.2, crypto: -0.4}"
    )

    @field_validator("shocks")
    @classmethod
    def _returns(cls, shocks: dict[str, float] | None) -> dict[str, float] | None:
        for name, value in (shocks or {}).items():
            if not math.isfinite(value) or value < -1:
                raise ValueError(f"{name}: a return must be finite and >= -1 (-0.2 is -20%), got {value}")
        return shocks


class StressOut(BaseModel):
    equity: str
    positions: int
    results: list[dict[str, Any]] = Field(description="Per scenario: P&L per position, per strategy, the account")


@router.get("/portfolio", response_model=PortfolioRiskOut)
async def portfolio(svc: Svc, _: Read) -> Any:
    """VaR and ES (by method), exposures, concentration and contributions of the live book, firm-wide and per
    account, at the risk actor's last valuation (after every position change and on a timer)."""
    return await svc.call(svc.runtime.portfolio_risk())


@router.post("/stress", response_model=StressOut, responses={422: {}})
async def stress(body: StressRequest, svc: Svc, _: Read) -> Any:
    """Today's positions under historical scenarios (the worst days and weeks of the risk model's reference
    series) or hypothetical shocks by asset class: P&L per position, per strategy and for the account."""
    return await svc.call(svc.runtime.stress_test(body.kind, body.shocks))


class PortfolioGauges:
    """Prometheus gauges of the risk actor's last valuation, per book (`firm`, `account:<name>`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.figures = Gauge(
            "dto_portfolio_risk",
            "the book's VaR, ES, gross and net exposure (money), largest position as % of equity, equity",
            ["book", "figure"],
            registry=registry,
        )

    def set(self, risk: dict[str, Any] | None) -> None:
        """From the risk actor's status (its `portfolio`); nothing when it did not answer."""
        if risk is None:
            return
        self.figures.clear()
        for book, figures in risk.get("portfolio", {}).items():
            for name, value in figures.items():
                self.figures.labels(book, name).set(float(value))
