"""Messages between components: commands are imperative, events are past tense. Both are immutable values.

Immutable by convention, not `frozen=True`: a frozen dataclass sets each field through `object.__setattr__`,
which makes construction several times slower, and the venue builds events for every order. They still
hash by value, as frozen ones do.

Every message serializes to a JSON-safe dict with a `kind` field (`to_dict` / `message_from_dict`), which is
what the journal stores and what the gateway streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, ClassVar

from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, VenueOrderId
from trading.model.orders import Order
from trading.model.pickling import PositionalPickle, field_names


@dataclass(slots=True, unsafe_hash=True)
class Message(PositionalPickle):
    kind: ClassVar[str] = "message"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for name in field_names(type(self)):  # not `__dataclass_fields__`: that also lists the `kind` ClassVar
            data[name] = _encode(getattr(self, name))
        return data


# ----------------------------------------------------------------------------------------------- commands
@dataclass(slots=True, unsafe_hash=True)
class SubmitOrder(Message):
    kind: ClassVar[str] = "SubmitOrder"
    order: Order
    ts: int = 0


@dataclass(slots=True, unsafe_hash=True)
class CancelOrder(Message):
    kind: ClassVar[str] = "CancelOrder"
    client_order_id: ClientOrderId
    strategy_id: StrategyId
    ts: int = 0


@dataclass(slots=True, unsafe_hash=True)
class ReplaceOrder(Message):
    kind: ClassVar[str] = "ReplaceOrder"
    client_order_id: ClientOrderId
    strategy_id: StrategyId
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    ts: int = 0


# ------------------------------------------------------------------------------------------------- events
@dataclass(slots=True, unsafe_hash=True)
class OrderEventMessage(Message):
    """Base of order lifecycle events."""

    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    ts: int


@dataclass(slots=True, unsafe_hash=True)
class OrderSubmitted(OrderEventMessage):
    kind: ClassVar[str] = "OrderSubmitted"


@dataclass(slots=True, unsafe_hash=True)
class OrderAccepted(OrderEventMessage):
    kind: ClassVar[str] = "OrderAccepted"
    venue_order_id: VenueOrderId | None = None


@dataclass(slots=True, unsafe_hash=True)
class OrderDenied(OrderEventMessage):
    """Refused by our own risk engine before reaching a venue; `reason` is a code plus detail."""

    kind: ClassVar[str] = "OrderDenied"
    reason: str = ""


@dataclass(slots=True, unsafe_hash=True)
class OrderRejected(OrderEventMessage):
    kind: ClassVar[str] = "OrderRejected"
    reason: str = ""


@dataclass(slots=True, unsafe_hash=True)
class OrderTriggered(OrderEventMessage):
    kind: ClassVar[str] = "OrderTriggered"


@dataclass(slots=True, unsafe_hash=True)
class OrderUpdated(OrderEventMessage):
    kind: ClassVar[str] = "OrderUpdated"
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(slots=True, unsafe_hash=True)
class OrderCanceled(OrderEventMessage):
    kind: ClassVar[str] = "OrderCanceled"
    reason: str = ""


@dataclass(slots=True, unsafe_hash=True)
class OrderExpired(OrderEventMessage):
    kind: ClassVar[str] = "OrderExpired"


@dataclass(slots=True, unsafe_hash=True)
class OrderFilled(Message):
    """A fill, with what it did to the venue-side position (when the venue books one: the simulated venue)."""

    kind: ClassVar[str] = "OrderFilled"
    fill: Fill
    position_quantity: Decimal | None = None  # the position after this fill
    realized_pnl: Decimal | None = None  # realized by this fill, before commission


@dataclass(slots=True, unsafe_hash=True)
class PositionChanged(Message):
    kind: ClassVar[str] = "PositionChanged"
    account_id: str
    instrument_id: InstrumentId
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    ts: int


@dataclass(slots=True, unsafe_hash=True)
class RiskStateChanged(Message):
    kind: ClassVar[str] = "RiskStateChanged"
    state: str
    previous: str
    reason: str
    ts: int


@dataclass(slots=True, unsafe_hash=True)
class MarketDataRejected(Message):
    """A bar that failed validation and never reached a strategy."""

    kind: ClassVar[str] = "MarketDataRejected"
    instrument_id: InstrumentId
    reason: str
    ts: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, unsafe_hash=True)
class ReconciliationMismatch(Message):
    """The venue disagreed with our books and was taken as the truth. `subject`: missing_fill, order_not_at_venue,
    unknown_venue_order, position."""

    kind: ClassVar[str] = "ReconciliationMismatch"
    subject: str
    detail: dict[str, Any]
    ts: int


_PLAIN = frozenset({str, int, bool, float, type(None)})  # JSON-safe as they are (ids are str at run time)


def _encode(value: Any) -> Any:
    if type(value) in _PLAIN:  # most fields: no isinstance chain
        return value
    if isinstance(value, Decimal | InstrumentId):
        return str(value)
    if isinstance(value, Order | Fill):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls
    for cls in (
        SubmitOrder,
        CancelOrder,
        ReplaceOrder,
        OrderSubmitted,
        OrderAccepted,
        OrderDenied,
        OrderRejected,
        OrderTriggered,
        OrderUpdated,
        OrderCanceled,
        OrderExpired,
        OrderFilled,
        PositionChanged,
        RiskStateChanged,
        MarketDataRejected,
        ReconciliationMismatch,
    )
}


def message_from_dict(data: dict[str, Any]) -> Message:
    """Rebuild a message from `to_dict` output (the journal's payload)."""
    cls = MESSAGE_TYPES[data["kind"]]
    values: dict[str, Any] = {}
    for spec in fields(cls):
        name = spec.name
        if name not in data:
            continue
        raw = data[name]
        annotation = str(spec.type)
        if raw is None:
            values[name] = None
        elif name == "order":
            values[name] = Order.from_dict(raw)
        elif name == "fill":
            values[name] = Fill.from_dict(raw)
        elif name == "instrument_id":
            values[name] = InstrumentId.parse(raw)
        elif "Decimal" in annotation:
            values[name] = Decimal(raw)
        else:
            values[name] = raw
    return cls(**values)
