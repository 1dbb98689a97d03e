"""Orders and their table-driven state machine.

An order is the one mutable thing in the model: its state changes only through `apply(event)`, and the
transition table below decides what is legal. An illegal transition raises `InvalidTransition` at once
(corrupt state is worse than a crash). Real-world oddities are explicit rows, e.g. a fill that arrives after
the cancel was sent, or even after the venue confirmed it (the fill happened first at the venue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from trading.errors import InvalidTransition, InvalidValue
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from trading.model.pickling import PositionalPickle

ZERO = Decimal(0)


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(StrEnum):
    DAY = "day"  # expires at the end of the trading session (or the UTC day without sessions)
    GTC = "gtc"
    IOC = "ioc"  # fill what you can on the first eligible bar, cancel the rest
    FOK = "fok"  # fill everything on the first eligible bar, or nothing


class ContingencyType(StrEnum):
    NONE = "none"
    OCO = "oco"  # one cancels the others: the first fill cancels the linked orders
    OTO = "oto"  # one triggers the others: children activate when the parent fills (bracket entry)


class OrderStatus(StrEnum):
    INITIALIZED = "initialized"
    DENIED = "denied"  # refused by our own risk engine, never sent
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # refused by the venue
    TRIGGERED = "triggered"  # a stop-limit whose stop was touched: now a working limit
    PENDING_UPDATE = "pending_update"
    PENDING_CANCEL = "pending_cancel"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"


class OrderTrigger(StrEnum):
    """What can happen to an order; the triggers of the state machine."""

    DENY = "deny"
    SUBMIT = "submit"
    ACCEPT = "accept"
    REJECT = "reject"
    TRIGGER = "trigger"
    REQUEST_UPDATE = "request_update"
    UPDATE = "update"
    REQUEST_CANCEL = "request_cancel"
    CANCEL_REJECT = "cancel_reject"
    CANCEL = "cancel"
    EXPIRE = "expire"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"


S = OrderStatus
E = OrderTrigger

# (state, event) -> next state. Anything not listed is illegal.
TRANSITIONS: dict[tuple[OrderStatus, OrderTrigger], OrderStatus] = {
    (S.INITIALIZED, E.DENY): S.DENIED,
    (S.INITIALIZED, E.SUBMIT): S.SUBMITTED,
    (S.INITIALIZED, E.CANCEL): S.CANCELED,  # a bracket child canceled before it was ever sent
    (S.SUBMITTED, E.ACCEPT): S.ACCEPTED,
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.SUBMITTED, E.CANCEL): S.CANCELED,  # IOC/FOK canceled by the venue on arrival
    (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
    (S.SUBMITTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,  # venues may report the fill before the ack
    (S.SUBMITTED, E.FILL): S.FILLED,
    (S.SUBMITTED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.ACCEPTED, E.TRIGGER): S.TRIGGERED,
    (S.ACCEPTED, E.REQUEST_UPDATE): S.PENDING_UPDATE,
    (S.ACCEPTED, E.UPDATE): S.ACCEPTED,
    (S.ACCEPTED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.ACCEPTED, E.CANCEL): S.CANCELED,
    (S.ACCEPTED, E.EXPIRE): S.EXPIRED,
    (S.ACCEPTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.ACCEPTED, E.FILL): S.FILLED,
    (S.TRIGGERED, E.REQUEST_UPDATE): S.PENDING_UPDATE,
    (S.TRIGGERED, E.UPDATE): S.TRIGGERED,
    (S.TRIGGERED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.TRIGGERED, E.CANCEL): S.CANCELED,
    (S.TRIGGERED, E.EXPIRE): S.EXPIRED,
    (S.TRIGGERED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.TRIGGERED, E.FILL): S.FILLED,
    (S.PENDING_UPDATE, E.UPDATE): S.ACCEPTED,
    (S.PENDING_UPDATE, E.ACCEPT): S.ACCEPTED,  # the venue refused the update: back to working as before
    (S.PENDING_UPDATE, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.PENDING_UPDATE, E.CANCEL): S.CANCELED,
    (S.PENDING_UPDATE, E.EXPIRE): S.EXPIRED,
    (S.PENDING_UPDATE, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PENDING_UPDATE, E.FILL): S.FILLED,
    (S.PENDING_CANCEL, E.CANCEL): S.CANCELED,
    (S.PENDING_CANCEL, E.CANCEL_REJECT): S.ACCEPTED,
    (S.PENDING_CANCEL, E.PARTIAL_FILL): S.PENDING_CANCEL,  # filled while our cancel was in flight
    (S.PENDING_CANCEL, E.FILL): S.FILLED,
    (S.PENDING_CANCEL, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.REQUEST_UPDATE): S.PENDING_UPDATE,
    (S.PARTIALLY_FILLED, E.UPDATE): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
    # The venue filled the order before it processed our cancel; its confirmation of the cancel can
    # reach us first. The fill is real money: record it.
    (S.CANCELED, E.PARTIAL_FILL): S.CANCELED,
    (S.CANCELED, E.FILL): S.FILLED,
    (S.EXPIRED, E.PARTIAL_FILL): S.EXPIRED,  # the same race with the venue's expiry
    (S.EXPIRED, E.FILL): S.FILLED,
}

# Read for every fill, looked up once: on Python 3.11 reading a member off its Enum class goes through the
# `EnumType.__getattr__` hook and costs about four times a module global.
_FILL = OrderTrigger.FILL
_PARTIAL_FILL = OrderTrigger.PARTIAL_FILL
_MARKET = OrderType.MARKET

OPEN_STATUSES = frozenset(
    {S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.PARTIALLY_FILLED}
)
_PENDING = frozenset({S.PENDING_CANCEL, S.PENDING_UPDATE})
CLOSED_STATUSES = frozenset({S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})


def next_status(status: OrderStatus, event: OrderTrigger) -> OrderStatus:
    """The state after `event`, or `InvalidTransition` if the table has no such row."""
    new = TRANSITIONS.get((status, event))
    if new is None:
        raise _illegal(status, event)
    return new


def _illegal(status: OrderStatus, event: OrderTrigger) -> InvalidTransition:
    return InvalidTransition(f"order event {event.value!r} is illegal in state {status.value!r}")


@dataclass(slots=True, eq=False)
class Order(PositionalPickle):
    """An order and its life so far. Build with the factories in `trading.model.factories` or directly."""

    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_offset: Decimal | None = None  # price distance for TRAILING_STOP
    trailing_percent: Decimal | None = None  # or percent distance (one of the two)
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    contingency: ContingencyType = ContingencyType.NONE
    linked_ids: tuple[ClientOrderId, ...] = ()
    parent_id: ClientOrderId | None = None
    broker: str = ""
    ts_init: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    # state
    status: OrderStatus = OrderStatus.INITIALIZED
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    venue_order_id: VenueOrderId | None = None
    ts_last: int = 0
    reason: str = ""
    status_before_pending: OrderStatus | None = None  # what a refused cancel/update returns the order to

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise InvalidValue(f"order {self.client_order_id}: quantity must be positive, got {self.quantity}")
        if self.order_type is not _MARKET:
            self._check_prices()

    def _check_prices(self) -> None:
        needs_limit = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit and (self.limit_price is None or self.limit_price <= 0):
            raise InvalidValue(f"order {self.client_order_id}: a {self.order_type} order needs a positive limit price")
        if needs_stop and (self.stop_price is None or self.stop_price <= 0):
            raise InvalidValue(f"order {self.client_order_id}: a {self.order_type} order needs a positive stop price")
        if self.order_type is OrderType.TRAILING_STOP and (self.trailing_offset is None) == (
            self.trailing_percent is None
        ):
            raise InvalidValue(
                f"order {self.client_order_id}: a trailing stop needs exactly one of trailing_offset, trailing_percent"
            )

    @property
    def leaves_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side is OrderSide.BUY else -self.quantity

    def apply(self, event: OrderTrigger, ts: int = 0, reason: str = "") -> OrderStatus:
        """Move to the next state; raises `InvalidTransition` if `event` is illegal now."""
        current = self.status
        new = TRANSITIONS.get((current, event))  # `next_status` inlined: every order makes several steps
        if new is None:
            raise _illegal(current, event)
        if new in _PENDING or current in _PENDING:
            new = self._pending_step(current, new)
        self.status = new
        self.ts_last = ts
        if reason:
            self.reason = reason
        return new

    def _pending_step(self, current: OrderStatus, new: OrderStatus) -> OrderStatus:
        """Remember what a pending cancel/update interrupted, and go back to it when the venue refuses."""
        if new in _PENDING and current not in _PENDING:
            self.status_before_pending = current
        elif current in _PENDING and new is OrderStatus.ACCEPTED:
            # The table says "working again"; a partly filled or triggered order stays what it was.
            if self.filled_quantity > 0:
                new = OrderStatus.PARTIALLY_FILLED
            elif self.status_before_pending is OrderStatus.TRIGGERED:
                new = OrderStatus.TRIGGERED
            self.status_before_pending = None
        return new

    def record_fill(self, quantity: Decimal, price: Decimal, ts: int) -> OrderStatus:
        """Book a fill on the order: updates filled quantity, average price and status."""
        if quantity <= 0:
            raise InvalidValue(f"order {self.client_order_id}: fill quantity must be positive, got {quantity}")
        filled = self.filled_quantity
        if quantity > self.quantity - filled:
            raise InvalidTransition(
                f"order {self.client_order_id}: fill of {quantity} exceeds leaves {self.leaves_quantity}"
            )
        total = filled + quantity
        if not filled:
            self.avg_fill_price = price  # the common single fill: no division
        else:
            previous_value = (self.avg_fill_price or ZERO) * filled
            self.avg_fill_price = (previous_value + price * quantity) / total
        self.filled_quantity = total
        event = _FILL if total == self.quantity else _PARTIAL_FILL
        return self.apply(event, ts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe snapshot (decimals as strings)."""
        return {
            "client_order_id": self.client_order_id,
            "strategy_id": self.strategy_id,
            "instrument_id": str(self.instrument_id),
            "side": self.side.value,
            "order_type": self.order_type.value,
            "quantity": str(self.quantity),
            "limit_price": _opt(self.limit_price),
            "stop_price": _opt(self.stop_price),
            "trailing_offset": _opt(self.trailing_offset),
            "trailing_percent": _opt(self.trailing_percent),
            "time_in_force": self.time_in_force.value,
            "reduce_only": self.reduce_only,
            "contingency": self.contingency.value,
            "linked_ids": list(self.linked_ids),
            "parent_id": self.parent_id,
            "broker": self.broker,
            "ts_init": self.ts_init,
            "tags": dict(self.tags),
            "status": self.status.value,
            "filled_quantity": str(self.filled_quantity),
            "avg_fill_price": _opt(self.avg_fill_price),
            "venue_order_id": self.venue_order_id,
            "ts_last": self.ts_last,
            "reason": self.reason,
            "status_before_pending": self.status_before_pending.value if self.status_before_pending else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        return cls(
            client_order_id=ClientOrderId(data["client_order_id"]),
            strategy_id=StrategyId(data["strategy_id"]),
            instrument_id=InstrumentId.parse(data["instrument_id"]),
            side=OrderSide(data["side"]),
            order_type=OrderType(data["order_type"]),
            quantity=Decimal(data["quantity"]),
            limit_price=_dec(data.get("limit_price")),
            stop_price=_dec(data.get("stop_price")),
            trailing_offset=_dec(data.get("trailing_offset")),
            trailing_percent=_dec(data.get("trailing_percent")),
            time_in_force=TimeInForce(data.get("time_in_force", "gtc")),
            reduce_only=bool(data.get("reduce_only", False)),
            contingency=ContingencyType(data.get("contingency", "none")),
            linked_ids=tuple(ClientOrderId(x) for x in data.get("linked_ids", ())),
            parent_id=ClientOrderId(data["parent_id"]) if data.get("parent_id") else None,
            broker=data.get("broker", ""),
            ts_init=int(data.get("ts_init", 0)),
            tags=dict(data.get("tags", {})),
            status=OrderStatus(data.get("status", "initialized")),
            filled_quantity=Decimal(data.get("filled_quantity", "0")),
            avg_fill_price=_dec(data.get("avg_fill_price")),
            venue_order_id=VenueOrderId(data["venue_order_id"]) if data.get("venue_order_id") else None,
            ts_last=int(data.get("ts_last", 0)),
            reason=data.get("reason", ""),
            status_before_pending=OrderStatus(data["status_before_pending"])
            if data.get("status_before_pending")
            else None,
        )


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
