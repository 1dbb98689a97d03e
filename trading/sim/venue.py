"""The simulated venue: accepts orders, matches them against bars and books fills into its account.

Matching rules for a bar with open/high/low/close (o, h, l, c), for an order that was working before it:
- market: fills at o (next_open), or at the signal bar's c when created in `close` timing.
- limit buy L: o <= L fills at o (a gap gives the better price), else l <= L fills at L. Sells mirror.
- stop buy S: o >= S fills at o (gapped through), else h >= S fills at S. Sells mirror. Slippage applies.
- stop-limit: the stop triggers as above, then it is a limit order: it fills on the trigger bar only if
  the trigger price satisfies the limit, else it works as a limit from the next bar.
- trailing stop: checked against the stop level from previous bars, then the level ratchets with this
  bar's high (sells) or low (buys). Intrabar order is unknown, so the check comes first (conservative).
Outside the trading session nothing fills; DAY orders expire at the session's end (without sessions: at
the end of the UTC day of the first bar they could fill on). Reduce-only orders never open, grow or flip
a position: they are cut to the position or canceled. IOC and FOK are
decided on their first eligible bar. With a volume cap, fills are partial and capped per bar.
The paper broker and the backtester both use this class, so they agree fill for fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from trading.data.bars import Bar
from trading.messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
)
from trading.model.accounts import Account
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, TradeId, VenueOrderId
from trading.model.instruments import Accounting, Instrument
from trading.model.orders import (
    OPEN_STATUSES,
    ContingencyType,
    Order,
    OrderSide,
    OrderStatus,
    OrderTrigger,
    OrderType,
    TimeInForce,
)
from trading.sim.models import FillTiming, SimConfig

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
NS_PER_DAY = 86_400_000_000_000

# Enum members read for every order, looked up once: on Python 3.11 reading a member off its Enum class goes
# through the `EnumType.__getattr__` hook and costs about four times a module global.
_BUY = OrderSide.BUY
_SELL = OrderSide.SELL
_MARKET = OrderType.MARKET
_TRAILING_STOP = OrderType.TRAILING_STOP
_DAY = TimeInForce.DAY
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK
_OCO = ContingencyType.OCO
_FILLED = OrderStatus.FILLED
_SUBMIT = OrderTrigger.SUBMIT
_ACCEPT = OrderTrigger.ACCEPT
_AT_CLOSE = FillTiming.CLOSE


@dataclass(slots=True)
class _Working:
    """Venue-side state of one working order."""

    order: Order
    accepted_ts: int  # the bar time it arrived at: it may fill only on later bars
    triggered: bool = False
    trail_stop: Decimal | None = None
    watermark: Decimal | None = None
    first_day: int | None = None  # UTC day of the first bar it could fill on (DAY orders without sessions)


class _DecimalBar:
    """A bar's prices as exact Decimals, each converted on first use: a market order only needs the open."""

    __slots__ = ("_bar", "_close", "_high", "_instrument", "_low", "_open")

    def __init__(self, instrument: Instrument, bar: Bar) -> None:
        self._instrument = instrument
        self._bar = bar
        self._open: Decimal | None = None
        self._high: Decimal | None = None
        self._low: Decimal | None = None
        self._close: Decimal | None = None

    @property
    def open(self) -> Decimal:
        if self._open is None:
            self._open = self._instrument.make_price(self._bar.open)
        return self._open

    @property
    def high(self) -> Decimal:
        if self._high is None:
            self._high = self._instrument.make_price(self._bar.high)
        return self._high

    @property
    def low(self) -> Decimal:
        if self._low is None:
            self._low = self._instrument.make_price(self._bar.low)
        return self._low

    @property
    def close(self) -> Decimal:
        if self._close is None:
            self._close = self._instrument.make_price(self._bar.close)
        return self._close


class SimulatedVenue:
    """A venue for backtests and paper trading; it owns the venue-side account."""

    def __init__(self, account: Account, config: SimConfig | None = None) -> None:
        self.account = account
        self.config = config or SimConfig()
        self.orders: dict[ClientOrderId, Order] = {}
        self._working: dict[ClientOrderId, _Working] = {}
        # The same dict, never rebound: a hot loop may test it for "anything working?" without a property call.
        self.working_by_id: dict[ClientOrderId, _Working] = self._working
        self._held: dict[ClientOrderId, list[Order]] = {}  # OTO parent -> children waiting for its fill
        self._trade_seq = 0
        # None: reduce-only and "opens or grows a position" are judged on the account's position. A dict: on
        # this venue's own fills (a paper broker's book for one strategy of several sharing an account).
        self.own_positions: dict[InstrumentId, Decimal] | None = None
        self.last_bars: dict[InstrumentId, Bar] = {}  # hot loops may set this directly when nothing works
        self._volume_left: dict[InstrumentId, Decimal | None] = {}
        self._volume_ts: dict[InstrumentId, int] = {}  # the bar `_volume_left` belongs to

    def judge_by_own_position(self, positions: dict[InstrumentId, Decimal] | None = None) -> None:
        """Judge reduce-only orders (and whether a fill opens or grows a position) by this venue's own fills,
        starting from `positions`, instead of by the shared account's position."""
        if self.own_positions is None:
            self.own_positions = dict(positions or {})

    def continue_trade_ids(self, trades_so_far: int) -> None:
        """Number the next fill after `trades_so_far`, as a venue that already booked that many fills would."""
        self._trade_seq = trades_so_far

    # ------------------------------------------------------------------------------------------ queries
    @property
    def has_working_orders(self) -> bool:
        return bool(self._working)

    def working_orders(self, instrument_id: InstrumentId | None = None) -> list[Order]:
        return [
            w.order for w in self._working.values() if instrument_id is None or w.order.instrument_id == instrument_id
        ]

    def has_open_orders(self, instrument_id: InstrumentId) -> bool:
        """Any working (or held bracket-child) order in `instrument_id`? Cheap: strategies ask every bar."""
        if self._working and any(w.order.instrument_id == instrument_id for w in self._working.values()):
            return True
        return bool(self._held) and any(o.instrument_id == instrument_id for c in self._held.values() for o in c)

    def open_orders(self, instrument_id: InstrumentId | None = None) -> list[Order]:
        """Working orders plus bracket children waiting for their parent."""
        held = [o for children in self._held.values() for o in children]
        return self.working_orders(instrument_id) + [
            o for o in held if instrument_id is None or o.instrument_id == instrument_id
        ]

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None:
        """The last bar's close as an exact price (converted on demand: most bars never need it)."""
        bar = self.last_bars.get(instrument_id)
        if bar is None:
            return None
        return self.account.instruments[instrument_id].make_price(bar.close)

    def marks(self) -> dict[InstrumentId, Decimal]:
        return {i: p for i in self.last_bars if (p := self.last_price(i)) is not None}

    # ----------------------------------------------------------------------------------------- commands
    def submit(self, order: Order, bar: Bar | None, in_session: bool = True) -> list[Message]:
        """Accept (or reject) an order created while `bar` was the latest bar; may fill at once in `close` timing."""
        if order.client_order_id in self.orders:
            # Idempotent by client order id: a resend of a known order changes nothing.
            return []
        self.orders[order.client_order_id] = order
        now = bar.ts if bar is not None else order.ts_init
        order.apply(_SUBMIT, now)
        problem = self._validate(order)
        if problem:
            order.apply(OrderTrigger.REJECT, now, problem)
            return [OrderRejected(order.client_order_id, order.strategy_id, order.instrument_id, now, problem)]
        if order.parent_id is not None:
            parent = self.orders[order.parent_id]  # known: `_validate` checked
            if parent.is_open or parent.filled_quantity == 0:
                # Wait for the parent; if it is already done without a fill, the release cancels at once.
                self._held.setdefault(order.parent_id, []).append(order)
                order.apply(OrderTrigger.ACCEPT, now)
                order.venue_order_id = VenueOrderId(f"{self.config.venue}-{order.client_order_id}")
                accepted = OrderAccepted(
                    order.client_order_id, order.strategy_id, order.instrument_id, now, order.venue_order_id
                )
                released = [] if parent.is_open else self._release_children(parent, now)
                return [accepted, *released]
            order.quantity = parent.filled_quantity
        return self._accept(order, bar, in_session, now)

    def cancel(self, client_order_id: ClientOrderId, ts: int, reason: str = "canceled by request") -> list[Message]:
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open:
            return []
        self._working.pop(client_order_id, None)
        if order.parent_id is not None and order in self._held.get(order.parent_id, ()):
            self._held[order.parent_id].remove(order)  # a child canceled while it waits for its parent
        events: list[Message] = [self._cancel_event(order, ts, reason)]
        events += self._release_children(order, ts)
        return events

    def replace(
        self,
        client_order_id: ClientOrderId,
        ts: int,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> list[Message]:
        """Modify a working order in place (quantity not below what already filled)."""
        order = self.orders.get(client_order_id)
        if order is None:
            return []
        if not order.is_open:
            reason = f"REPLACE_ORDER_CLOSED: order is {order.status.value}"
            return [OrderRejected(order.client_order_id, order.strategy_id, order.instrument_id, ts, reason)]
        if quantity is not None and quantity <= order.filled_quantity:
            return [
                OrderRejected(
                    order.client_order_id,
                    order.strategy_id,
                    order.instrument_id,
                    ts,
                    f"REPLACE_QUANTITY_BELOW_FILLED: {quantity} <= filled {order.filled_quantity}",
                )
            ]
        instrument = self.account.instruments[order.instrument_id]
        problem = _off_grid(instrument, quantity, limit_price, stop_price)
        if problem:
            return [OrderRejected(order.client_order_id, order.strategy_id, order.instrument_id, ts, problem)]
        if quantity is not None:
            order.quantity = quantity
        if limit_price is not None:
            order.limit_price = limit_price
        if stop_price is not None:
            order.stop_price = stop_price
        order.apply(OrderTrigger.UPDATE, ts)
        return [
            OrderUpdated(
                order.client_order_id,
                order.strategy_id,
                order.instrument_id,
                ts,
                quantity,
                limit_price,
                stop_price,
            )
        ]

    def on_bar(self, instrument_id: InstrumentId, bar: Bar, in_session: bool = True) -> list[Message]:
        """Match working orders of `instrument_id` against `bar`. Call before strategies see the bar."""
        self.last_bars[instrument_id] = bar
        if not self._working or not in_session:
            return []
        instrument = self.account.instruments[instrument_id]
        dbar: _DecimalBar | None = None  # built for the first order that needs more than the open
        if self.config.volume_cap is not None:
            self._start_volume(instrument, bar)
        events: list[Message] = []
        for working in list(self._working.values()):
            order = working.order
            if order.instrument_id != instrument_id or working.accepted_ts >= bar.ts:
                continue
            if order.client_order_id not in self._working:
                continue  # canceled by an OCO sibling earlier in this loop
            if order.time_in_force is _DAY and not instrument.sessions:
                # Without a session calendar a DAY order lives through the UTC day of the first bar it could
                # fill on: on daily bars, the next day's bar (an order placed at a close is for the next day).
                today = bar.ts // NS_PER_DAY
                if working.first_day is None:
                    working.first_day = today
                elif working.first_day < today:
                    del self._working[order.client_order_id]
                    order.apply(OrderTrigger.EXPIRE, bar.ts)
                    events.append(OrderExpired(order.client_order_id, order.strategy_id, order.instrument_id, bar.ts))
                    events += self._release_children(order, bar.ts)
                    continue
            if order.order_type is _MARKET:  # the common case, `_match`'s first branch without the call
                price = self.config.slippage.adjust(instrument, order.side, instrument.make_price(bar.open))
                events += self._fill_with_tif(working, instrument, price, bar.ts, True)
                continue
            if dbar is None:
                dbar = _DecimalBar(instrument, bar)
            events += self._match(working, instrument, bar, dbar)
        return events

    def end_of_session(self, instrument_id: InstrumentId, ts: int) -> list[Message]:
        """Expire DAY orders of `instrument_id` at the session's end."""
        events: list[Message] = []
        for working in list(self._working.values()):
            order = working.order
            if order.instrument_id == instrument_id and order.time_in_force is TimeInForce.DAY:
                del self._working[order.client_order_id]
                order.apply(OrderTrigger.EXPIRE, ts)
                events.append(OrderExpired(order.client_order_id, order.strategy_id, order.instrument_id, ts))
                events += self._release_children(order, ts)
        return events

    def fill_at(self, order: Order, price: Decimal, ts: int) -> list[Message]:
        """Fill a (market) order at a given price now, e.g. flattening at the session close."""
        instrument = self.account.instruments[order.instrument_id]
        events = self.submit(order, None) if order.client_order_id not in self.orders else []
        working = self._working.get(order.client_order_id)
        if working is None:
            return events
        return events + self._execute(working, instrument, order.leaves_quantity, price, ts, taker=True)

    # ----------------------------------------------------------------------------------------- internals
    def _validate(self, order: Order) -> str:
        instrument = self.account.instruments.get(order.instrument_id)
        if instrument is None:
            return f"UNKNOWN_INSTRUMENT: {order.instrument_id}"
        if order.parent_id is not None and order.parent_id not in self.orders:
            return f"PARENT_UNKNOWN: parent order {order.parent_id} never reached the venue"
        problem = _off_grid(instrument, order.quantity, order.limit_price, order.stop_price)
        if problem:
            return problem
        if (
            order.side is _SELL
            and not instrument.shortable
            and order.quantity > self.account.quantity(order.instrument_id)
        ):
            return f"SHORT_NOT_ALLOWED: {order.instrument_id} cannot be sold short"
        return ""

    def _accept(self, order: Order, bar: Bar | None, in_session: bool, now: int) -> list[Message]:
        order.apply(_ACCEPT, now)
        order.venue_order_id = VenueOrderId(f"{self.config.venue}-{order.client_order_id}")
        events: list[Message] = [
            OrderAccepted(order.client_order_id, order.strategy_id, order.instrument_id, now, order.venue_order_id)
        ]
        working = _Working(order, now)
        self._working[order.client_order_id] = working
        if order.order_type is _TRAILING_STOP:
            reference = self.last_price(order.instrument_id)
            if reference is not None:
                working.watermark = reference
                working.trail_stop = self._trail_level(order, reference)
        if bar is not None and in_session and self.config.fill_timing is _AT_CLOSE:
            events += self._match_at_close(working, bar)
        return events

    def _match_at_close(self, working: _Working, bar: Bar) -> list[Message]:
        """`close` timing: a marketable order fills at the signal bar's close, as vectorized research assumes."""
        order = working.order
        instrument = self.account.instruments[order.instrument_id]
        close = instrument.make_price(bar.close)
        buy = order.side is OrderSide.BUY
        price: Decimal | None = None
        events: list[Message] = []
        if order.order_type is OrderType.MARKET:
            price = self.config.slippage.adjust(instrument, order.side, close)
        elif order.order_type is OrderType.LIMIT:
            assert order.limit_price is not None
            if (close <= order.limit_price) if buy else (close >= order.limit_price):
                price = close
        elif order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            assert order.stop_price is not None
            if (close >= order.stop_price) if buy else (close <= order.stop_price):
                if order.order_type is OrderType.STOP:
                    price = self.config.slippage.adjust(instrument, order.side, close)
                else:
                    working.triggered = True
                    order.apply(OrderTrigger.TRIGGER, bar.ts)
                    events.append(OrderTriggered(order.client_order_id, order.strategy_id, order.instrument_id, bar.ts))
                    assert order.limit_price is not None
                    if (close <= order.limit_price) if buy else (close >= order.limit_price):
                        price = close
        if price is None:
            return events + self._unfilled(working, bar.ts)
        if self.config.volume_cap is not None:
            self._start_volume(instrument, bar)
        return events + self._fill_with_tif(working, instrument, price, bar.ts, taker=True)

    def _match(self, working: _Working, instrument: Instrument, bar: Bar, dbar: _DecimalBar) -> list[Message]:
        order = working.order
        buy = order.side is _BUY
        price: Decimal | None = None
        taker = True
        events: list[Message] = []
        kind = order.order_type
        if kind is _MARKET:
            price = self.config.slippage.adjust(instrument, order.side, dbar.open)
        elif kind is OrderType.LIMIT or (kind is OrderType.STOP_LIMIT and working.triggered):
            price = self._limit_price(order, dbar)
            taker = price is not None and price == dbar.open
        elif kind in (OrderType.STOP, OrderType.STOP_LIMIT):
            assert order.stop_price is not None
            touched = self._stop_touch(buy, order.stop_price, dbar)
            if touched is not None:
                if kind is OrderType.STOP:
                    price = self.config.slippage.adjust(instrument, order.side, touched)
                else:
                    working.triggered = True
                    order.apply(OrderTrigger.TRIGGER, bar.ts)
                    events.append(OrderTriggered(order.client_order_id, order.strategy_id, order.instrument_id, bar.ts))
                    assert order.limit_price is not None
                    if (touched <= order.limit_price) if buy else (touched >= order.limit_price):
                        price = touched
        elif kind is OrderType.TRAILING_STOP:
            if working.trail_stop is None:
                working.watermark = dbar.open
                working.trail_stop = self._trail_level(order, dbar.open)
            touched = self._stop_touch(buy, working.trail_stop, dbar)
            if touched is not None:
                price = self.config.slippage.adjust(instrument, order.side, touched)
            else:
                self._ratchet(working, dbar)
        if price is None:
            return events + self._unfilled(working, bar.ts)
        return events + self._fill_with_tif(working, instrument, price, bar.ts, taker)

    def _unfilled(self, working: _Working, ts: int) -> list[Message]:
        """An order that was not marketable on an eligible bar: IOC and FOK end here, others keep working."""
        order = working.order
        if order.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
            return []
        del self._working[order.client_order_id]
        reason = f"{order.time_in_force.value.upper()}_NOT_FILLED"
        return [self._cancel_event(order, ts, reason), *self._release_children(order, ts)]

    def _fill_with_tif(
        self, working: _Working, instrument: Instrument, price: Decimal, ts: int, taker: bool
    ) -> list[Message]:
        order = working.order
        leaves = order.quantity - order.filled_quantity
        available = self._volume_left.get(order.instrument_id)
        quantity = leaves if available is None else min(leaves, available)
        time_in_force = order.time_in_force
        if time_in_force is _FOK and quantity < leaves:
            del self._working[order.client_order_id]
            reason = "FOK_NOT_FILLED: not enough volume for the whole order"
            return [self._cancel_event(order, ts, reason), *self._release_children(order, ts)]
        events = self._execute(working, instrument, quantity, price, ts, taker) if quantity > 0 else []
        if time_in_force is _IOC and order.is_open and order.client_order_id in self._working:
            del self._working[order.client_order_id]
            events.append(self._cancel_event(order, ts, "IOC_REMAINDER_CANCELED"))
            events += self._release_children(order, ts)
        return events

    def _execute(
        self,
        working: _Working,
        instrument: Instrument,
        quantity: Decimal,
        price: Decimal,
        ts: int,
        taker: bool,
    ) -> list[Message]:
        order = working.order
        config = self.config
        own = self.own_positions
        held = self.account.quantity(order.instrument_id) if own is None else own.get(order.instrument_id, ZERO)
        increases = not held or (held > 0) == (order.side is _BUY)
        if order.reduce_only:
            if increases:
                self._working.pop(order.client_order_id, None)
                reason = f"REDUCE_ONLY: the {order.side.value} would open or grow a position of {held}"
                return [self._cancel_event(order, ts, reason), *self._release_children(order, ts)]
            quantity = min(quantity, abs(held))  # never through zero
        commission = config.fees.commission(instrument, quantity, price)
        if increases and config.check_funds and not self._can_pay(order, instrument, quantity, price, commission):
            self._working.pop(order.client_order_id, None)
            return [self._cancel_event(order, ts, "INSUFFICIENT_FUNDS"), *self._release_children(order, ts)]
        self._trade_seq += 1
        # Positional, in `Fill`'s field order: a dataclass `__init__` called with a dozen keywords costs about
        # three times as much, once per execution.
        fill = Fill(
            TradeId(f"{config.venue}-T{self._trade_seq}"),
            order.client_order_id,
            order.strategy_id,
            order.instrument_id,
            order.side,
            quantity,
            price,
            commission,
            instrument.currency,
            ts,
            order.venue_order_id,
            "taker" if taker else "maker",
        )
        left = self._volume_left.get(order.instrument_id)
        if left is not None:
            self._volume_left[order.instrument_id] = left - quantity
        status = order.record_fill(quantity, price, ts)
        change = self.account.apply_fill(fill)
        if own is not None:
            own[order.instrument_id] = held + (quantity if order.side is _BUY else -quantity)
        events: list[Message] = [OrderFilled(fill, change.quantity, change.realized_pnl)]
        if status not in OPEN_STATUSES:
            self._working.pop(order.client_order_id, None)
        if order.contingency is _OCO:
            for linked in order.linked_ids:
                events += self.cancel(linked, ts, reason=f"OCO: {order.client_order_id} filled")
        if status is _FILLED and self._held:
            events += self._release_children(order, ts)
        return events

    def _can_pay(
        self, order: Order, instrument: Instrument, quantity: Decimal, price: Decimal, commission: Decimal
    ) -> bool:
        """Funds for a fill that opens or grows a position (one that reduces it always goes through)."""
        if instrument.accounting is Accounting.CASH:
            if order.side is OrderSide.SELL:
                return instrument.shortable
            return self.account.cash - quantity * price * instrument.multiplier - commission >= 0
        needed = self.account.margin_used() + quantity * instrument.margin_init + commission
        return self.account.cash >= needed

    def _limit_price(self, order: Order, dbar: _DecimalBar) -> Decimal | None:
        limit = order.limit_price
        assert limit is not None
        if order.side is OrderSide.BUY:
            if dbar.open <= limit:
                return dbar.open
            return limit if dbar.low <= limit else None
        if dbar.open >= limit:
            return dbar.open
        return limit if dbar.high >= limit else None

    @staticmethod
    def _stop_touch(buy: bool, stop: Decimal, dbar: _DecimalBar) -> Decimal | None:
        if buy:
            if dbar.open >= stop:
                return dbar.open
            return stop if dbar.high >= stop else None
        if dbar.open <= stop:
            return dbar.open
        return stop if dbar.low <= stop else None

    def _trail_level(self, order: Order, watermark: Decimal) -> Decimal:
        instrument = self.account.instruments[order.instrument_id]
        if order.trailing_offset is not None:
            distance = order.trailing_offset
        else:
            assert order.trailing_percent is not None
            distance = watermark * order.trailing_percent / HUNDRED
        level = watermark - distance if order.side is OrderSide.SELL else watermark + distance
        return (level / instrument.tick_size).quantize(ONE) * instrument.tick_size

    def _ratchet(self, working: _Working, dbar: _DecimalBar) -> None:
        order = working.order
        assert working.watermark is not None and working.trail_stop is not None
        if order.side is OrderSide.SELL and dbar.high > working.watermark:
            working.watermark = dbar.high
            working.trail_stop = max(working.trail_stop, self._trail_level(order, dbar.high))
        elif order.side is OrderSide.BUY and dbar.low < working.watermark:
            working.watermark = dbar.low
            working.trail_stop = min(working.trail_stop, self._trail_level(order, dbar.low))

    def _start_volume(self, instrument: Instrument, bar: Bar) -> None:
        """Open the bar's volume budget once: every fill on the same bar draws from it."""
        if self._volume_ts.get(instrument.id) != bar.ts:
            self._volume_ts[instrument.id] = bar.ts
            self._volume_left[instrument.id] = self._volume_cap(instrument, bar)

    def _volume_cap(self, instrument: Instrument, bar: Bar) -> Decimal | None:
        cap = self.config.volume_cap
        if cap is None or bar.volume <= 0:
            return None  # zero volume in many index files means "not reported", not "no liquidity"
        raw = Decimal(repr(bar.volume * cap))
        return (raw / instrument.lot_size).quantize(ONE, rounding=ROUND_DOWN) * instrument.lot_size

    def _cancel_event(self, order: Order, ts: int, reason: str) -> OrderCanceled:
        order.apply(OrderTrigger.CANCEL, ts, reason)
        return OrderCanceled(order.client_order_id, order.strategy_id, order.instrument_id, ts, reason)

    def _release_children(self, parent: Order, ts: int) -> list[Message]:
        """A bracket parent is done: its children work for the quantity it filled, or are canceled if none."""
        events: list[Message] = []
        for child in self._held.pop(parent.client_order_id, []):
            if not child.is_open:
                continue
            if parent.filled_quantity == 0:
                events.append(self._cancel_event(child, ts, f"parent {parent.client_order_id} did not fill"))
                continue
            if child.quantity != parent.filled_quantity:
                child.quantity = parent.filled_quantity
                child.apply(OrderTrigger.UPDATE, ts)
                events.append(
                    OrderUpdated(child.client_order_id, child.strategy_id, child.instrument_id, ts, child.quantity)
                )
            self._working[child.client_order_id] = _Working(child, ts)
        return events


def _off_grid(
    instrument: Instrument, quantity: Decimal | None, limit_price: Decimal | None, stop_price: Decimal | None
) -> str:
    """Why a quantity or price is off the instrument's lot/tick grid ("" if it is on it; None is not checked)."""
    if quantity is not None and quantity % instrument.lot_size != 0:
        return f"QUANTITY_NOT_ON_LOT: {quantity} is not a multiple of {instrument.lot_size}"
    if limit_price is None and stop_price is None:
        return ""  # a market order: no price to check
    for name, price in (("limit_price", limit_price), ("stop_price", stop_price)):
        if price is not None and price % instrument.tick_size != 0:
            return f"PRICE_NOT_ON_TICK: {name} {price} is not a multiple of {instrument.tick_size}"
    return ""
