"""OrderManagerActor: hosts the `OrderManager`; the one hop between a strategy and risk + broker.

Start path (also the restart path): rebuild from the journal, then reconcile with the broker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from trading.data.bars import Bar
from trading.live import InMemoryJournal, OrderManager, route_commands
from trading.live.strategy_host import HostStep
from trading.messages import Message, SubmitOrder
from trading.model.identifiers import InstrumentId, StrategyId
from trading.model.instruments import Instrument
from trading.risk.rules import RiskEngine


class _RemoteRiskAnswers(RiskEngine):
    """Answers `check` from reasons the risk actor already gave for this batch (one call per batch)."""

    def __init__(self, reasons: dict[str, str | None]) -> None:
        super().__init__()
        self._reasons = reasons

    def check(self, order: Any, view: Any, now_ns: int) -> str | None:
        return self._reasons.get(order.client_order_id)


@ray.remote
class OrderManagerActor:
    def __init__(self, namespace: str, risk_name: str, broker_name: str) -> None:
        self.namespace = namespace
        self.risk_name = risk_name
        self.broker_name = broker_name
        self.journal = InMemoryJournal()  # issue 4 step 3 swaps in PostgreSQL through BufferedJournal
        self.oms = OrderManager(self.journal)
        self.lock = asyncio.Lock()
        self.started = False
        self._handles: dict[str, Any] = {}

    def _actor(self, name: str) -> Any:
        # A handle stays valid across the other actor's restarts: look each name up once.
        if name not in self._handles:
            self._handles[name] = ray.get_actor(name, namespace=self.namespace)
        return self._handles[name]

    async def start(self) -> dict[str, Any]:
        async with self.lock:
            if not self.started:
                self.oms = OrderManager(self.journal)
                self.oms.rebuild(self.journal.entries)
                report = await self._actor(self.broker_name).reconcile.remote(0)
                self.oms.reconcile(report)
                self.started = True
        return self.oms.snapshot()

    async def register(self, instrument: Instrument) -> None:
        self.oms.register(instrument)

    async def on_bars(self, instrument_id: InstrumentId, bars: list[Bar], events: list[Message]) -> None:
        if bars:
            self.oms.on_bar(instrument_id, bars[-1])
        self.oms.apply(events)

    async def route(
        self, strategy_id: StrategyId, instrument_id: InstrumentId, step: HostStep
    ) -> tuple[list[Message], list[Message], int]:
        """Risk-check and record a strategy's commands, step the broker; returns (answers, events, horizon)."""
        assert step.needs_sync_after_ts is not None
        async with self.lock:
            orders = [c.order for c in step.commands if isinstance(c, SubmitOrder)]
            reasons: dict[str, str | None] = {}
            if orders:
                answers = await self._actor(self.risk_name).check.remote(orders, self.oms.portfolio_snapshot())
                reasons = {o.client_order_id: r for o, r in zip(orders, answers, strict=True)}
            routed = route_commands(step, _RemoteRiskAnswers(reasons), self.oms)
            result = await self._actor(self.broker_name).step.remote(
                strategy_id, instrument_id, routed.to_broker, step.needs_sync_after_ts
            )
            self.oms.apply(result.events, after_ts=step.needs_sync_after_ts)
            return routed.to_strategy, result.events, result.horizon_ts

    async def history(self, strategy_id: StrategyId) -> tuple[list[tuple[int, Message]], int]:
        return self.oms.history(strategy_id), self.oms.last_order_seq(strategy_id)

    async def snapshot(self) -> dict[str, Any]:
        return self.oms.snapshot()

    async def position(self, instrument_id: InstrumentId) -> str:
        return str(self.oms.account_position(instrument_id))

    async def journal_size(self) -> int:
        return len(self.journal.entries)
