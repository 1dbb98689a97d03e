"""Alpaca fault handling against the local server: timeouts, 5xx, 429, malformed bodies; never a second POST."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from broker_support import alpaca_body
from test_alpaca_rest import COID, make_broker, order
from venue_server import Recorded, Reply, VenueServer

from trading.brokers.errors import RateLimited
from trading.errors import FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.orders import OrderStatus


class AlpacaOrderBook:
    """A venue that stores what it accepts and counts order-create requests per client order id."""

    def __init__(self, server: VenueServer, post_reply: Reply, *, store: bool = True) -> None:
        self.posts: Counter[str] = Counter()
        self.orders: dict[str, dict[str, Any]] = {}
        self.post_reply = post_reply
        self.store = store
        server.route("POST", "/v2/orders", self.create)
        server.route("GET", "/v2/orders:by_client_order_id", self.lookup)

    def create(self, request: Recorded) -> Reply:
        body = request.json
        self.posts[body["client_order_id"]] += 1
        stored = copy.deepcopy(alpaca_body("test_order_routes__test_market_order"))
        stored["client_order_id"] = body["client_order_id"]
        if self.store:
            self.orders[body["client_order_id"]] = stored
        reply = copy.copy(self.post_reply)
        if reply.status == 200 and reply.body is None and reply.text is None:
            reply.body = stored
        return reply

    def lookup(self, request: Recorded) -> Reply:
        found = self.orders.get(request.query["client_order_id"])
        return Reply(200, found) if found else Reply(404, {"code": 40410000, "message": "order not found"})


def test_timed_out_submit_is_looked_up_by_client_order_id_never_resent(server: VenueServer) -> None:
    book = AlpacaOrderBook(server, Reply(delay=1.5))  # stored at once, answered too late
    started = time.monotonic()
    report = asyncio.run(make_broker(server, timeout=0.3).submit_order(order()))
    assert book.posts[COID] == 1
    assert report.status is OrderStatus.ACCEPTED and report.client_order_id == COID
    assert server.calls("GET", "/v2/orders:by_client_order_id")[0].query == {"client_order_id": COID}
    assert time.monotonic() - started < 3


def test_5xx_on_submit_with_no_order_at_the_venue_is_unknown_never_rejected_or_resent(server: VenueServer) -> None:
    """Not found yet is not "rejected": the request may still be on its way, so the caller books the order as
    unknown and reconciliation settles it."""
    book = AlpacaOrderBook(server, Reply(500, {"code": 50010000, "message": "internal"}), store=False)
    with pytest.raises(OrderStateUnknown) as raised:
        asyncio.run(make_broker(server).submit_order(order()))
    assert raised.value.client_order_id == COID
    assert book.posts[COID] == 1
    assert len(server.calls("GET", "/v2/orders:by_client_order_id")) == 3  # the grace lookups


def test_504_on_submit_is_sent_once_although_alpaca_py_would_retry_it(server: VenueServer) -> None:
    book = AlpacaOrderBook(server, Reply(504, {"code": 50400000, "message": "gateway timeout"}))
    report = asyncio.run(make_broker(server).submit_order(order()))
    assert book.posts[COID] == 1 and report.status is OrderStatus.ACCEPTED


def test_malformed_submit_answer_is_reconciled_by_lookup(server: VenueServer) -> None:
    book = AlpacaOrderBook(server, Reply(200, text='{"id": "61e69015", "status": '))
    report = asyncio.run(make_broker(server).submit_order(order()))
    assert book.posts[COID] == 1 and report.venue_order_id == "61e69015-8549-4bfd-b9c3-01e75843f47d"


def test_429_on_submit_raises_rate_limited_without_lookup_or_resend(server: VenueServer) -> None:
    book = AlpacaOrderBook(
        server, Reply(429, {"code": 42910000, "message": "rate limit"}, headers={"Retry-After": "2"})
    )
    with pytest.raises(RateLimited) as caught:
        asyncio.run(make_broker(server).submit_order(order()))
    assert caught.value.retry_after == 2.0
    assert book.posts[COID] == 1 and server.calls("GET", "/v2/orders:by_client_order_id") == []


def test_submit_and_lookup_both_failing_raises_order_state_unknown(server: VenueServer) -> None:
    AlpacaOrderBook(server, Reply(503, {"code": 1, "message": "down"}))
    server.route("GET", "/v2/orders:by_client_order_id", Reply(503, {"code": 1, "message": "down"}))
    with pytest.raises(OrderStateUnknown) as caught:
        asyncio.run(make_broker(server).submit_order(order()))
    assert caught.value.client_order_id == COID


def test_read_retries_429_honouring_retry_after_then_succeeds(server: VenueServer) -> None:
    account = alpaca_body("test_account_routes__test_get_account")
    server.route(
        "GET",
        "/v2/account",
        Reply(429, {"code": 42910000, "message": "slow down"}, headers={"Retry-After": "0.2"}),
        Reply(200, account),
    )
    started = time.monotonic()
    result = asyncio.run(make_broker(server).account())
    assert result.equity == Decimal("103820.56")
    assert len(server.calls("GET", "/v2/account")) == 2
    assert time.monotonic() - started >= 0.2


def test_read_retries_5xx_and_malformed_bodies_then_gives_up_with_retry_later(server: VenueServer) -> None:
    positions = alpaca_body("test_position_routes__test_get_all_positions")
    server.route(
        "GET",
        "/v2/positions",
        Reply(502, text="<html>bad gateway</html>"),
        Reply(200, text="[{"),
        Reply(200, positions),
    )
    assert len(asyncio.run(make_broker(server).positions())) == 1
    server.route("GET", "/v2/account", Reply(500, {"code": 1, "message": "boom"}))
    with pytest.raises(RetryLater):
        asyncio.run(make_broker(server).account())
    assert len(server.calls("GET", "/v2/account")) == 3


def test_read_timeout_is_retried(server: VenueServer) -> None:
    account = alpaca_body("test_account_routes__test_get_account")
    server.route("GET", "/v2/account", Reply(200, account, delay=1.0), Reply(200, account))
    assert asyncio.run(make_broker(server, timeout=0.3).account()).currency == "USD"


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, 40110000, StopTrading),
        (403, 40310001, StopTrading),
        (403, 40310000, FixRequest),  # insufficient buying power
        (422, 42210000, FixRequest),
    ],
)
def test_venue_refusals_are_named_by_what_to_do(
    server: VenueServer, status: int, code: int, error: type[Exception]
) -> None:
    book = AlpacaOrderBook(server, Reply(status, {"code": code, "message": "refused"}), store=False)
    with pytest.raises(error):
        asyncio.run(make_broker(server).submit_order(order()))
    assert book.posts[COID] == 1 and server.calls("GET", "/v2/orders:by_client_order_id") == []


def test_translated_errors_never_carry_the_secret(server: VenueServer) -> None:
    server.json("GET", "/v2/account", {"code": 40110000, "message": "invalid key"}, status=401)
    with pytest.raises(StopTrading) as caught:
        asyncio.run(make_broker(server).account())
    text = f"{caught.value!r} {caught.value} {caught.value.detail}"
    assert "very-secret-value" not in text
