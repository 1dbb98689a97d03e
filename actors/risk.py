"""RiskActor: the firm-wide risk authority (one for every strategy and broker).

It owns the limits, the trading state (ACTIVE / REDUCING / HALTED) and the kill switch, and runs the circuit
breakers on the equity the order manager reports once per market-data batch. The pre-trade checks themselves
run inside the order manager, on the same pure `RiskEngine` rules, following the `RiskGate` this actor hands
it: every order passes through the order manager anyway, and a check there costs no Ray hop on the order path.
A change is put in force at the order manager before the call that made it returns, so a kill switch stops the
very next order. With a `redis_url` the gate lives in Redis (a restarted actor resumes it) and the kill switch is
the firm-wide flag there: this actor follows the flag's channel, so a switch set by anyone halts this runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import ray
from ray.exceptions import RayActorError

from actors.storage import ActorStorage
from trading.messages import RiskStateChanged
from trading.risk.rules import RiskEngine, RiskGate, RiskLimits
from trading.storage import StorageError


@ray.remote
class RiskActor:
    def __init__(
        self,
        limits: dict[str, Any] | None = None,
        *,
        redis_url: str | None = None,
        namespace: str = "dto",
        order_manager: str | None = None,
    ) -> None:
        self.engine = RiskEngine(RiskLimits(**(limits or {})))
        self.storage = ActorStorage(None, redis_url, namespace)
        self.namespace = namespace
        self.order_manager = order_manager
        self.changes: list[RiskStateChanged] = []
        self.day: date | None = None
        self.loaded = False
        self._watcher: asyncio.Task[None] | None = None
        self._oms: Any = None

    async def _ready(self) -> None:
        """Start path (also after a restart): resume the saved gate and follow the firm-wide kill switch."""
        if self.loaded:
            return
        await self.storage.open()
        cache = self.storage.cache
        if cache is not None:
            saved = await cache.risk_gate()
            if saved is not None:
                self.engine.follow(RiskGate.from_dict(saved))
            on, reason = await cache.kill_switch()
            if on != self.engine.kill_switch:
                self._record(self.engine.set_kill_switch(on, reason or "kill switch set in Redis", 0))
            self._watcher = asyncio.create_task(self._follow_kill_switch())
        elif self.order_manager is not None:
            # No Redis: after a restart the order manager still holds the gate in force; take it back from there.
            with contextlib.suppress(RayActorError, ValueError, asyncio.TimeoutError):
                oms = ray.get_actor(self.order_manager, namespace=self.namespace)
                gate: RiskGate | None = await asyncio.wait_for(oms.risk_gate.remote(), timeout=5.0)
                if gate is not None:
                    self.engine.follow(gate)
        self.loaded = True

    async def _follow_kill_switch(self) -> None:
        assert self.storage.cache is not None
        with contextlib.suppress(StorageError, OSError):
            async with self.storage.cache.subscribe("kill_switch") as flags:
                async for flag in flags:
                    on, reason = bool(flag.get("on")), str(flag.get("reason", ""))
                    if on != self.engine.kill_switch:
                        self._record(self.engine.set_kill_switch(on, reason or "kill switch set in Redis", 0))
                        await self._publish(save=True)

    def _record(self, change: RiskStateChanged | None) -> RiskStateChanged | None:
        if change is not None:
            self.changes = [*self.changes[-99:], change]
        return change

    async def _publish(self, *, save: bool) -> None:
        """Save the gate (Redis) and put it in force at the order manager before answering."""
        gate = self.engine.gate()
        if save and self.storage.cache is not None:
            await self.storage.cache.set_risk_gate(gate.to_dict())
        if self.order_manager is None:
            return
        try:
            if self._oms is None:  # a handle survives the order manager's restarts: look it up once
                self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
            await self._oms.follow_risk.remote(gate)
        except (RayActorError, ValueError):
            pass  # not created yet, or restarting: its start path asks for the gate

    # ------------------------------------------------------------------------------- for the order manager
    async def gate(self) -> RiskGate:
        """The gate pre-trade checks follow (the order manager asks on its start path)."""
        await self._ready()
        return self.engine.gate()

    async def on_equity(self, equity: Decimal, now_ns: int) -> RiskGate | None:
        """The firm's equity at `now_ns` (once per batch); returns the new gate if a circuit breaker tripped.
        The daily loss is measured from the first equity of each UTC day."""
        await self._ready()
        day = datetime.fromtimestamp(now_ns / 1e9, UTC).date()
        if day != self.day:
            self.day = day
            self.engine.start_day(equity)
        change = self._record(self.engine.on_equity(equity, now_ns))
        if change is None:
            return None
        if self.storage.cache is not None:
            await self.storage.cache.set_risk_gate(self.engine.gate().to_dict())
        return self.engine.gate()

    # ----------------------------------------------------------------------------- for people (the gateway)
    async def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        """Halt (or release) trading firm-wide. On: every working order at every venue is canceled, after the
        halt is in force at the order manager (so no new order slips in between)."""
        await self._ready()
        if self.storage.cache is not None:
            await self.storage.cache.set_kill_switch(on, reason)
        change = self._record(self.engine.set_kill_switch(on, reason, now_ns))
        await self._publish(save=True)
        if on:
            await self._order_manager_call("cancel_all", f"kill switch: {reason}")
        return change

    async def flatten(self, reason: str) -> list[str]:
        """Close every position at every venue (market orders, journaled). Returns the orders sent."""
        await self._ready()
        sent: list[str] = await self._order_manager_call("flatten", reason)
        return sent

    async def _order_manager_call(self, method: str, reason: str) -> Any:
        if self.order_manager is None:
            return []
        if self._oms is None:
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        return await getattr(self._oms, method).remote(reason)

    async def update_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        await self._ready()
        limits = self.engine.update_limits(**changes).model_dump()
        await self._publish(save=True)
        return limits

    async def resume_trading(self, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        """Back to ACTIVE after a halt (refused while the kill switch is on)."""
        await self._ready()
        change = self._record(self.engine.resume(reason, now_ns))
        await self._publish(save=True)
        return change

    async def limits(self) -> dict[str, Any]:
        await self._ready()
        return self.engine.limits.model_dump()

    async def status(self) -> dict[str, Any]:
        await self._ready()
        engine = self.engine
        return {"state": engine.state.value, "reason": engine.reason, "kill_switch": engine.kill_switch}

    async def state_changes(self) -> list[RiskStateChanged]:
        """The last 100 trading-state changes, oldest first."""
        return list(self.changes)
