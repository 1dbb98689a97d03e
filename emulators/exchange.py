"""One emulated venue account over recorded bars: the simulated venue's matching, a clock, and listeners.

Pure Python: no Ray, no networking. A protocol server (`emulators.alpaca`, a Binance one, ...) owns one
`EmulatedExchange` and turns its events into the venue's wire format.

The clock. The union of every symbol's bar open times is t0 < t1 < ... < tN. Before the first `advance()`
nothing is published and `now_ns` is t0 (the market is about to open). `advance()` number k (k = 0, 1, ...):

1. for each symbol with a bar opening at tk, in the order the symbols were given: the venue matches the
   orders working before tk against that bar (`SimulatedVenue.on_bar`, called before the bar is published,
   as the backtester does), futures are marked to the bar's close;
2. listeners get the `OrderUpdate`s that matching produced, then a `BarClosed` for the bar: the bar that
   opened at tk is published once the clock has moved past its whole interval;
3. a bar that ends its instrument's session expires that instrument's DAY orders (`OrderUpdate`s).

Afterwards `now_ns` is the end of the latest published bar (tk plus the symbol's bar interval), so an order
submitted now works from the next bar on: a market order fills at the next bar's open, exactly like a
strategy's order in `trading.backtest.engine`. `history()` returns published bars only (no look-ahead).
`advance()` returns False once every bar is published.

Threads. Every public method takes one re-entrant lock, so a test may step the clock from its own thread
while a server reads from its asyncio loop thread. Listeners are called synchronously, in the thread that
caused the event, while the lock is held: they must not block or call back into another thread that
waits for this exchange (a server hands each event to its own loop with `call_soon_threadsafe`).

Money is exact: prices, quantities and cash are Decimals booked by `trading.model.accounts.Account`.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from trading.data.bars import Bar, BarSeries
from trading.errors import InvalidValue
from trading.messages import Message, OrderEventMessage, OrderFilled
from trading.model.accounts import Account
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from trading.model.instruments import Accounting, Instrument
from trading.model.orders import Order, OrderSide, OrderType, TimeInForce
from trading.model.positions import Position
from trading.sim.models import SimConfig
from trading.sim.sessions import infer_bar_interval, session_calendar
from trading.sim.venue import SimulatedVenue

HAND_STRATEGY = StrategyId("hand")  # the strategy id of orders placed outside the system under test


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One order event from the venue, with a copy of the venue's order right after the operation that made
    it (several events of one operation share that state) and the fill for `OrderFilled`."""

    message: Message
    order: Order
    fill: Fill | None = None


@dataclass(frozen=True, slots=True)
class BarClosed:
    """A bar published by the clock: `bar` opened at `bar.ts` and closed at `end_ns`."""

    symbol: str
    instrument_id: InstrumentId
    bar: Bar
    end_ns: int


ExchangeEvent = OrderUpdate | BarClosed
Listener = Callable[[ExchangeEvent], None]


@dataclass(slots=True)
class _Feed:
    """One symbol's recorded bars and how far the clock has published them."""

    instrument: Instrument
    series: BarSeries
    interval_ns: int
    in_session: list[bool]
    session_end: list[bool]
    published: int = 0  # bars [0, published) are public


class EmulatedExchange:
    """One venue account trading recorded bars through `SimulatedVenue`, stepped by a clock (see module doc)."""

    def __init__(
        self,
        data: Mapping[str, tuple[Instrument, BarSeries]],
        *,
        cash: Decimal,
        currency: str = "USD",
        sim: SimConfig | None = None,
        account_id: str = "EMULATED",
    ) -> None:
        if not data:
            raise InvalidValue("an emulated exchange needs at least one symbol's bars")
        self._lock = threading.RLock()
        self.account = Account.open(account_id, cash, currency)
        self.venue = SimulatedVenue(self.account, sim)
        self._feeds: dict[str, _Feed] = {}
        self._by_instrument: dict[InstrumentId, str] = {}
        for symbol, (instrument, series) in data.items():
            if len(series) == 0:
                raise InvalidValue(f"{symbol}: no bars")
            self.account.register(instrument)
            interval = infer_bar_interval(series.ts)
            in_session, session_end = session_calendar(instrument, series.ts, interval)
            self._feeds[symbol] = _Feed(instrument, series, interval, in_session.tolist(), session_end.tolist())
            self._by_instrument[instrument.id] = symbol
        self._times: list[int] = np.unique(np.concatenate([f.series.ts for f in self._feeds.values()])).tolist()
        self._step = -1  # index into `_times` of the latest published bar time
        self._now_ns: int = int(self._times[0])
        self._listeners: list[Listener] = []
        self._fills: list[Fill] = []
        self._by_venue_id: dict[VenueOrderId, ClientOrderId] = {}
        self._hand_seq = itertools.count(1)

    # ------------------------------------------------------------------------------------------ instruments
    @property
    def symbols(self) -> list[str]:
        return list(self._feeds)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument traded under `symbol` (KeyError if unknown)."""
        return self._feeds[symbol].instrument

    def symbol_of(self, instrument_id: InstrumentId) -> str:
        return self._by_instrument[instrument_id]

    def bar_interval_ns(self, symbol: str) -> int:
        return self._feeds[symbol].interval_ns

    # ----------------------------------------------------------------------------------------------- clock
    @property
    def now_ns(self) -> int:
        """Venue time: the end of the latest published bar (t0 before the first `advance`)."""
        with self._lock:
            return self._now_ns

    @property
    def finished(self) -> bool:
        """Every bar is published."""
        with self._lock:
            return self._step + 1 >= len(self._times)

    @property
    def next_bar_ns(self) -> int | None:
        """The open time of the next bar to publish, None at the end of data."""
        with self._lock:
            return None if self.finished else self._times[self._step + 1]

    def is_open(self, symbol: str) -> bool:
        """Is `symbol`'s session open now (the bar starting at `now_ns` would be in session)?"""
        feed = self._feeds[symbol]
        with self._lock:
            if not feed.instrument.sessions:
                return True
            return feed.instrument.in_session(self._now_ns)

    def advance(self) -> bool:
        """Publish the next bar time (module doc, steps 1-3). False at the end of data, where nothing happens."""
        with self._lock:
            if self.finished:
                return False
            self._step += 1
            ts = self._times[self._step]
            for symbol, feed in self._feeds.items():
                i = feed.published
                if i >= len(feed.series) or int(feed.series.ts[i]) != ts:
                    continue
                bar = feed.series.bar(i)
                instrument = feed.instrument
                self._dispatch(self.venue.on_bar(instrument.id, bar, feed.in_session[i]))
                if instrument.accounting is Accounting.MARGIN and self.account.quantity(instrument.id) != 0:
                    self.account.mark_to_market(instrument.id, instrument.make_price(bar.close))
                feed.published = i + 1
                end = ts + feed.interval_ns
                self._now_ns = max(self._now_ns, end)
                self._notify(BarClosed(symbol, instrument.id, bar, end))
                if feed.session_end[i]:
                    self._dispatch(self.venue.end_of_session(instrument.id, ts))
            return True

    async def run(self, interval_s: float) -> None:
        """Advance one bar time every `interval_s` seconds until the end of data (demos; tests step by hand)."""
        while self.advance():
            await asyncio.sleep(interval_s)

    # ---------------------------------------------------------------------------------------------- orders
    def submit(self, order: Order) -> list[Message]:
        """Send `order` to the venue (idempotent by client order id). It works from the next bar on."""
        with self._lock:
            symbol = self._by_instrument.get(order.instrument_id)
            feed = self._feeds[symbol] if symbol is not None else None
            bar: Bar | None = None
            in_session = False
            if feed is not None and feed.published:
                bar = feed.series.bar(feed.published - 1)
                in_session = feed.in_session[feed.published - 1]
            elif feed is not None:
                # No bar of this symbol yet: a stand-in dated just before now gives the order an arrival time
                # before the symbol's first bar, so that bar may fill it. Out of session, so `close` timing
                # never fills at its (meaningless) prices.
                nan = float("nan")
                bar = Bar(self._now_ns - 1, nan, nan, nan, nan, 0.0)
            events = self.venue.submit(order, bar, in_session)
            if order.venue_order_id is not None:
                self._by_venue_id[order.venue_order_id] = order.client_order_id
            self._dispatch(events)
            return events

    def submit_by_hand(
        self,
        symbol: str,
        side: OrderSide,
        quantity: Decimal,
        order_type: OrderType = OrderType.MARKET,
        *,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order outside the system under test (a person on the venue's website): its client order id
        is one the system never made (`hand-<n>` unless given). Returns the venue's order."""
        with self._lock:
            order = Order(
                client_order_id=ClientOrderId(client_order_id or f"hand-{next(self._hand_seq)}"),
                strategy_id=HAND_STRATEGY,
                instrument_id=self._feeds[symbol].instrument.id,
                side=side,
                order_type=order_type,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                time_in_force=time_in_force,
                ts_init=self._now_ns,
            )
            self.submit(order)
            return order

    def cancel(self, client_order_id: ClientOrderId) -> list[Message]:
        """Cancel a working order (no events if it is unknown or already closed)."""
        with self._lock:
            events = self.venue.cancel(client_order_id, self._now_ns)
            self._dispatch(events)
            return events

    def replace(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> list[Message]:
        """Modify a working order in place (`SimulatedVenue.replace`): `OrderUpdated` or `OrderRejected`."""
        with self._lock:
            events = self.venue.replace(
                client_order_id, self._now_ns, quantity=quantity, limit_price=limit_price, stop_price=stop_price
            )
            self._dispatch(events)
            return events

    def order(self, client_order_id: str) -> Order | None:
        with self._lock:
            return self.venue.orders.get(ClientOrderId(client_order_id))

    def order_by_venue_id(self, venue_order_id: str) -> Order | None:
        with self._lock:
            coid = self._by_venue_id.get(VenueOrderId(venue_order_id))
            return None if coid is None else self.venue.orders.get(coid)

    def orders(self, *, open_only: bool = False) -> list[Order]:
        """Every order the venue took, in arrival order (only working and held ones with `open_only`)."""
        with self._lock:
            return [o for o in self.venue.orders.values() if o.is_open or not open_only]

    def fills(self) -> list[Fill]:
        with self._lock:
            return list(self._fills)

    # --------------------------------------------------------------------------------------------- account
    def positions(self) -> dict[InstrumentId, Position]:
        """Non-flat positions."""
        with self._lock:
            return {i: p for i, p in self.account.positions.items() if p.quantity != 0}

    @property
    def cash(self) -> Decimal:
        with self._lock:
            return self.account.cash

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest published close, exact on the tick grid."""
        with self._lock:
            return self.venue.last_price(self._feeds[symbol].instrument.id)

    def marks(self) -> dict[InstrumentId, Decimal]:
        """Last published close per instrument; a position with no published bar is marked at its cost."""
        with self._lock:
            marks = self.venue.marks()
            for instrument_id, position in self.account.positions.items():
                marks.setdefault(instrument_id, position.avg_price)
            return marks

    def equity(self) -> Decimal:
        """Cash plus positions at the latest published closes."""
        with self._lock:
            return self.account.equity(self.marks())

    # ------------------------------------------------------------------------------------------------ data
    def last_bar(self, symbol: str) -> Bar | None:
        with self._lock:
            feed = self._feeds[symbol]
            return feed.series.bar(feed.published - 1) if feed.published else None

    def history(self, symbol: str, start_ns: int, end_ns: int) -> list[Bar]:
        """Published bars of `symbol` with `start_ns <= ts < end_ns` (a bar not yet closed is never included)."""
        with self._lock:
            feed = self._feeds[symbol]
            ts = feed.series.ts[: feed.published]
            lo = int(np.searchsorted(ts, start_ns, side="left"))
            hi = int(np.searchsorted(ts, end_ns, side="left"))
            return [feed.series.bar(i) for i in range(lo, hi)]

    # ------------------------------------------------------------------------------------------- listeners
    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every `OrderUpdate` and `BarClosed` from now on (see Threads in the module doc)."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, event: ExchangeEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _dispatch(self, events: Iterable[Message]) -> None:
        snapshots: dict[ClientOrderId, Order] = {}
        for message in events:
            fill: Fill | None = None
            if isinstance(message, OrderFilled):
                fill = message.fill
                self._fills.append(fill)
                coid = fill.client_order_id
            elif isinstance(message, OrderEventMessage):
                coid = message.client_order_id
            else:
                continue
            order = self.venue.orders.get(coid)
            if order is None:
                continue
            if order.venue_order_id is not None:
                self._by_venue_id[order.venue_order_id] = coid
            snapshot = snapshots.get(coid)
            if snapshot is None:
                snapshot = snapshots[coid] = copy.copy(order)
            self._notify(OrderUpdate(message, snapshot, fill))
