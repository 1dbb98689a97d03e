"""The order path's rules, shared by the order-manager actor and the in-process `LiveLoop`.

1. `route_commands`: each new order meets the firm-wide pre-trade checks; a denial is an `OrderDenied` event for
   the strategy, anything else is recorded (write-ahead) as `OrderSubmitted` and goes on to its venue. A command
   resent after a restart finds its recorded answer instead (idempotent by client order id).
2. The venue write happens in between (a broker actor, or the client itself in process) and comes back as a
   `VenueAnswer`.
3. `book_answer`: the venue's report is booked like any report from its stream; a refusal is an `OrderRejected`;
   an answer that never came leaves the order `submitted` (in doubt) for reconciliation to settle. An unanswered
   write is never booked as rejected: the venue may have the order.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from trading.brokers.protocol import ExecutionClient, ExecutionReport, OrderReport
from trading.errors import FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.live.oms import OrderManager
from trading.messages import CancelOrder, Message, OrderRejected, ReplaceOrder, SubmitOrder
from trading.model.identifiers import ClientOrderId
from trading.model.orders import OrderStatus
from trading.risk.rules import RiskEngine


@dataclass(frozen=True, slots=True)
class VenueAnswer:
    """What a broker said to one order write: the venue's report of the order, or why there is none.
    `refused`: the venue refused the request as given (its words); `unknown`: no answer came and a lookup by
    client order id did not find the order."""

    report: OrderReport | None = None
    refused: str = ""
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class RoutedCommands:
    """One bar's commands after the risk check: what goes to the venue, and what the strategy is told now."""

    to_venue: list[Message] = field(default_factory=list)
    answers: list[Message] = field(default_factory=list)


def route_commands(
    commands: list[Message], risk: RiskEngine, oms: OrderManager, account_id: str, after_ts: int
) -> RoutedCommands:
    """Pre-trade risk and the write-ahead record for one strategy's commands of one bar."""
    routed = RoutedCommands()
    for command in commands:
        if isinstance(command, SubmitOrder):
            order = command.order
            if not order.broker:
                order.broker = account_id  # positions are kept per broker account
            known = oms.orders.get(order.client_order_id)
            if known is not None:
                # A resend: the recorded answer stands; an order still in doubt goes again (the venue dedupes by
                # client order id, and the broker looks it up before writing).
                if known.status is OrderStatus.DENIED:
                    routed.answers.append(oms.deny(order, known.reason, after_ts))
                elif known.status is OrderStatus.SUBMITTED:
                    routed.to_venue.append(command)
                continue
            reason = risk.check(order, oms, order.ts_init)
            if reason is not None:
                routed.answers.append(oms.deny(order, reason, after_ts))
                continue
            routed.answers.append(oms.submit(order, after_ts))
            routed.to_venue.append(command)
        elif isinstance(command, CancelOrder | ReplaceOrder):
            known = oms.orders.get(command.client_order_id)
            if known is not None and known.is_open:
                routed.to_venue.append(command)
    return routed


def book_answer(
    oms: OrderManager, command: Message, answer: VenueAnswer, account_id: str, after_ts: int
) -> list[Message]:
    """Book a venue's answer to one command; returns the events booked."""
    if answer.report is not None:
        return oms.on_report(ExecutionReport(answer.report), account_id, after_ts)
    if answer.refused and isinstance(command, SubmitOrder):
        known = oms.orders.get(command.order.client_order_id)
        if known is not None and known.status is not OrderStatus.SUBMITTED:
            return []  # the venue's own reports moved it on meanwhile: they are the truth
        order = command.order
        rejected = OrderRejected(order.client_order_id, order.strategy_id, order.instrument_id, order.ts_init,
                                 answer.refused)
        return [rejected, *oms.apply([rejected], after_ts)]
    return []


RATE_LIMIT_RESENDS = 3  # a submit the venue refused with 429 is sent again after Retry-After, at most this often
MAX_RETRY_AFTER_S = 10.0
LOOKUPS = (0.2, 0.5, 1.0, 2.0)  # waits between lookups of an unanswered write, seconds


async def write(client: ExecutionClient, command: Message) -> VenueAnswer:
    """Send one command to a venue and say what came of it. Never resends blindly: a write without an answer
    (timeout, 5xx) is looked up by client order id; only a write the venue refused for its rate limit (429: it
    did not take the order) is sent again, after the wait it asked for."""
    if isinstance(command, SubmitOrder):
        cid = command.order.client_order_id
    elif isinstance(command, CancelOrder | ReplaceOrder):
        cid = command.client_order_id
    else:
        raise TypeError(f"not an order command: {type(command).__name__}")
    for attempt in range(RATE_LIMIT_RESENDS + 1):
        try:
            return VenueAnswer(await _send(client, command))
        except (FixRequest, StopTrading) as refused:
            if isinstance(command, SubmitOrder):
                # A resent order the venue already has is refused as a duplicate: what it has is the answer.
                with contextlib.suppress(RetryLater):
                    known = await client.get_order(ClientOrderId(cid))
                    if known is not None:
                        return VenueAnswer(known)
            return VenueAnswer(refused=str(refused))
        except OrderStateUnknown:
            return await _look_up(client, cid)
        except RetryLater as busy:
            if busy.retry_after is None:  # a connection error: the request may have left
                return await _look_up(client, cid)
            if attempt == RATE_LIMIT_RESENDS:
                return VenueAnswer(refused=f"RATE_LIMITED: {busy}")
            await asyncio.sleep(min(busy.retry_after, MAX_RETRY_AFTER_S))
    raise AssertionError("unreachable")


async def _send(client: ExecutionClient, command: Message) -> OrderReport:
    if isinstance(command, SubmitOrder):
        return await client.submit_order(command.order)
    if isinstance(command, CancelOrder):
        return await client.cancel_order(command.client_order_id)
    if isinstance(command, ReplaceOrder):
        return await client.replace_order(
            command.client_order_id,
            quantity=command.quantity,
            limit_price=command.limit_price,
            stop_price=command.stop_price,
        )
    raise TypeError(f"not an order command: {type(command).__name__}")


async def _look_up(client: ExecutionClient, client_order_id: str) -> VenueAnswer:
    """Ask the venue for an order whose write went unanswered, a few times (it may still be on its way)."""
    for wait in LOOKUPS:
        await asyncio.sleep(wait)
        with contextlib.suppress(RetryLater):
            report = await client.get_order(ClientOrderId(client_order_id))
            if report is not None:
                return VenueAnswer(report)
    return VenueAnswer(unknown=True)
