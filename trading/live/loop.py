"""`LiveLoop`: the in-process live runtime, deterministic, wiring the same core objects the actors host.

MarketDataFeed -> PaperBroker.on_bars -> StrategyHost(s) -> RiskEngine -> OrderManager -> PaperBroker.step
and back (events -> OrderManager -> StrategyHost). The actors run exactly this routing with Ray calls between
the steps; this class is the reference the actor test is compared against, and the parity test runs every
built-in strategy through it against the backtester.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trading.data.bars import Bar
from trading.live.market_data import MarketDataFeed
from trading.live.oms import OrderManager
from trading.live.strategy_host import HostStep, StrategyHost
from trading.messages import Message, OrderDenied, RiskStateChanged, SubmitOrder
from trading.model.identifiers import InstrumentId
from trading.model.orders import OrderStatus
from trading.risk.rules import RiskEngine

if TYPE_CHECKING:  # the paper broker imports this package's order-event rules
    from trading.brokers.paper import PaperBroker


@dataclass(frozen=True, slots=True)
class RoutedCommands:
    """Commands of one host step after the risk check: what goes to the broker, and the strategy's answers."""

    to_broker: list[Message]
    to_strategy: list[Message]


def route_commands(step: HostStep, risk: RiskEngine, oms: OrderManager) -> RoutedCommands:
    """Pre-trade risk for each new order; denials become `OrderDenied` events, the rest is recorded in the OMS."""
    after_ts = step.needs_sync_after_ts if step.needs_sync_after_ts is not None else 0
    to_broker: list[Message] = []
    to_strategy: list[Message] = []
    for command in step.commands:
        if isinstance(command, SubmitOrder):
            order = command.order
            known = oms.orders.get(order.client_order_id)
            if known is not None:  # a resent step: the recorded answer stands
                reason = known.reason if known.status is OrderStatus.DENIED else None
            else:
                reason = risk.check(order, oms, order.ts_init)
            if reason is not None:
                to_strategy.append(oms.deny(order, reason, after_ts))
                continue
            to_strategy.append(oms.submit(order, after_ts))
        to_broker.append(command)
    return RoutedCommands(to_broker, to_strategy)


@dataclass
class LiveLoop:
    broker: PaperBroker
    oms: OrderManager = field(default_factory=OrderManager)
    risk: RiskEngine = field(default_factory=RiskEngine)
    feed: MarketDataFeed = field(default_factory=MarketDataFeed)
    hosts: list[StrategyHost] = field(default_factory=list)
    events: list[Message] = field(default_factory=list)  # denials, rejections, risk changes, market-data rejects

    def add_strategy(self, host: StrategyHost) -> None:
        self.oms.register(host.instrument_obj)
        self.broker.register(host.instrument_obj)
        self.broker.pace(host.strategy_id)
        self.hosts.append(host)
        host.start()

    def run(self, source: Iterable[tuple[InstrumentId, Sequence[Bar]]]) -> None:
        for instrument_id, bars in source:
            self.on_bars(instrument_id, bars)

    def on_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> None:
        good, rejected = self.feed.validate(instrument_id, bars)
        self.events += rejected
        if not good:
            return
        self.oms.on_bar(instrument_id, good[-1])
        self.oms.apply(self.broker.on_bars(instrument_id, good))
        for host in self.hosts:
            if host.instrument_id == instrument_id:
                host.on_bars(good)
                self.drive(host)

    def drive(self, host: StrategyHost) -> None:
        """Step `host` as far as the data and the broker allow."""
        while True:
            step = host.advance()
            if step.needs_sync_after_ts is None:
                return
            routed = route_commands(step, self.risk, self.oms)
            self.events += [e for e in routed.to_strategy if isinstance(e, OrderDenied)]
            host.apply_events(routed.to_strategy)
            before = host.horizon_ts
            result = self.broker.step(host.strategy_id, host.instrument_id, routed.to_broker, step.needs_sync_after_ts)
            self.oms.apply(result.events, after_ts=step.needs_sync_after_ts)
            host.apply_events(result.events, result.horizon_ts)
            if not step.commands and host.horizon_ts <= before:
                return  # the broker has no newer bar yet: wait for market data

    def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        change = self.risk.set_kill_switch(on, reason, now_ns)
        if change is not None:
            self.events.append(change)
        return change

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
