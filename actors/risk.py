"""RiskActor: hosts the firm-wide `RiskEngine` (one for every strategy and broker)."""

from __future__ import annotations

from typing import Any

import ray

from trading.messages import RiskStateChanged
from trading.model.orders import Order
from trading.risk.rules import PortfolioView, RiskEngine, RiskLimits


@ray.remote
class RiskActor:
    def __init__(self, limits: dict[str, Any] | None = None) -> None:
        self.engine = RiskEngine(RiskLimits(**(limits or {})))

    async def check(self, orders: list[Order], view: PortfolioView) -> list[str | None]:
        """A denial reason (or None) per order, in order."""
        return [self.engine.check(order, view, order.ts_init) for order in orders]

    async def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        return self.engine.set_kill_switch(on, reason, now_ns)

    async def update_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.engine.update_limits(**changes).model_dump()

    async def status(self) -> dict[str, Any]:
        engine = self.engine
        return {"state": engine.state.value, "reason": engine.reason, "kill_switch": engine.kill_switch}
