"""Venue reports into core events.

A venue says what an order *is* (accepted, partly filled, canceled ...); the order manager needs what *happened*
(`OrderAccepted`, `OrderFilled`, `OrderCanceled` ...). `events_for_report` compares the venue's view with our
order and returns the events that take ours there, in lifecycle order. It never goes backwards: a stale report
(an "accepted" that arrives after the fill) yields nothing. Fills are events of their own (the report carries the
fill that changed the order); a status of FILLED without its fill moves nothing, since quantities and prices
must come from the fill itself (reconciliation fetches the fills).
"""

from __future__ import annotations

import dataclasses

from trading.brokers.protocol import ExecutionReport, OrderReport
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
from trading.model.fills import Fill
from trading.model.orders import Order, OrderStatus

_WORKING = frozenset({OrderStatus.ACCEPTED, OrderStatus.TRIGGERED, OrderStatus.PARTIALLY_FILLED})
_VENUE_KNOWS = _WORKING | {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.PENDING_CANCEL,
                           OrderStatus.PENDING_UPDATE}


def events_for_report(order: Order, report: ExecutionReport, known_trade: bool = False) -> list[Message]:
    """The events that move `order` (our book, not changed here) to what `report` says. `known_trade`: the
    report's fill is already booked (by trade id), so it is not an event again."""
    venue = report.order
    sid, iid, cid = order.strategy_id, order.instrument_id, order.client_order_id
    ts = venue.ts
    events: list[Message] = []
    if order.is_closed:
        # Only a fill can still arrive for a closed order (it crossed a cancel at the venue).
        if report.fill is not None and not known_trade and order.status is not OrderStatus.DENIED:
            events.append(OrderFilled(_owned(report.fill, order)))
        return events
    status = order.status
    if status is OrderStatus.SUBMITTED:
        if venue.status is OrderStatus.REJECTED:
            return [OrderRejected(cid, sid, iid, ts, venue.reason or "rejected by the venue")]
        if venue.status in _VENUE_KNOWS:
            events.append(OrderAccepted(cid, sid, iid, ts, venue.venue_order_id))
            status = OrderStatus.ACCEPTED
    if status is OrderStatus.SUBMITTED:
        return events
    if venue.status is OrderStatus.TRIGGERED and status is OrderStatus.ACCEPTED:
        events.append(OrderTriggered(cid, sid, iid, ts))
    if _changed(order, venue) and venue.status in _WORKING:
        events.append(
            OrderUpdated(
                cid,
                sid,
                iid,
                ts,
                venue.quantity if venue.quantity != order.quantity else None,
                venue.limit_price if venue.limit_price != order.limit_price else None,
                venue.stop_price if venue.stop_price != order.stop_price else None,
            )
        )
    if report.fill is not None and not known_trade:
        events.append(OrderFilled(_owned(report.fill, order)))
    if venue.status is OrderStatus.CANCELED:
        events.append(OrderCanceled(cid, sid, iid, ts, venue.reason or "canceled at the venue"))
    elif venue.status is OrderStatus.EXPIRED:
        events.append(OrderExpired(cid, sid, iid, ts))
    elif venue.status is OrderStatus.REJECTED:
        events.append(OrderCanceled(cid, sid, iid, ts, venue.reason or "rejected by the venue after acceptance"))
    return events


def _changed(order: Order, venue: OrderReport) -> bool:
    """The venue's order differs from ours in what a replace changes (prices only where the venue reports one)."""
    if venue.quantity != order.quantity:
        return True
    if venue.limit_price is not None and venue.limit_price != order.limit_price:
        return True
    return venue.stop_price is not None and venue.stop_price != order.stop_price


def _owned(fill: Fill, order: Order) -> Fill:
    """The fill with its order's strategy (venues do not know our strategies) and instrument."""
    if fill.strategy_id == order.strategy_id and fill.instrument_id == order.instrument_id:
        return fill
    return dataclasses.replace(fill, strategy_id=order.strategy_id, instrument_id=order.instrument_id)


def report_of(order: Order, ts: int, reason: str = "") -> OrderReport:
    """The venue's view of one of its own orders (the simulated venue's `Order`), as a venue would send it."""
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
        ts=ts,
        reason=reason or order.reason,
    )
