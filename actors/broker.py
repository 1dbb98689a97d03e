"""BrokerActor: hosts one broker connection (the paper broker by default)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ray

from trading.brokers.paper import BrokerStep, PaperBroker
from trading.brokers.protocol import AccountReport, PositionReport, ReconciliationReport
from trading.data.bars import Bar
from trading.messages import Message
from trading.model.fills import Fill
from trading.model.identifiers import InstrumentId
from trading.model.instruments import Instrument
from trading.sim.models import SimConfig


@ray.remote
class BrokerActor:
    def __init__(
        self, starting_cash: Decimal, currency: str = "USD", sim: SimConfig | None = None, name: str = "paper"
    ) -> None:
        self.broker = PaperBroker.open(starting_cash, currency, sim, name=name)

    async def register(self, instrument: Instrument, bar_interval_ns: int | None = None) -> None:
        self.broker.register(instrument, bar_interval_ns)

    async def pace(self, owner: str) -> None:
        self.broker.pace(owner)

    async def on_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> list[Message]:
        return self.broker.on_bars(instrument_id, bars)

    async def step(self, owner: str, instrument_id: InstrumentId, commands: list[Message], done_ts: int) -> BrokerStep:
        return self.broker.step(owner, instrument_id, commands, done_ts)

    async def reconcile(self, since_ns: int = 0) -> ReconciliationReport:
        return await self.broker.reconcile(since_ns)

    async def fills(self) -> list[Fill]:
        return list(self.broker.fills)

    async def positions(self) -> list[PositionReport]:
        return await self.broker.positions()

    async def account(self) -> AccountReport:
        return await self.broker.account()

    async def status(self) -> dict[str, Any]:
        report = self.broker.account_report()
        return {
            "name": self.broker.name,
            "cash": str(report.cash),
            "equity": str(report.equity),
            "fills": len(self.broker.fills),
            "open_orders": len(self.broker.open_order_list()),
        }
