"""The paper venue: the core's `SimulatedVenue` behind the `ExecutionClient` protocol.

It is a venue like any other to the runtime: orders go in through `submit_order` / `cancel_order` /
`replace_order`, and what the venue does with them comes out of `execution_reports()`, in order. What makes it a
paper venue is where its prices come from: the runtime hands it the same bars the strategies receive
(`on_bar`), and it matches working orders against each bar before the strategies see that bar, as the
backtester does. The session end of a bar (DAY orders expire) runs when the next bar arrives, before it is
matched: after the strategies had their turn at the session's last bar, as in a backtest.

Each strategy has its own book (a `SimulatedVenue` sharing the one account), which judges reduce-only orders by
that strategy's own fills, as its backtest does, not by the account's position that other strategies move too.

Durability: the venue is a deterministic function of its inputs (bars and order commands). With a journal, each
input is appended before it is applied, and `rebuild` replays them into a fresh client: a restarted broker actor
holds exactly the venue it had, and reports nothing twice (a rebuild produces no reports).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from typing import Any

from trading.brokers.protocol import (
    AccountReport,
    ExecutionReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    ReconciliationReport,
)
from trading.data.bars import Bar
from trading.errors import FixRequest
from trading.execution.reports import report_of
from trading.live.journal import Journal, JournalEntryLike
from trading.live.order_events import event_order_id, fresh_copy
from trading.messages import Message, OrderFilled, OrderRejected
from trading.model.accounts import Account
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Accounting, Instrument
from trading.model.orders import Order
from trading.sim.models import SimConfig
from trading.sim.sessions import NS_PER_MINUTE, bar_session_state
from trading.sim.venue import SimulatedVenue

HISTORY_BARS = 20_000  # bars kept per instrument for `history` (warm-up of a strategy added later)


@dataclasses.dataclass
class _Market:
    """What the venue knows of one instrument's prices."""

    instrument: Instrument
    bars: list[Bar] = dataclasses.field(default_factory=list)
    in_session: bool = True
    session_end: bool = False  # the last bar ended a session (its end runs when the next bar arrives)


class PaperExecutionClient:
    """A simulated venue account. Implements `trading.brokers.protocol.ExecutionClient`."""

    def __init__(
        self,
        name: str,
        instruments: Sequence[Instrument],
        *,
        starting_cash: Decimal = Decimal(100_000),
        currency: str = "USD",
        sim: SimConfig | None = None,
        bar_interval_ns: int = NS_PER_MINUTE,
        journal: Journal | None = None,
        stream: str = "",
    ) -> None:
        self.name = name
        self.ledger = Account.open(name, starting_cash, currency)
        self.sim = sim or SimConfig()
        self.bar_interval_ns = bar_interval_ns
        self.journal = journal
        self.stream = stream or f"paper:{name}"
        self.markets: dict[InstrumentId, _Market] = {}
        for instrument in instruments:
            self.ledger.register(instrument)
            self.markets[instrument.id] = _Market(instrument)
        self.books: dict[str, SimulatedVenue] = {}  # strategy id -> its own book
        self.owner_of: dict[ClientOrderId, str] = {}
        self.fills: list[Fill] = []
        self.reports: asyncio.Queue[ExecutionReport] = asyncio.Queue()
        self._replaying = False

    # ------------------------------------------------------------------------------------- market data
    def on_bar(self, instrument_id: InstrumentId, bar: Bar) -> None:
        """A new bar: run the previous bar's session end, then match every book against this bar."""
        market = self._market(instrument_id)
        if market.bars and bar.ts <= market.bars[-1].ts:
            return  # a bar the venue has seen (a resent batch): matched once
        self._record("bar", {"instrument_id": str(instrument_id), "bar": [bar.ts, bar.open, bar.high, bar.low,
                                                                            bar.close, bar.volume]})
        if market.session_end and market.bars:
            for book in self.books.values():
                self._emit(book.end_of_session(instrument_id, market.bars[-1].ts), bar.ts)
        market.in_session, market.session_end = bar_session_state(market.instrument, bar.ts, self.bar_interval_ns)
        market.bars.append(bar)
        del market.bars[:-HISTORY_BARS]
        for book in self.books.values():
            self._emit(book.on_bar(instrument_id, bar, market.in_session), bar.ts)
        if market.instrument.accounting is Accounting.MARGIN and self.ledger.quantity(instrument_id) != 0:
            self.ledger.mark_to_market(instrument_id, market.instrument.make_price(bar.close))

    # ------------------------------------------------------------------------------------ order writes
    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def submit_order(self, order: Order) -> OrderReport:
        """Accept (or reject) `order`; idempotent by client order id (a resend changes nothing)."""
        known = self._find(order.client_order_id)
        if known is not None:
            return report_of(known, self.now_ns())
        market = self._market(order.instrument_id)  # an unknown instrument: FixRequest, nothing booked
        self._record("submit", {"order": order.to_dict()})
        mine = fresh_copy(order)
        book = self._book(str(order.strategy_id))
        self.owner_of[order.client_order_id] = str(order.strategy_id)
        last = market.bars[-1] if market.bars else None
        self._emit(book.submit(mine, last, market.in_session), self.now_ns())
        return report_of(mine, self.now_ns())

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport:
        order = self._known(client_order_id)
        if order.is_open:
            self._record("cancel", {"client_order_id": client_order_id})
            self._emit(self.books[self.owner_of[client_order_id]].cancel(client_order_id, self.now_ns()),
                       self.now_ns())
        return report_of(order, self.now_ns())

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport:
        order = self._known(client_order_id)
        self._record("replace", {"client_order_id": client_order_id, "quantity": _text(quantity),
                                 "limit_price": _text(limit_price), "stop_price": _text(stop_price)})
        book = self.books[self.owner_of[client_order_id]]
        events = book.replace(client_order_id, self.now_ns(), quantity=quantity, limit_price=limit_price,
                              stop_price=stop_price)
        refused = [e for e in events if isinstance(e, OrderRejected)]
        if refused:
            raise FixRequest(f"paper venue {self.name}: {refused[0].reason}", venue=self.name)
        self._emit(events, self.now_ns())
        return report_of(order, self.now_ns())

    # -------------------------------------------------------------------------------------- reads
    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None:
        order = self._find(client_order_id)
        return None if order is None else report_of(order, self.now_ns())

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]:
        now = self.now_ns()
        return [report_of(o, now) for book in self.books.values() for o in book.open_orders(instrument_id)]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        return [f for f in self.fills if f.ts >= since_ns]

    async def positions(self) -> list[PositionReport]:
        marks = self.marks()
        return [
            PositionReport(i, p.quantity, p.avg_price, p.unrealized_pnl(marks[i]) if i in marks else None)
            for i, p in self.ledger.positions.items()
            if p.quantity != 0
        ]

    async def account_report(self) -> AccountReport:
        marks = self.marks()
        unmarked = any(p.quantity != 0 and i not in marks for i, p in self.ledger.positions.items())
        equity = self.ledger.cash if unmarked else self.ledger.equity(marks)
        return AccountReport(self.name, self.ledger.currency, self.ledger.cash, equity, equity)

    async def account(self) -> AccountReport:
        return await self.account_report()

    async def instrument(self, symbol: str) -> Instrument:
        for instrument_id, market in self.markets.items():
            if symbol in (instrument_id.symbol, str(instrument_id)):
                return market.instrument
        raise FixRequest(f"paper venue {self.name}: unknown instrument {symbol!r}", venue=self.name)

    async def reconcile(self, since_ns: int) -> ReconciliationReport:
        return ReconciliationReport(
            open_orders=await self.open_orders(),
            fills=await self.fills_since(since_ns),
            positions=await self.positions(),
            account=await self.account_report(),
            ts=self.now_ns(),
        )

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        return [b for b in self._market(instrument_id).bars if start_ns <= b.ts < end_ns]

    async def venue_time_ns(self) -> int:
        return self.now_ns()

    def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """The paper venue has no feed of its own: bars reach it through `on_bar`."""
        return _nothing()

    async def execution_reports(self) -> AsyncIterator[ExecutionReport]:
        while True:
            yield await self.reports.get()

    # -------------------------------------------------------------------------------------- state
    def now_ns(self) -> int:
        """Venue time: the end of the newest bar it has (market time, not this machine's clock)."""
        last = max((m.bars[-1].ts for m in self.markets.values() if m.bars), default=None)
        return 0 if last is None else last + self.bar_interval_ns

    def marks(self) -> dict[InstrumentId, Decimal]:
        return {i: m.instrument.make_price(m.bars[-1].close) for i, m in self.markets.items() if m.bars}

    def rebuild(self, entries: Iterable[JournalEntryLike]) -> int:
        """Replay journaled inputs (in order) into this fresh client without reporting them again."""
        applied = 0
        self._replaying = True
        try:
            for entry in entries:
                if entry.stream != self.stream:
                    continue
                payload = entry.payload
                if entry.kind == "bar":
                    row = payload["bar"]
                    self.on_bar(InstrumentId.parse(payload["instrument_id"]),
                                Bar(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]),
                                    float(row[5])))
                elif entry.kind == "submit":
                    _run(self.submit_order(Order.from_dict(payload["order"])))
                elif entry.kind == "cancel":
                    _run(self.cancel_order(ClientOrderId(payload["client_order_id"])))
                elif entry.kind == "replace":
                    _run(self.replace_order(ClientOrderId(payload["client_order_id"]),
                                            quantity=_decimal(payload["quantity"]),
                                            limit_price=_decimal(payload["limit_price"]),
                                            stop_price=_decimal(payload["stop_price"])))
                else:
                    continue
                applied += 1
        finally:
            self._replaying = False
        return applied

    # ---------------------------------------------------------------------------------- internals
    def _record(self, kind: str, payload: dict[str, Any]) -> None:
        if self.journal is not None and not self._replaying:
            self.journal.append(self.stream, kind, payload)

    def _book(self, owner: str) -> SimulatedVenue:
        book = self.books.get(owner)
        if book is None:
            # Trade ids stay unique across books and paper accounts: each book's venue name carries both.
            venue = f"{self.sim.venue}-{self.name}-{owner}"
            book = SimulatedVenue(self.ledger, dataclasses.replace(self.sim, venue=venue))
            book.judge_by_own_position()
            for instrument_id, market in self.markets.items():
                if market.bars:
                    book.last_bars[instrument_id] = market.bars[-1]
            self.books[owner] = book
        return book

    def _emit(self, events: list[Message], ts: int) -> None:
        """Turn the venue's events into execution reports, in order, as a venue's stream would send them."""
        for event in events:
            if isinstance(event, OrderFilled):
                self.fills.append(event.fill)
            cid = event_order_id(event)
            order = self._find(cid) if cid is not None else None
            if order is None or self._replaying:
                continue
            reason = getattr(event, "reason", "")
            report = report_of(order, _event_ts(event, ts), reason if isinstance(reason, str) else "")
            self.reports.put_nowait(ExecutionReport(report, event.fill if isinstance(event, OrderFilled) else None))

    def _find(self, client_order_id: ClientOrderId) -> Order | None:
        owner = self.owner_of.get(client_order_id)
        if owner is None:
            return None
        book = self.books.get(owner)
        return book.orders.get(client_order_id) if book is not None else None

    def _known(self, client_order_id: ClientOrderId) -> Order:
        order = self._find(client_order_id)
        if order is None:
            raise FixRequest(f"paper venue {self.name}: unknown order {client_order_id}", venue=self.name)
        return order

    def _market(self, instrument_id: InstrumentId) -> _Market:
        market = self.markets.get(instrument_id)
        if market is None:
            raise FixRequest(f"paper venue {self.name}: unknown instrument {instrument_id}", venue=self.name)
        return market


def _event_ts(event: Message, default: int) -> int:
    if isinstance(event, OrderFilled):
        return event.fill.ts
    ts = getattr(event, "ts", default)
    return ts if isinstance(ts, int) else default


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _run(coroutine: Any) -> Any:
    """Drive one of this client's coroutines to its end: none of them awaits anything (they are async only for
    the protocol), so a rebuild can replay them synchronously."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a paper venue coroutine awaited something during a rebuild")


async def _nothing() -> AsyncIterator[MarketEvent]:
    return
    yield  # an async generator that ends at once
