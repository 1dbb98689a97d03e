"""`LiveLoop`: the live runtime in one process, on the same core objects and order path the actors host.

One bar of a replay, in the order the backtester has (the "replay clock"; the actors follow the same phases):

1. the venue gets the bar and matches its working orders against it; its reports reach the order manager and,
   through it, the strategies (fills before the strategies see the bar);
2. the order manager marks the bar; each strategy of the instrument steps it, and its commands go through
   pre-trade risk and the journal to the venue, whose answers come back before the strategy's next bar;
3. the venue's reports of those writes (acceptances, fills in `close` timing) are delivered.

Nothing here predicts an answer or waits for one that is not coming: the clock only decides when the next bar
is handed out. Tests compare it with the backtester and with the actors.
"""

from __future__ import annotations

from collections.abc import Iterable

from trading.data.bars import Bar
from trading.execution.paper import PaperExecutionClient
from trading.live.market_data import MarketDataFeed
from trading.live.oms import OrderManager
from trading.live.order_events import event_order_id
from trading.live.routing import book_answer, route_commands, write
from trading.live.strategy_host import StrategyHost
from trading.messages import Message, OrderDenied, OrderFilled, OrderRejected, RiskStateChanged
from trading.model.identifiers import InstrumentId, StrategyId
from trading.risk.rules import RiskEngine


class LiveLoop:
    """Strategies, one paper venue, the order manager and the risk rules, wired in process."""

    def __init__(
        self,
        venue: PaperExecutionClient,
        oms: OrderManager | None = None,
        risk: RiskEngine | None = None,
        feed: MarketDataFeed | None = None,
    ) -> None:
        self.venue = venue
        self.oms = oms or OrderManager(account_id=venue.name)
        self.risk = risk or RiskEngine()
        self.feed = feed or MarketDataFeed()
        self.hosts: dict[StrategyId, StrategyHost] = {}
        self.events: list[Message] = []  # denials, rejections, risk changes, market-data rejects
        self.bar_ts: dict[InstrumentId, int] = {}  # the last bar the strategies of each instrument stepped

    def add_strategy(self, host: StrategyHost) -> None:
        self.oms.register(host.instrument_obj)
        self.hosts[host.strategy_id] = host
        host.start()

    def replace_host(self, host: StrategyHost) -> None:
        """Put a rebuilt host in its strategy's place (the restart path)."""
        self.hosts[host.strategy_id] = host

    async def run(self, bars: Iterable[tuple[InstrumentId, Bar]]) -> None:
        for instrument_id, bar in bars:
            await self.on_bar(instrument_id, bar)

    async def on_bar(self, instrument_id: InstrumentId, bar: Bar) -> None:
        good, rejected = self.feed.validate(instrument_id, [bar])
        self.events += rejected
        if not good:
            return
        self.venue.on_bar(instrument_id, bar)
        self._deliver_reports()
        self.oms.on_bar(instrument_id, bar)
        self.bar_ts[instrument_id] = bar.ts
        for host in self.hosts.values():
            if host.instrument_id == instrument_id:
                host.on_bars([bar])
                await self._drive(host)
        self._deliver_reports()

    async def _drive(self, host: StrategyHost) -> None:
        while (step := host.advance()).commands:
            after_ts = step.bar_ts or 0
            routed = route_commands(step.commands, self.risk, self.oms, self.venue.name, after_ts)
            self.events += [e for e in routed.answers if isinstance(e, OrderDenied)]
            host.apply_events(routed.answers)
            for command in routed.to_venue:
                booked = book_answer(self.oms, command, await write(self.venue, command), self.venue.name, after_ts)
                self.events += [e for e in booked if isinstance(e, OrderRejected)]
                host.apply_events(booked)

    def _deliver_reports(self) -> None:
        while not self.venue.reports.empty():
            report = self.venue.reports.get_nowait()
            after_ts = self.bar_ts.get(report.order.instrument_id, 0)
            self._hand_out(self.oms.on_report(report, self.venue.name, after_ts))

    def _hand_out(self, events: list[Message]) -> None:
        for event in events:
            owner = self._owner(event)
            host = self.hosts.get(owner) if owner is not None else None
            if host is not None:
                host.apply_events([event])

    def _owner(self, event: Message) -> StrategyId | None:
        if isinstance(event, OrderFilled):
            return event.fill.strategy_id
        cid = event_order_id(event)
        order = self.oms.orders.get(cid) if cid is not None else None
        return order.strategy_id if order is not None else None

    def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        change = self.risk.set_kill_switch(on, reason, now_ns)
        if change is not None:
            self.events.append(change)
        return change

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()


def rebuild_host(
    old: StrategyHost, records: Iterable[tuple[int, Message]], bars: Iterable[Bar], last_order_seq: int = 0
) -> StrategyHost:
    """A fresh host for `old`'s strategy (same class, parameters, id and order ids) that replays `bars`,
    receiving the recorded events where `old` received them and sending nothing: the restart path, in process."""
    strategy = type(old.strategy)(old.strategy.config, old.strategy_id)
    host = StrategyHost(strategy, old.instrument_obj, history_cap=old.history_cap, order_id_prefix=old.order_id_prefix)
    host.load_journal(records, last_order_seq)
    host.start()
    host.on_bars(list(bars))
    while host.advance().commands:
        pass  # commands of recorded bars were sent before the restart: the replay drops them
    return host
