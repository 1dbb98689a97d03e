"""The paper broker: the `Broker` protocol over the simulated venue, paced so paper trading equals the backtest.

The broker owns one account (cash, positions, fills: the truth for paper trading) and buffers recent bars per
instrument (`on_bars`). Each order owner (a strategy) has its own *book*: a `SimulatedVenue` sharing the
broker's account. A paced book (a strategy hosted by the live runtime) is matched one bar at a time as its
strategy reports progress through `step(owner, instrument_id, commands, done_ts)`:

1. the book catches up over the buffered bars up to `done_ts` (the bar the strategy just finished);
2. the strategy's commands from that bar are applied at that bar (created at bar j: accepted at bar j; in
   `close` timing a market order fills at bar j's close), then bar j's session end runs (DAY orders expire);
3. the book's orders are matched against the *next* buffered bar, and the fills are reported with the
   horizon `H` = the last bar matched.

So an order created at bar j that reaches the broker long after the broker saw bars j+1, j+2, ... is still
matched against bar j+1, j+2, ... in order, and a cancel decided at bar j+1 lands before bar j+2 is matched:
exactly the backtest's per-bar order (match, strategy, session end). A book that is not paced (orders sent
through the plain protocol by a person or another client) is matched eagerly as bars arrive.

A paced book judges reduce-only orders (and whether a fill opens or grows a position) by its own fills, as
its strategy's backtest does, not by the account's position, which other strategies move too.

Known limits (documented, not hidden): orders of different books in the same bar are matched book by book,
so a shared volume cap or a funds check between two strategies can differ from a single merged book.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import numpy as np

from trading.brokers.protocol import (
    AccountReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    ReconciliationReport,
)
from trading.data.bars import Bar
from trading.errors import FixRequest
from trading.live.order_events import fresh_copy
from trading.messages import CancelOrder, Message, OrderFilled, ReplaceOrder, SubmitOrder
from trading.model.accounts import Account
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Accounting, Instrument
from trading.model.orders import Order
from trading.model.pickling import PositionalPickle
from trading.sim.models import SimConfig
from trading.sim.sessions import infer_bar_interval, session_calendar
from trading.sim.venue import SimulatedVenue

NEVER = -(2**62)  # a timestamp before every bar
DEFAULT_BAR_BUFFER = 20_000
SHADOW_CASH = Decimal(10) ** 15  # a shadow never refuses for funds: the real account decides that


@dataclass(frozen=True, slots=True)
class BrokerStep(PositionalPickle):
    """What one `step` produced: events in order, and the bar (ts) through which the owner's orders are matched.
    `sent` is False for a step `step_in_turn` did not apply (an earlier step of its owner broke a prediction)."""

    events: list[Message]
    horizon_ts: int
    sent: bool = True


class StepPrediction(Protocol):
    """The answer an owner already stepped on (`trading.live.optimistic.Prediction`)."""

    def holds(self, events: Sequence[Message], horizon_ts: int) -> bool: ...


StepCall = tuple[str, InstrumentId, Sequence[Message], int, StepPrediction | None]


def step_in_turn(
    step: Callable[[str, InstrumentId, Sequence[Message], int], BrokerStep], calls: Sequence[StepCall]
) -> list[BrokerStep]:
    """Apply `(owner, instrument, commands, done_ts, prediction)` steps in order with `step`. An owner that
    stepped ahead on predicted answers decided each step assuming the ones before it were answered as
    predicted: the first answer that differs ends that owner's turn, and its later steps come back unapplied
    (`sent=False`): nothing its host decided on a wrong answer reaches the venue."""
    stopped: set[str] = set()
    results: list[BrokerStep] = []
    for owner, instrument_id, commands, done_ts, prediction in calls:
        if owner in stopped:
            results.append(BrokerStep([], NEVER, sent=False))
            continue
        result = step(owner, instrument_id, commands, done_ts)
        if prediction is not None and not prediction.holds(result.events, result.horizon_ts):
            stopped.add(owner)
        results.append(result)
    return results


@dataclass(slots=True)
class _BarBuffer:
    """Recent bars of one instrument with their session flags, oldest first."""

    instrument: Instrument
    capacity: int
    interval_ns: int | None
    ts: list[int] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    in_session: list[bool] = field(default_factory=list)
    session_end: list[bool] = field(default_factory=list)
    end_ts: list[int] = field(default_factory=list)  # the bars that end a session, by ts (found by bisection)

    def extend(self, bars: Sequence[Bar]) -> None:
        if not bars:
            return
        stamps = np.array([b.ts for b in bars], dtype=np.int64)
        if self.interval_ns is None:
            sample = np.concatenate([np.array(self.ts[-50:], dtype=np.int64), stamps])
            self.interval_ns = infer_bar_interval(sample) if len(sample) >= 2 else None
        interval = self.interval_ns or infer_bar_interval(stamps)
        inside, ends = session_calendar(self.instrument, stamps, interval)
        self.ts.extend(stamps.tolist())
        self.bars.extend(bars)
        self.in_session.extend(inside.tolist())
        self.session_end.extend(ends.tolist())
        self.end_ts.extend(stamps[ends].tolist())
        extra = len(self.ts) - self.capacity
        if extra > self.capacity // 4:  # trim in chunks: cheap amortized
            for column in (self.ts, self.bars, self.in_session, self.session_end):
                del column[:extra]
            del self.end_ts[: bisect.bisect_left(self.end_ts, self.ts[0])]

    def last_session_end(self, first_ts: int, last_ts: int) -> int | None:
        """The ts of the last session-ending bar from `first_ts` through `last_ts`, None if there is none."""
        k = bisect.bisect_right(self.end_ts, last_ts) - 1
        return self.end_ts[k] if k >= 0 and self.end_ts[k] >= first_ts else None

    def after(self, ts: int) -> int:
        """Index of the first bar later than `ts`."""
        return bisect.bisect_right(self.ts, ts)

    def at(self, ts: int) -> int | None:
        k = bisect.bisect_left(self.ts, ts)
        return k if k < len(self.ts) and self.ts[k] == ts else None

    @property
    def last_ts(self) -> int:
        return self.ts[-1] if self.ts else NEVER


@dataclass(slots=True)
class _Book:
    """One owner's orders at the paper venue."""

    owner: str
    venue: SimulatedVenue
    paced: bool
    done: dict[InstrumentId, int] = field(default_factory=dict)  # the last bar the owner finished
    matched: dict[InstrumentId, int] = field(default_factory=dict)  # the last bar this book was matched against
    ended: dict[InstrumentId, int] = field(default_factory=dict)  # the last bar whose session end ran
    outbox: list[Message] = field(default_factory=list)


class PaperBroker:
    """A paper-trading broker over the simulated venue; implements `trading.brokers.protocol.Broker`."""

    def __init__(
        self,
        account: Account,
        config: SimConfig | None = None,
        *,
        name: str = "paper",
        bar_buffer: int = DEFAULT_BAR_BUFFER,
    ) -> None:
        self.name = name
        self.ledger = account
        self.config = config or SimConfig()
        self.bar_buffer = bar_buffer
        self.fills: list[Fill] = []
        self._bars: dict[InstrumentId, _BarBuffer] = {}
        self._books: dict[str, _Book] = {}
        self._owner_of: dict[ClientOrderId, str] = {}
        self._fill_after: dict[str, int] = {}  # trade id -> done_ts of the paced step that reported it
        self.connected = False

    @classmethod
    def open(
        cls,
        starting_cash: Decimal | int | str,
        currency: str = "USD",
        config: SimConfig | None = None,
        *,
        name: str = "paper",
        account_id: str = "PAPER",
    ) -> PaperBroker:
        return cls(Account.open(account_id, starting_cash, currency), config, name=name)

    @classmethod
    def shadow(
        cls,
        owner: str,
        instrument: Instrument,
        config: SimConfig | None,
        bar_interval_ns: int | None,
        *,
        trades_so_far: int,
        position: Decimal,
        bars: Sequence[Bar],
    ) -> PaperBroker:
        """A private broker holding only `owner`'s paced book, with no orders, `position` held, `bars` buffered
        and fill ids continuing after `trades_so_far`: the owner's book as its real paper broker holds it
        whenever the owner has no live orders. A strategy host predicts its broker's answers with it
        (`trading.live.optimistic`)."""
        broker = cls.open(SHADOW_CASH, instrument.currency, config, name=f"shadow-{owner}")
        broker.register(instrument, bar_interval_ns)
        book = broker._book(owner)
        broker._pace(book, {instrument.id: position})
        book.venue.continue_trade_ids(trades_so_far)
        broker.on_bars(instrument.id, bars)
        return broker

    # ------------------------------------------------------------------------------------------ set-up
    def register(self, instrument: Instrument, bar_interval_ns: int | None = None) -> None:
        """Make `instrument` tradable; `bar_interval_ns` decides which bar ends a session (inferred if None)."""
        if instrument.id not in self.ledger.instruments:
            self.ledger.register(instrument)
        if instrument.id not in self._bars:
            self._bars[instrument.id] = _BarBuffer(instrument, self.bar_buffer, bar_interval_ns)

    def pace(self, owner: str) -> None:
        """Match `owner`'s orders only as its host reports progress through `step` (exact backtest parity)."""
        self._pace(self._book(owner))

    # ------------------------------------------------------------------------------------- market data
    def on_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> list[Message]:
        """Buffer validated bars; match the books that are not paced. Returns their events."""
        buffer = self._buffer(instrument_id)
        fresh = [b for b in bars if b.ts > buffer.last_ts]
        buffer.extend(fresh)
        instrument = buffer.instrument
        if instrument.accounting is Accounting.MARGIN and fresh and self.ledger.quantity(instrument_id) != 0:
            self.ledger.mark_to_market(instrument_id, instrument.make_price(fresh[-1].close))
        events: list[Message] = []
        for book in self._books.values():
            if not book.paced:
                self._catch_up(book, instrument_id, buffer.last_ts, end_last=True)
                events += self._drain(book)
        return events

    def last_bar(self, instrument_id: InstrumentId) -> Bar | None:
        buffer = self._bars.get(instrument_id)
        return buffer.bars[-1] if buffer is not None and buffer.bars else None

    # ------------------------------------------------------------------------------------- paced steps
    def step(
        self,
        owner: str,
        instrument_id: InstrumentId,
        commands: Sequence[Message],
        done_ts: int,
    ) -> BrokerStep:
        """`owner` finished bar `done_ts` and sent `commands` from it: apply them, match the next bar, report."""
        book = self._book(owner)
        self._pace(book)
        buffer = self._buffer(instrument_id)
        self._catch_up(book, instrument_id, done_ts, end_last=False)
        self._apply_commands(book, instrument_id, commands, done_ts)
        k = buffer.at(done_ts)
        if k is not None:
            self._end_session(book, instrument_id, k)
        if done_ts > book.done.get(instrument_id, NEVER):
            book.done[instrument_id] = done_ts
        nxt = buffer.after(book.done[instrument_id])
        if nxt < len(buffer.ts) and buffer.ts[nxt] > book.matched.get(instrument_id, NEVER):
            self._match(book, instrument_id, nxt)
        horizon = max(book.matched.get(instrument_id, NEVER), book.done[instrument_id])
        events = self._drain(book)
        for event in events:
            if isinstance(event, OrderFilled):
                self._fill_after[event.fill.trade_id] = done_ts
        return BrokerStep(events, horizon)

    def step_many(self, calls: Sequence[StepCall]) -> list[BrokerStep]:
        """`step_in_turn` over this broker's `step`."""
        return step_in_turn(self.step, calls)

    def all_orders(self) -> list[Order]:
        """Every order the venue holds (open and closed), book by book."""
        return [o for book in self._books.values() for o in book.venue.orders.values()]

    def owners(self) -> list[str]:
        """Every order owner (book) the broker knows."""
        return list(self._books)

    def drain(self, owner: str) -> list[Message]:
        """Events of `owner`'s book not yet handed out (e.g. after plain protocol calls)."""
        book = self._books.get(owner)
        return [] if book is None else self._drain(book)

    # -------------------------------------------------------------------------------- Broker protocol
    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def submit_order(self, order: Order) -> OrderReport:
        """Submit; idempotent by client order id (a resubmit returns the existing report)."""
        return self.submit(order)

    def submit(self, order: Order) -> OrderReport:
        known = self.find_order(order.client_order_id)
        if known is not None:
            return report_of(known)
        book = self._book(order.strategy_id)
        at = order.ts_init if book.paced else self._buffer(order.instrument_id).last_ts
        self._apply_commands(book, order.instrument_id, [SubmitOrder(order, order.ts_init)], at)
        venue_order = book.venue.orders[order.client_order_id]
        return report_of(venue_order)

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport:
        return self.cancel_now(client_order_id)

    def cancel_now(self, client_order_id: ClientOrderId) -> OrderReport:
        """Cancel at the owner's current bar (synchronous form of `cancel_order`)."""
        order = self._known(client_order_id)
        book = self._books[self._owner_of[client_order_id]]
        at = book.done.get(order.instrument_id, self._buffer(order.instrument_id).last_ts)
        self._apply_commands(book, order.instrument_id, [CancelOrder(client_order_id, order.strategy_id, at)], at)
        return report_of(order)

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport:
        order = self._known(client_order_id)
        book = self._books[self._owner_of[client_order_id]]
        at = book.done.get(order.instrument_id, self._buffer(order.instrument_id).last_ts)
        command = ReplaceOrder(client_order_id, order.strategy_id, quantity, limit_price, stop_price, at)
        self._apply_commands(book, order.instrument_id, [command], at)
        return report_of(order)

    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None:
        order = self.find_order(client_order_id)
        return None if order is None else report_of(order)

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]:
        return [report_of(o) for o in self.open_order_list(instrument_id)]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        return [f for f in self.fills if f.ts >= since_ns]

    async def positions(self) -> list[PositionReport]:
        return self.position_reports()

    async def account(self) -> AccountReport:
        return self.account_report()

    async def instrument(self, symbol: str) -> Instrument:
        for instrument_id, instrument in self.ledger.instruments.items():
            if instrument_id.symbol == symbol or str(instrument_id) == symbol:
                return instrument
        raise FixRequest(f"paper broker {self.name}: unknown instrument {symbol!r}", venue=self.name)

    def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """The paper broker has no stream of its own: market data reaches it through `on_bars`."""
        return _no_events()

    async def reconcile(self, since_ns: int) -> ReconciliationReport:
        return self.reconciliation(since_ns)

    # ---------------------------------------------------------------------------------- sync queries
    def find_order(self, client_order_id: ClientOrderId) -> Order | None:
        owner = self._owner_of.get(client_order_id)
        return None if owner is None else self._books[owner].venue.orders.get(client_order_id)

    def open_order_list(self, instrument_id: InstrumentId | None = None) -> list[Order]:
        return [o for book in self._books.values() for o in book.venue.open_orders(instrument_id)]

    def marks(self) -> dict[InstrumentId, Decimal]:
        return {i: b.instrument.make_price(b.bars[-1].close) for i, b in self._bars.items() if b.bars}

    def position_reports(self) -> list[PositionReport]:
        marks = self.marks()
        return [
            PositionReport(
                p.instrument_id,
                p.quantity,
                p.avg_price,
                p.unrealized_pnl(marks[i]) if i in marks else None,
            )
            for i, p in self.ledger.positions.items()
            if p.quantity != 0
        ]

    def equity(self) -> Decimal:
        marks = self.marks()
        open_without_mark = any(p.quantity != 0 and i not in marks for i, p in self.ledger.positions.items())
        return self.ledger.cash if open_without_mark else self.ledger.equity(marks)

    def account_report(self) -> AccountReport:
        equity = self.equity()
        return AccountReport(str(self.ledger.account_id), self.ledger.currency, self.ledger.cash, equity, equity)

    def reconciliation(self, since_ns: int = NEVER) -> ReconciliationReport:
        last = max((b.last_ts for b in self._bars.values()), default=0)
        return ReconciliationReport(
            open_orders=[report_of(o) for o in self.open_order_list()],
            fills=[f for f in self.fills if f.ts >= since_ns],
            positions=self.position_reports(),
            account=self.account_report(),
            ts=max(last, 0),
            fill_after_ts=dict(self._fill_after),
        )

    # ---------------------------------------------------------------------------------------- internals
    def _book(self, owner: str) -> _Book:
        book = self._books.get(owner)
        if book is None:
            config = dataclasses.replace(self.config, venue=f"{self.config.venue}-{owner}")
            book = _Book(owner, SimulatedVenue(self.ledger, config), paced=False)
            self._books[owner] = book
        return book

    @staticmethod
    def _pace(book: _Book, position: dict[InstrumentId, Decimal] | None = None) -> None:
        book.paced = True
        book.venue.judge_by_own_position(position)

    def _buffer(self, instrument_id: InstrumentId) -> _BarBuffer:
        buffer = self._bars.get(instrument_id)
        if buffer is None:
            instrument = self.ledger.instruments.get(instrument_id)
            if instrument is None:
                raise FixRequest(f"paper broker {self.name}: unknown instrument {instrument_id}", venue=self.name)
            self.register(instrument)
            buffer = self._bars[instrument_id]
        return buffer

    def _known(self, client_order_id: ClientOrderId) -> Order:
        order = self.find_order(client_order_id)
        if order is None:
            raise FixRequest(f"paper broker {self.name}: unknown order {client_order_id}", venue=self.name)
        return order

    def _drain(self, book: _Book) -> list[Message]:
        events, book.outbox = book.outbox, []
        return events

    def _emit(self, book: _Book, events: list[Message]) -> None:
        for event in events:
            if isinstance(event, OrderFilled):
                self.fills.append(event.fill)
        book.outbox += events

    def _catch_up(self, book: _Book, instrument_id: InstrumentId, through_ts: int, *, end_last: bool) -> None:
        """Match the book against buffered bars it has not seen, up to `through_ts` (the last one's session end
        only if `end_last`: a paced owner may still send commands from it)."""
        buffer = self._buffer(instrument_id)
        k = buffer.after(book.matched.get(instrument_id, NEVER))
        stop = buffer.after(through_ts)
        while k < stop:
            if not book.venue.has_working_orders:
                self._skip(book, instrument_id, k, stop, end_last=end_last)
                return
            self._match(book, instrument_id, k)
            if k < stop - 1 or end_last:
                self._end_session(book, instrument_id, k)
            k += 1

    def _skip(self, book: _Book, instrument_id: InstrumentId, k: int, stop: int, *, end_last: bool) -> None:
        """`_catch_up` over bars k..stop-1 for a book with no working orders: no bar can fill or expire anything,
        so only how far the book got is kept (most bars of a replay, one Python call per bar less)."""
        buffer = self._bars[instrument_id]
        last = stop - 1
        book.venue.last_bars[instrument_id] = buffer.bars[last]
        book.matched[instrument_id] = buffer.ts[last]
        ended_through = last if end_last else last - 1
        if ended_through >= k:
            ended = buffer.last_session_end(buffer.ts[k], buffer.ts[ended_through])
            if ended is not None and book.ended.get(instrument_id, NEVER) < ended:
                book.ended[instrument_id] = ended

    def _match(self, book: _Book, instrument_id: InstrumentId, k: int) -> None:
        buffer = self._bars[instrument_id]
        bar = buffer.bars[k]
        venue = book.venue
        if venue.has_working_orders:
            self._emit(book, venue.on_bar(instrument_id, bar, buffer.in_session[k]))
        else:
            venue.last_bars[instrument_id] = bar
        book.matched[instrument_id] = bar.ts

    def _end_session(self, book: _Book, instrument_id: InstrumentId, k: int) -> None:
        buffer = self._bars[instrument_id]
        ts = buffer.ts[k]
        if buffer.session_end[k] and book.ended.get(instrument_id, NEVER) < ts:
            book.ended[instrument_id] = ts
            self._emit(book, book.venue.end_of_session(instrument_id, ts))

    def _apply_commands(
        self, book: _Book, instrument_id: InstrumentId, commands: Sequence[Message], at_ts: int
    ) -> None:
        if not commands:
            return
        buffer = self._buffer(instrument_id)
        k = buffer.at(at_ts)
        bar = buffer.bars[k] if k is not None else None
        in_session = buffer.in_session[k] if k is not None else True
        venue = book.venue
        if bar is not None:
            venue.last_bars[instrument_id] = bar  # a trailing stop takes its reference from the creation bar
        for command in commands:
            if isinstance(command, SubmitOrder):
                order = command.order
                if self.find_order(order.client_order_id) is not None:
                    continue  # idempotent by client order id
                self._owner_of[order.client_order_id] = book.owner
                self._emit(book, venue.submit(fresh_copy(order), bar, in_session))
            elif isinstance(command, CancelOrder):
                self._emit(book, venue.cancel(command.client_order_id, at_ts))
            elif isinstance(command, ReplaceOrder):
                self._emit(
                    book,
                    venue.replace(
                        command.client_order_id,
                        at_ts,
                        quantity=command.quantity,
                        limit_price=command.limit_price,
                        stop_price=command.stop_price,
                    ),
                )
        latest = buffer.bars[-1] if buffer.bars else None
        if latest is not None and book.matched.get(instrument_id, NEVER) >= latest.ts:
            venue.last_bars[instrument_id] = latest


def report_of(order: Order) -> OrderReport:
    """The venue's view of an order as an `OrderReport`."""
    return OrderReport(
        client_order_id=order.client_order_id,
        venue_order_id=order.venue_order_id,
        instrument_id=order.instrument_id,
        side=order.side,
        order_type=order.order_type,
        quantity=order.quantity,
        filled_quantity=order.filled_quantity,
        status=order.status,
        avg_fill_price=order.avg_fill_price,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        time_in_force=order.time_in_force,
        ts=order.ts_last,
        reason=order.reason,
    )


async def _no_events() -> AsyncIterator[MarketEvent]:
    return
    yield  # an async generator that ends at once
