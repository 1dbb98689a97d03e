"""The order manager (OMS core): order state, positions and P&L per strategy and per account, the firm-wide
book the risk engine checks against, and the journal every event goes to.

Every event is appended to the journal with an idempotency key (the client order id for submissions and
denials, the trade id for fills), so a replayed or duplicated report is booked once. `rebuild` restores the
whole state from the journal; `reconcile` then makes the venue the truth: missing fills are booked, orders the
venue does not have open are closed, position mismatches are corrected; each correction is an event.

Events carry `after_ts`: the bar after whose `on_bar` the strategy got them. A restarted strategy host replays
its bars and receives each recorded event at the same point (`history(strategy_id)`), so it rebuilds exactly
the state it had.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading.brokers.protocol import ExecutionReport, OrderReport, ReconciliationReport
from trading.data.bars import Bar
from trading.execution.reports import events_for_report
from trading.live.journal import Journal, JournalEntryLike
from trading.live.order_events import apply_order_event, event_order_id, fresh_copy, state_copy
from trading.messages import (
    MESSAGE_TYPES,
    Message,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderSubmitted,
    PositionChanged,
    ReconciliationMismatch,
    message_from_dict,
)
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderStatus, OrderType
from trading.model.positions import Position

ZERO = Decimal(0)
DEFAULT_STREAM = "oms"
EXTERNAL = StrategyId("external")  # the owner of orders made at the venue outside this system (adopted)


@dataclass(frozen=True)
class PortfolioSnapshot:
    """A copy of the firm-wide book for a risk engine in another process; implements `PortfolioView`."""

    positions: dict[InstrumentId, Decimal]
    prices: dict[InstrumentId, Decimal]
    open_orders: int
    exposure: Decimal
    multipliers: dict[InstrumentId, Decimal]

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal:
        return self.positions.get(instrument_id, ZERO)

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None:
        return self.prices.get(instrument_id)

    def open_order_count(self) -> int:
        return self.open_orders

    def gross_exposure(self) -> Decimal:
        return self.exposure

    def multiplier(self, instrument_id: InstrumentId) -> Decimal:
        return self.multipliers.get(instrument_id, Decimal(1))


@dataclass
class PnL:
    realized: Decimal = ZERO  # before commissions
    unrealized: Decimal = ZERO
    commissions: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.realized + self.unrealized - self.commissions

    def to_dict(self) -> dict[str, str]:
        return {
            "realized": str(self.realized),
            "unrealized": str(self.unrealized),
            "commissions": str(self.commissions),
            "net": str(self.net),
        }


@dataclass
class OrderManager:
    """Pure OMS state; the order-manager actor hosts one. Implements `trading.risk.PortfolioView`."""

    journal: Journal | None = None
    stream: str = DEFAULT_STREAM
    account_id: str = "paper"
    orders: dict[ClientOrderId, Order] = field(default_factory=dict)
    strategy_positions: dict[tuple[StrategyId, InstrumentId], Position] = field(default_factory=dict)
    account_positions: dict[tuple[str, InstrumentId], Position] = field(default_factory=dict)
    instruments: dict[InstrumentId, Instrument] = field(default_factory=dict)
    marks: dict[InstrumentId, Decimal] = field(default_factory=dict)
    fills: list[OrderFilled] = field(default_factory=list)
    _trade_ids: set[TradeId] = field(default_factory=set)
    _open: dict[ClientOrderId, Order] = field(default_factory=dict)  # open orders: the risk check counts them
    _keys: set[str] = field(default_factory=set)
    _history: dict[StrategyId, list[tuple[int, Message]]] = field(default_factory=dict)
    _replaying: bool = False

    # ---------------------------------------------------------------------------------------- set-up
    def register(self, instrument: Instrument) -> None:
        self.instruments[instrument.id] = instrument

    def on_bar(self, instrument_id: InstrumentId, bar: Bar) -> None:
        """Mark `instrument_id` at the bar's close (unrealized P&L, exposure, the risk engine's last price)."""
        instrument = self.instruments.get(instrument_id)
        self.marks[instrument_id] = (
            instrument.make_price(bar.close) if instrument is not None else Decimal(repr(bar.close))
        )

    # ------------------------------------------------------------------------------------ order path
    def submit(self, order: Order, after_ts: int) -> OrderSubmitted:
        """Record an order that passed risk and goes to its broker (idempotent by client order id)."""
        event = OrderSubmitted(order.client_order_id, order.strategy_id, order.instrument_id, order.ts_init)
        known = self.orders.get(order.client_order_id)
        if known is not None:
            return event
        self._record(event, after_ts, f"{order.client_order_id}:submitted", order=order)
        return event

    def deny(self, order: Order, reason: str, after_ts: int) -> OrderDenied:
        """Record an order the risk engine refused; the returned event goes to the strategy."""
        event = OrderDenied(order.client_order_id, order.strategy_id, order.instrument_id, order.ts_init, reason)
        if order.client_order_id in self.orders:
            return event
        self._record(event, after_ts, f"{order.client_order_id}:denied", order=order)
        return event

    def apply(self, events: Iterable[Message], after_ts: int | None = None) -> list[Message]:
        """Book venue events (fills, accepts, cancels, ...). Returns the derived `PositionChanged` events;
        duplicates (same trade id, or the same event again) are ignored."""
        derived: list[Message] = []
        for event in events:
            if isinstance(event, OrderFilled):
                key = f"fill:{event.fill.trade_id}"
                if event.fill.trade_id in self._trade_ids:
                    continue
                encoded = None
            else:
                encoded = event.to_dict()  # once, for both the key and the journal
                key = _event_key(event, encoded)
                if key in self._keys:
                    continue
            derived += self._record(event, after_ts if after_ts is not None else _ts_of(event), key, encoded=encoded)
        return derived

    def on_report(self, report: ExecutionReport, account_id: str, after_ts: int) -> list[Message]:
        """Book what a venue reported about one order (its stream, a submit's answer, a lookup): the events it
        implies, then the derived `PositionChanged`. Returns the events booked (nothing for a report already
        booked). An order this system never made (placed by hand at the venue) is adopted under `EXTERNAL` and
        flagged with a `ReconciliationMismatch`, so its fills move the account's position as they did at the
        venue."""
        cid = report.order.client_order_id
        order = self.orders.get(cid)
        booked: list[Message] = []
        if order is None:
            adopted = _adopted_order(report, account_id)
            submitted = OrderSubmitted(cid, adopted.strategy_id, adopted.instrument_id, report.order.ts)
            self._record(submitted, after_ts, f"{cid}:submitted", order=adopted)
            detail = {"client_order_id": cid, "status": report.order.status.value, "account_id": account_id}
            booked += [submitted, self._mismatch("unknown_venue_order", detail, report.order.ts, cid)]
            order = self.orders[cid]
        fill = report.fill
        known_trade = fill is not None and fill.trade_id in self._trade_ids
        for event in events_for_report(order, report, known_trade):
            booked += [event, *self.apply([event], after_ts)]
        return booked

    # ---------------------------------------------------------------------------------- PortfolioView
    def position_quantity(self, instrument_id: InstrumentId) -> Decimal:
        return sum((p.quantity for (_, i), p in self.account_positions.items() if i == instrument_id), ZERO)

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None:
        return self.marks.get(instrument_id)

    def open_order_count(self) -> int:
        return len(self._open)

    def gross_exposure(self) -> Decimal:
        total = ZERO
        for (_, instrument_id), position in self.account_positions.items():
            mark = self.marks.get(instrument_id)
            if position.quantity != 0 and mark is not None:
                total += abs(position.market_value(mark))
        return total

    def strategy_exposure(self, strategy_id: StrategyId) -> Decimal:
        """Gross market value of the strategy's positions at the last marks (unmarked instruments count 0)."""
        total = ZERO
        for (owner, instrument_id), position in self.strategy_positions.items():
            mark = self.marks.get(instrument_id)
            if owner == strategy_id and position.quantity != 0 and mark is not None:
                total += abs(position.market_value(mark))
        return total

    def multiplier(self, instrument_id: InstrumentId) -> Decimal:
        instrument = self.instruments.get(instrument_id)
        return instrument.multiplier if instrument is not None else Decimal(1)

    def portfolio_snapshot(self) -> PortfolioSnapshot:
        positions: dict[InstrumentId, Decimal] = {}
        for (_, instrument_id), position in self.account_positions.items():
            positions[instrument_id] = positions.get(instrument_id, ZERO) + position.quantity
        return PortfolioSnapshot(
            positions,
            dict(self.marks),
            self.open_order_count(),
            self.gross_exposure(),
            {i: x.multiplier for i, x in self.instruments.items()},
        )

    # ---------------------------------------------------------------------------------------- queries
    def open_orders(self, strategy_id: StrategyId | None = None) -> list[Order]:
        return [o for o in self._open.values() if strategy_id is None or o.strategy_id == strategy_id]

    def strategy_position(self, strategy_id: StrategyId, instrument_id: InstrumentId) -> Decimal:
        position = self.strategy_positions.get((strategy_id, instrument_id))
        return ZERO if position is None else position.quantity

    def account_position(self, instrument_id: InstrumentId, account_id: str | None = None) -> Decimal:
        position = self.account_positions.get((account_id or self.account_id, instrument_id))
        return ZERO if position is None else position.quantity

    def holdings(self) -> dict[tuple[StrategyId, str, InstrumentId], Decimal]:
        """Each strategy's position at each account, from the fills (a strategy may trade at several brokers;
        `strategy_positions` nets them). Zero positions are left out."""
        held: dict[tuple[StrategyId, str, InstrumentId], Decimal] = {}
        for event in self.fills:
            fill = event.fill
            order = self.orders.get(fill.client_order_id)
            account = (order.broker if order is not None and order.broker else "") or self.account_id
            key = (fill.strategy_id, account, fill.instrument_id)
            held[key] = held.get(key, ZERO) + fill.signed_quantity
        return {key: quantity for key, quantity in held.items() if quantity != 0}

    def strategy_pnl(self, strategy_id: StrategyId) -> PnL:
        return self._pnl(p for (s, _), p in self.strategy_positions.items() if s == strategy_id)

    def account_pnl(self, account_id: str | None = None) -> PnL:
        wanted = account_id or self.account_id
        return self._pnl(p for (a, _), p in self.account_positions.items() if a == wanted)

    def history(self, strategy_id: StrategyId) -> list[tuple[int, Message]]:
        """(after_ts, event) for every event the strategy received, for a restarted host's replay."""
        return list(self._history.get(strategy_id, []))

    def strategy_ids(self) -> list[StrategyId]:
        """The strategies with recorded events."""
        return list(self._history)

    def last_order_seq(self, strategy_id: StrategyId) -> int:
        """The highest `<strategy_id>-NNNNNN` sequence known (a restarted host continues after it)."""
        best = 0
        prefix = f"{strategy_id}-"
        for cid in self.orders:
            if cid.startswith(prefix) and cid[len(prefix) :].isdigit():
                best = max(best, int(cid[len(prefix) :]))
        return best

    def snapshot(self) -> dict[str, Any]:
        return {
            "orders": [o.to_dict() for o in self.orders.values()],
            "positions": [
                {"account_id": a, **p.to_dict()} for (a, _), p in self.account_positions.items() if p.quantity != 0
            ],
            "strategy_positions": [
                {"strategy_id": s, **p.to_dict()} for (s, _), p in self.strategy_positions.items() if p.quantity != 0
            ],
            "pnl": self.account_pnl().to_dict(),
            "fills": len(self.fills),
        }

    # ------------------------------------------------------------------------------------ restart path
    def rebuild(self, entries: Iterable[JournalEntryLike]) -> int:
        """Restore state from journal entries (in seq order); returns how many were applied."""
        applied = 0
        self._replaying = True
        try:
            for entry in entries:
                if entry.stream != self.stream:
                    continue
                payload = entry.payload
                kind = entry.kind
                key = entry.key or ""
                if key in self._keys:
                    continue
                after_ts = int(payload.get("after_ts", 0))
                if kind == ReconciliationMismatch.kind:
                    self._keys.add(key)
                    self._correct_position_from(payload)
                    applied += 1
                    continue
                if kind not in MESSAGE_TYPES:
                    continue
                event = message_from_dict(payload)
                order = Order.from_dict(payload["order"]) if "order" in payload else None
                self._record(event, after_ts, key, order=order)
                applied += 1
        finally:
            self._replaying = False
        return applied

    def reconcile(self, report: ReconciliationReport, account_id: str, after_ts: int = 0) -> list[Message]:
        """Make the venue of `account_id` the truth; returns the events booked (corrections are journaled as
        `ReconciliationMismatch` too). In order: fills we missed (while a stream was down, or before a restart);
        what the venue says of each order we hold open that it no longer lists (`report.looked_up`); orders it
        lists that we do not know (adopted); then positions. An order still `submitted` that the venue does not
        know stays open: its submit may yet arrive (an unanswered write is never booked as rejected), and the
        next reconciliation looks again. An accepted order the venue has neither open nor on record is closed."""
        out: list[Message] = []
        ts = report.ts
        for fill in report.fills:
            if fill.trade_id in self._trade_ids:
                continue
            order = self.orders.get(fill.client_order_id)
            venue_order = _report_for_fill(fill, order)
            out += self.on_report(ExecutionReport(venue_order, fill), account_id, after_ts)
            out.append(self._mismatch("missing_fill", fill.to_dict(), ts, f"fill:{fill.trade_id}"))
        for venue_order in report.looked_up:
            if venue_order.client_order_id in self.orders:
                out += self.on_report(ExecutionReport(venue_order), account_id, after_ts)
        venue_open = {r.client_order_id: r for r in report.open_orders}
        looked_up = {r.client_order_id for r in report.looked_up}
        for order in list(self._open.values()):
            if (order.broker or self.account_id) != account_id or order.client_order_id in venue_open:
                continue
            if order.status is OrderStatus.SUBMITTED or order.client_order_id in looked_up:
                continue
            reason = "RECONCILED: the venue has no record of this order"
            canceled = OrderCanceled(order.client_order_id, order.strategy_id, order.instrument_id, ts, reason)
            self._record(canceled, after_ts, _event_key(canceled))
            detail: dict[str, Any] = {"client_order_id": order.client_order_id}
            out += [canceled, self._mismatch("order_not_at_venue", detail, ts, order.client_order_id)]
        for venue_order in venue_open.values():
            out += self.on_report(ExecutionReport(venue_order), account_id, after_ts)
        venue_positions = {p.instrument_id: p for p in report.positions}
        ours = {i for (a, i), p in self.account_positions.items() if a == account_id and p.quantity != 0}
        for instrument_id in sorted(set(venue_positions) | ours, key=str):
            venue = venue_positions.get(instrument_id)
            quantity = venue.quantity if venue is not None else ZERO
            avg = venue.avg_price if venue is not None else ZERO
            held = self.account_position(instrument_id, account_id)
            if held != quantity:
                detail = {
                    "account_id": account_id,
                    "instrument_id": str(instrument_id),
                    "ours": str(held),
                    "quantity": str(quantity),
                    "avg_price": str(avg),
                }
                out.append(self._mismatch("position", detail, ts, f"{account_id}:{instrument_id}:{quantity}"))
                self._correct_position_from(detail)
        return out

    def in_doubt(self, account_id: str | None = None) -> list[Order]:
        """Orders sent to a venue whose answer never came (still `submitted`): reconciliation looks them up."""
        return [
            o
            for o in self._open.values()
            if o.status is OrderStatus.SUBMITTED and (account_id is None or (o.broker or self.account_id) == account_id)
        ]

    # ------------------------------------------------------------------------------------- internals
    def _record(
        self,
        event: Message,
        after_ts: int,
        key: str,
        *,
        order: Order | None = None,
        encoded: dict[str, Any] | None = None,
    ) -> list[Message]:
        """Book `event` (keyed `key` for idempotency) and journal it. `order`: the new order of a submit or a
        denial; `encoded`: the event's `to_dict()` when the caller already made it."""
        derived: list[Message] = []
        payload: dict[str, Any] | None = None
        created = fresh_copy(order) if order is not None else None
        if self.journal is not None and not self._replaying:
            payload = {**(encoded if encoded is not None else event.to_dict()), "after_ts": after_ts}
            if created is not None:
                payload["order"] = created.to_dict()
        self._keys.add(key)
        if isinstance(event, OrderSubmitted | OrderDenied) and created is not None:
            self.orders[created.client_order_id] = created
        cid = event_order_id(event)
        known = self.orders.get(cid) if cid is not None else None
        if isinstance(event, OrderFilled):
            fill = event.fill
            self._trade_ids.add(fill.trade_id)
            self.fills.append(event)
            if known is not None:
                apply_order_event(known, event)
            derived += self._book_fill(event, known)
        elif known is not None:
            apply_order_event(known, event)
        if known is not None:
            if known.is_open:
                self._open[known.client_order_id] = known
            else:
                self._open.pop(known.client_order_id, None)
        strategy_id = _strategy_of(event, known)
        if strategy_id is not None:
            self._history.setdefault(strategy_id, []).append((after_ts, event))
        if payload is not None and self.journal is not None:
            self.journal.append(self.stream, event.kind, payload, key)
        return derived

    def _book_fill(self, event: OrderFilled, order: Order | None) -> list[Message]:
        fill = event.fill
        account = (order.broker if order is not None and order.broker else "") or self.account_id
        multiplier = self.multiplier(fill.instrument_id)
        for positions, owner in (
            (self.strategy_positions, fill.strategy_id),
            (self.account_positions, account),
        ):
            position = positions.get((owner, fill.instrument_id))  # type: ignore[arg-type]
            if position is None:
                position = Position(fill.instrument_id, multiplier=multiplier)
                positions[(owner, fill.instrument_id)] = position  # type: ignore[index]
            position.apply(fill.signed_quantity, fill.price, fill.commission, fill.ts)
        position = self.account_positions[(account, fill.instrument_id)]
        return [
            PositionChanged(
                account, fill.instrument_id, position.quantity, position.avg_price, position.realized_pnl, fill.ts
            )
        ]

    def _mismatch(self, subject: str, detail: dict[str, Any], ts: int, ident: str) -> ReconciliationMismatch:
        event = ReconciliationMismatch(subject, detail, ts)
        key = f"reconcile:{subject}:{ident}:{ts}"
        self._keys.add(key)
        if self.journal is not None:
            self.journal.append(self.stream, event.kind, {**event.to_dict(), "after_ts": ts, **detail}, key)
        return event

    def _correct_position_from(self, detail: dict[str, Any]) -> None:
        if "instrument_id" not in detail or "quantity" not in detail:
            return
        instrument_id = InstrumentId.parse(detail["instrument_id"])
        account = detail.get("account_id", self.account_id)
        quantity = Decimal(detail["quantity"])
        avg = Decimal(detail.get("avg_price", "0"))
        position = self.account_positions.get((account, instrument_id))
        if position is None:
            position = Position(instrument_id, multiplier=self.multiplier(instrument_id))
            self.account_positions[(account, instrument_id)] = position
        position.quantity = quantity
        position.cost_basis = quantity * avg

    def _pnl(self, positions: Iterable[Position]) -> PnL:
        pnl = PnL()
        for position in positions:
            pnl.realized += position.realized_pnl
            pnl.commissions += position.commissions
            mark = self.marks.get(position.instrument_id)
            if position.quantity != 0 and mark is not None:
                pnl.unrealized += position.unrealized_pnl(mark)
        return pnl


def _report_for_fill(fill: Fill, order: Order | None) -> OrderReport:
    """What a fill says of its order, for a fill found by reconciliation (the order's status follows the fill)."""
    filled = (order.filled_quantity if order is not None else ZERO) + fill.quantity
    quantity = order.quantity if order is not None else fill.quantity
    status = OrderStatus.FILLED if filled >= quantity else OrderStatus.PARTIALLY_FILLED
    return OrderReport(
        client_order_id=fill.client_order_id,
        venue_order_id=fill.venue_order_id,
        instrument_id=fill.instrument_id,
        side=fill.side,
        order_type=order.order_type if order is not None else OrderType.MARKET,
        quantity=quantity,
        filled_quantity=filled,
        status=status,
        limit_price=order.limit_price if order is not None else None,
        stop_price=order.stop_price if order is not None else None,
        ts=fill.ts,
    )


def _adopted_order(report: ExecutionReport, account_id: str) -> Order:
    """Our record of an order made at the venue outside this system, as it was when placed."""
    venue = report.order
    return Order(
        client_order_id=venue.client_order_id,
        strategy_id=EXTERNAL,
        instrument_id=venue.instrument_id,
        side=venue.side,
        order_type=venue.order_type,
        quantity=venue.quantity,
        limit_price=venue.limit_price,
        stop_price=venue.stop_price,
        time_in_force=venue.time_in_force,
        broker=account_id,
        ts_init=venue.ts,
        tags={"origin": "venue"},
    )


def _event_key(event: Message, encoded: dict[str, Any] | None = None) -> str:
    """A deterministic key for a non-fill event: the same report delivered twice gets the same key.
    `encoded`: the event's `to_dict()`, if already made."""
    body = json.dumps(encoded if encoded is not None else event.to_dict(), sort_keys=True, default=str)
    digest = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{event_order_id(event)}:{event.kind}:{_ts_of(event)}:{digest}"


def _ts_of(event: Message) -> int:
    if isinstance(event, OrderFilled):
        return event.fill.ts
    ts = getattr(event, "ts", 0)
    return ts if isinstance(ts, int) else 0


def _strategy_of(event: Message, order: Order | None) -> StrategyId | None:
    if isinstance(event, OrderFilled):
        return event.fill.strategy_id
    if order is not None:
        return order.strategy_id
    strategy_id = getattr(event, "strategy_id", None)
    return StrategyId(strategy_id) if isinstance(strategy_id, str) else None


def order_copies(orders: Sequence[Order]) -> list[Order]:
    """Independent copies with state (for status answers that must not share mutable orders)."""
    return [state_copy(o) for o in orders]
