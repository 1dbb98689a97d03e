"""The order write path: send once, and if the answer is lost, look the order up by client order id.

A submit that times out or gets a 5xx may or may not have reached the venue. Sending it again could double
the position, so it is never resent: the adapter looks the order up by its client order id (a read, retried
with backoff). Found: that report is the truth. Still absent after the grace lookups: the venue never took
it, and the order ends REJECTED with a reason. The lookup itself failing: `OrderStateUnknown` (reconcile
later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from trading.brokers.errors import RateLimited
from trading.brokers.protocol import OrderReport
from trading.brokers.retry import Backoff, retry_read
from trading.errors import OrderStateUnknown, RetryLater
from trading.model.orders import Order

log = logging.getLogger(__name__)


class _Absent(RetryLater):
    """The lookup found nothing yet; the order may still be in flight at the venue."""


async def submit_once(
    order: Order,
    *,
    venue: str,
    send: Callable[[], Awaitable[OrderReport]],
    lookup: Callable[[], Awaitable[OrderReport | None]],
    timeout: float,
    lookup_backoff: Backoff,
) -> OrderReport:
    """Send `order` once; on a lost answer reconcile by client order id instead of resending."""
    try:
        return await asyncio.wait_for(send(), timeout)
    except TimeoutError:
        cause = f"no answer within {timeout}s"
    except RateLimited:
        raise  # refused before it was processed: nothing to reconcile, the caller may send it later
    except RetryLater as exc:  # timeouts, 5xx, dropped connections, malformed answers: outcome unknown
        cause = str(exc)
    log.warning("%s: submit of %s unanswered (%s); looking it up", venue, order.client_order_id, cause)

    async def lookup_present() -> OrderReport:
        report = await asyncio.wait_for(lookup(), timeout)
        if report is None:
            raise _Absent(f"{order.client_order_id} not at {venue} yet", venue=venue)
        return report

    async def lookup_with_timeouts() -> OrderReport:
        try:
            return await lookup_present()
        except TimeoutError:
            raise RetryLater(f"lookup of {order.client_order_id} timed out", venue=venue) from None

    try:
        return await retry_read(lookup_with_timeouts, backoff=lookup_backoff, what=f"lookup {order.client_order_id}")
    except _Absent:
        # Not found yet is not "rejected": the request may still be on its way. The caller books it as unknown
        # and reconciliation settles it.
        raise OrderStateUnknown(
            f"{venue}: submit of {order.client_order_id} unanswered ({cause}) and not found yet",
            venue=venue,
            client_order_id=order.client_order_id,
        ) from None
    except RetryLater as exc:
        raise OrderStateUnknown(
            f"{venue}: submit of {order.client_order_id} unanswered and lookup failed: {exc}",
            venue=venue,
            client_order_id=order.client_order_id,
            detail=cause,
        ) from exc

