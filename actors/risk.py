"""RiskActor: hosts the firm-wide `RiskEngine` (one for every strategy and broker)."""

from __future__ import annotations

from typing import Any

import ray

from actors.storage import ActorStorage
from trading.messages import RiskStateChanged
from trading.model.orders import Order
from trading.risk.rules import PortfolioView, RiskEngine, RiskLimits


@ray.remote
class RiskActor:
    """With a `redis_url` the kill switch lives in Redis (the firm-wide flag the gateway and every runtime
    share): each check reads it, so a switch set there halts trading, and a restarted actor honours it."""

    def __init__(
        self, limits: dict[str, Any] | None = None, *, redis_url: str | None = None, namespace: str = "dto"
    ) -> None:
        self.engine = RiskEngine(RiskLimits(**(limits or {})))
        self.storage = ActorStorage(None, redis_url, namespace)

    async def _sync_kill_switch(self, now_ns: int) -> None:
        await self.storage.open()
        if self.storage.cache is None:
            return
        on, reason = await self.storage.cache.kill_switch()
        if on != self.engine.kill_switch:
            self.engine.set_kill_switch(on, reason or "kill switch set in Redis", now_ns)

    async def check(self, orders: list[Order], view: PortfolioView) -> list[str | None]:
        """A denial reason (or None) per order, in order."""
        if orders:
            await self._sync_kill_switch(orders[0].ts_init)
        return [self.engine.check(order, view, order.ts_init) for order in orders]

    async def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        await self.storage.open()
        if self.storage.cache is not None:
            await self.storage.cache.set_kill_switch(on, reason)
        return self.engine.set_kill_switch(on, reason, now_ns)

    async def update_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.engine.update_limits(**changes).model_dump()

    async def status(self) -> dict[str, Any]:
        engine = self.engine
        return {"state": engine.state.value, "reason": engine.reason, "kill_switch": engine.kill_switch}

    # ---- for the gateway (issue 5)

    async def limits(self) -> dict[str, Any]:
        return self.engine.limits.model_dump()

    async def resume_trading(self, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        """Back to ACTIVE after a halt (refused while the kill switch is on)."""
        return self.engine.resume(reason, now_ns)
