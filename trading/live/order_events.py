"""Applying venue order events to an order: one rule shared by the strategy host and the order manager."""

from __future__ import annotations

import copy
from decimal import Decimal

from trading.messages import (
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from trading.model.identifiers import ClientOrderId
from trading.model.orders import Order, OrderStatus, OrderTrigger

ZERO = Decimal(0)


def event_order_id(event: Message) -> ClientOrderId | None:
    """The client order id an event is about (None for events that are not about one order)."""
    if isinstance(event, OrderFilled):
        return event.fill.client_order_id
    cid = getattr(event, "client_order_id", None)
    return ClientOrderId(cid) if isinstance(cid, str) else None


def apply_order_event(order: Order, event: Message) -> None:
    """Move `order` by `event` through its state machine (an illegal transition raises)."""
    if isinstance(event, OrderFilled):
        fill = event.fill
        if order.status is OrderStatus.INITIALIZED:
            order.apply(OrderTrigger.SUBMIT, fill.ts)
        order.record_fill(fill.quantity, fill.price, fill.ts)
        if fill.venue_order_id is not None:
            order.venue_order_id = fill.venue_order_id
        return
    if isinstance(event, OrderSubmitted):
        order.apply(OrderTrigger.SUBMIT, event.ts)
    elif isinstance(event, OrderDenied):
        order.apply(OrderTrigger.DENY, event.ts, event.reason)
    elif isinstance(event, OrderAccepted | OrderRejected | OrderCanceled | OrderExpired | OrderTriggered):
        if order.status is OrderStatus.INITIALIZED:
            order.apply(OrderTrigger.SUBMIT, event.ts)  # the venue answered before our submit event arrived
        if isinstance(event, OrderAccepted):
            order.apply(OrderTrigger.ACCEPT, event.ts)
            order.venue_order_id = event.venue_order_id
        elif isinstance(event, OrderRejected):
            order.apply(OrderTrigger.REJECT, event.ts, event.reason)
        elif isinstance(event, OrderCanceled):
            order.apply(OrderTrigger.CANCEL, event.ts, event.reason)
        elif isinstance(event, OrderExpired):
            order.apply(OrderTrigger.EXPIRE, event.ts)
        else:
            order.apply(OrderTrigger.TRIGGER, event.ts)
    elif isinstance(event, OrderUpdated):
        if event.quantity is not None:
            order.quantity = event.quantity
        if event.limit_price is not None:
            order.limit_price = event.limit_price
        if event.stop_price is not None:
            order.stop_price = event.stop_price
        order.apply(OrderTrigger.UPDATE, event.ts)


def fresh_copy(order: Order) -> Order:
    """An independent copy of `order` as it was created: components never share a mutable order."""
    clone = copy.copy(order)
    clone.tags = dict(order.tags)
    clone.status = OrderStatus.INITIALIZED
    clone.filled_quantity = ZERO
    clone.avg_fill_price = None
    clone.venue_order_id = None
    clone.ts_last = 0
    clone.reason = ""
    return clone


def state_copy(order: Order) -> Order:
    """An independent copy of `order` including its current state."""
    clone = copy.copy(order)
    clone.tags = dict(order.tags)
    return clone
