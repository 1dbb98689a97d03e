"""`LiveLoop`: the in-process live runtime, deterministic, wiring the same core objects the actors host.

MarketDataFeed -> PaperBroker.on_bars -> StrategyHost(s) -> RiskEngine -> OrderManager -> PaperBroker.step
and back (events -> OrderManager -> StrategyHost). The actors run exactly this routing with Ray calls between
the steps; this class is the reference the actor test is compared against, and the parity test runs every
built-in strategy through it against the backtester.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trading.data.bars import Bar
from trading.live.market_data import MarketDataFeed
from trading.live.oms import OrderManager
from trading.live.optimistic import OptimisticHost, Outcome, Plan, ShadowSpec, StepAnswer
from trading.live.strategy_host import HostState, HostStep, StrategyHost
from trading.messages import Message, OrderDenied, RiskStateChanged, SubmitOrder
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.orders import OrderStatus
from trading.risk.rules import RiskEngine

if TYPE_CHECKING:  # the paper broker imports this package's order-event rules
    from trading.brokers.paper import PaperBroker


@dataclass(frozen=True, slots=True)
class RoutedCommands:
    """Commands of one host step after the risk check: what goes to the broker, and the strategy's answers."""

    to_broker: list[Message]
    to_strategy: list[Message]
    recorded: list[ClientOrderId] = field(default_factory=list)  # orders this routing recorded as submitted


def route_commands(step: HostStep, risk: RiskEngine, oms: OrderManager) -> RoutedCommands:
    """Pre-trade risk for each new order; denials become `OrderDenied` events, the rest is recorded in the OMS."""
    after_ts = step.needs_sync_after_ts if step.needs_sync_after_ts is not None else 0
    routed = RoutedCommands([], [])
    for command in step.commands:
        if isinstance(command, SubmitOrder):
            order = command.order
            known = oms.orders.get(order.client_order_id)
            if known is not None:  # a resent step: the recorded answer stands
                reason = known.reason if known.status is OrderStatus.DENIED else None
            else:
                reason = risk.check(order, oms, order.ts_init)
            if reason is not None:
                routed.to_strategy.append(oms.deny(order, reason, after_ts))
                continue
            routed.to_strategy.append(oms.submit(order, after_ts))
            if known is None:
                routed.recorded.append(order.client_order_id)
            elif known.is_closed:
                continue  # closed without the venue (reconciled away, or never sent): it must not go now
        routed.to_broker.append(command)
    return routed


def close_unsent(oms: OrderManager, routed: RoutedCommands, after_ts: int) -> list[Message]:
    """The broker did not apply this step (`step_in_turn`): close the orders its routing recorded as submitted
    (`OrderManager.not_sent`). Returns the closing events."""
    closed = (oms.not_sent(cid, after_ts) for cid in routed.recorded)
    return [event for event in closed if event is not None]


def route_steps(
    steps: Sequence[HostStep],
    risk: RiskEngine,
    oms: OrderManager,
    mark: Callable[[HostStep], None] | None = None,
) -> list[RoutedCommands]:
    """`route_commands` for one strategy's steps in bar order (`mark` first marks each step's bar), stopping
    after the first step with a denial: a host stepping ahead on predicted answers decided the later steps
    assuming the order went through (`trading.live.optimistic`), so they must not reach a broker."""
    routed: list[RoutedCommands] = []
    for step in steps:
        if mark is not None:
            mark(step)
        routed.append(route_commands(step, risk, oms))
        if any(isinstance(event, OrderDenied) for event in routed[-1].to_strategy):
            break
    return routed


@dataclass
class LiveLoop:
    """`optimistic`: hosts step ahead on their paper broker's predicted answers (`trading.live.optimistic`),
    confirmed per batch; a divergence rebuilds the host from the order manager's record, as a restart does."""

    broker: PaperBroker
    oms: OrderManager = field(default_factory=OrderManager)
    risk: RiskEngine = field(default_factory=RiskEngine)
    feed: MarketDataFeed = field(default_factory=MarketDataFeed)
    runners: list[OptimisticHost] = field(default_factory=list)
    events: list[Message] = field(default_factory=list)  # denials, rejections, risk changes, market-data rejects
    optimistic: bool = False
    history: dict[InstrumentId, list[Bar]] = field(default_factory=dict)  # what a rebuilt host replays

    @property
    def hosts(self) -> list[StrategyHost]:
        return [runner.host for runner in self.runners]

    def add_strategy(self, host: StrategyHost, bar_interval_ns: int | None = None) -> None:
        self.oms.register(host.instrument_obj)
        self.broker.register(host.instrument_obj, bar_interval_ns)
        self.broker.pace(host.strategy_id)
        shadow = ShadowSpec(self.broker.config, bar_interval_ns) if self.optimistic else None
        self.runners.append(OptimisticHost(host, shadow))
        host.start()

    def run(self, source: Iterable[tuple[InstrumentId, Sequence[Bar]]]) -> None:
        for instrument_id, bars in source:
            self.on_bars(instrument_id, bars)

    def on_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> None:
        good, rejected = self.feed.validate(instrument_id, bars)
        self.events += rejected
        if not good:
            return
        self.history.setdefault(instrument_id, []).extend(good)
        self.oms.on_bar(instrument_id, good[-1])
        self.oms.apply(self.broker.on_bars(instrument_id, good))
        for runner in self.runners:
            if runner.host.instrument_id == instrument_id:
                runner.on_bars(good)
                self.drive(runner)

    def drive(self, runner: OptimisticHost) -> None:
        """Step a host as far as the data and the broker allow."""
        while True:
            plan = runner.plan()
            if not plan.steps:
                return
            outcome = runner.confirm(plan, self._route(runner.host, plan))
            if outcome is Outcome.WAITING:
                return  # the broker has no newer bar yet: wait for market data
            if outcome is Outcome.DIVERGED:
                old = runner.host
                sid = old.strategy_id
                bars = self.history.get(old.instrument_id, [])
                runner.rebuilt(rebuild_host(old, self.oms.history(sid), bars, self.oms.last_order_seq(sid)))

    def _route(self, host: StrategyHost, plan: Plan) -> list[StepAnswer]:
        """What the order manager actor does with a strategy's steps: risk, record, step the broker (which
        stops at a failed prediction), book; the answers end before the first step the broker did not apply."""
        steps = plan.host_steps
        routed = route_steps(steps, self.risk, self.oms)
        calls = [
            (host.strategy_id, host.instrument_id, r.to_broker, step.needs_sync_after_ts or 0, prediction)
            for step, r, prediction in zip(steps, routed, plan.predictions, strict=False)
        ]
        answers: list[StepAnswer] = []
        for step, r, result in zip(steps, routed, self.broker.step_many(calls), strict=False):
            self.events += [e for e in r.to_strategy if isinstance(e, OrderDenied)]
            after_ts = step.needs_sync_after_ts or 0
            if not result.sent:
                self.events += close_unsent(self.oms, r, after_ts)
                continue
            self.oms.apply(result.events, after_ts=after_ts)
            answers.append((r.to_strategy, result.events, result.horizon_ts))
        return answers

    def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        change = self.risk.set_kill_switch(on, reason, now_ns)
        if change is not None:
            self.events.append(change)
        return change

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()


def rebuild_host(
    old: StrategyHost, records: Iterable[tuple[int, Message]], bars: Sequence[Bar], last_order_seq: int = 0
) -> StrategyHost:
    """A fresh host for `old`'s strategy (same class, parameters and id) that replays `bars` receiving the
    recorded events where `old` received them, sending nothing: the restart path, in process."""
    strategy = type(old.strategy)(old.strategy.config, old.strategy_id)
    host = StrategyHost(strategy, old.instrument_obj, history_cap=old.history_cap)
    host.load_journal(records, last_order_seq)
    host.start()
    if old.state is HostState.PAUSED:
        host.pause()
    host.on_bars(bars)
    return host
