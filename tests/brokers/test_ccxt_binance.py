"""ccxt (Binance spot) through the real ccxt client against a local server replaying ccxt's recorded
Binance requests and responses."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import pytest
from aiohttp import web
from broker_support import fixture_json
from venue_server import Recorded, Reply, VenueServer, receive_json

from trading.brokers.ccxt import parsing
from trading.brokers.ccxt.config import CcxtConfig
from trading.brokers.ccxt.execution import CcxtBroker, build_exchange
from trading.brokers.credentials import Secret
from trading.brokers.errors import RateLimited
from trading.brokers.protocol import BarEvent
from trading.brokers.retry import Backoff
from trading.errors import ConfigError, FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType

REQUESTS = fixture_json("ccxt/binance_request_subset.json")
RESPONSES = fixture_json("ccxt/binance_response_subset.json")["methods"]
EXCHANGE_INFO = fixture_json("synthetic/binance_exchange_info.json")["body"]
FAST = Backoff(attempts=3, base=0.01, cap=0.05, jitter=False)
COID = ClientOrderId("dto-s1-000042")


def config(server: VenueServer, *, sandbox: bool = True, timeout: float = 2.0, **kwargs: Any) -> CcxtConfig:
    return CcxtConfig(
        api_key=Secret("binance-key"),
        secret=Secret("binance-secret-value"),
        sandbox=sandbox,
        timeout=timeout,
        rate_limit_ms=1,
        symbols=("LTC/USDT",),
        url_overrides={"public": f"{server.url}/api/v3", "private": f"{server.url}/api/v3"},
        **kwargs,
    )


def broker(server: VenueServer, **kwargs: Any) -> CcxtBroker:
    server.json("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    return CcxtBroker(config(server, **kwargs), read_backoff=FAST, stream_backoff=FAST)


def order(quantity: str, price: str | None = None, symbol: str = "LTC/USDT") -> Order:
    return Order(
        client_order_id=COID,
        strategy_id=StrategyId("s1"),
        instrument_id=InstrumentId(symbol, "BINANCE"),
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        quantity=Decimal(quantity),
        limit_price=Decimal(price) if price else None,
    )


async def _closing(b: CcxtBroker, coro: Any) -> Any:
    try:
        return await coro
    finally:
        await b.close()


def run(b: CcxtBroker, coro: Any) -> Any:
    return asyncio.run(_closing(b, coro))


def _without(form: dict[str, str], skip: list[str]) -> dict[str, str]:
    return {k: v for k, v in form.items() if k not in skip}


def _expected(output: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(output))


@pytest.mark.parametrize(
    "case",
    [c for c in REQUESTS["methods"]["createOrder"] if "/api/v3/" in c["url"]],
    ids=lambda c: c["description"],
)
def test_ccxt_sends_the_recorded_binance_request(server: VenueServer, case: dict[str, Any]) -> None:
    sandbox = "testnet" in case["url"]
    server.json("GET", "/api/v3/exchangeInfo", EXCHANGE_INFO)
    server.json("POST", "/api/v3/order", RESPONSES["createOrder"][0]["httpResponse"])
    plain = build_exchange(CcxtConfig(api_key=Secret("k"), secret=Secret("s"), sandbox=sandbox))
    assert plain.urls["api"]["private"] == case["url"].rsplit("/", 1)[0]  # sandbox picks the testnet
    exchange = build_exchange(config(server, sandbox=sandbox))

    async def create() -> None:
        try:
            await exchange.create_order(*case["input"])
        finally:
            await exchange.close()
            await plain.close()

    asyncio.run(create())
    (sent,) = server.calls("POST", "/api/v3/order")
    assert sent.path == urlparse(case["url"]).path
    assert _without(sent.form, REQUESTS["skipKeys"]) == _without(_expected(case["output"]), REQUESTS["skipKeys"])
    assert sent.headers["X-MBX-APIKEY"] == "binance-key"


def test_submit_rounds_to_the_market_step_and_sends_our_client_order_id(server: VenueServer) -> None:
    server.json("POST", "/api/v3/order", RESPONSES["createOrder"][0]["httpResponse"])
    b = broker(server)
    run(b, b.submit_order(order("0.4234234234", "55.32")))
    form = server.calls("POST", "/api/v3/order")[0].form
    assert form["quantity"] == "0.423" and form["price"] == "55.32"
    assert form["newClientOrderId"] == COID and form["type"] == "LIMIT" and form["timeInForce"] == "GTC"


def test_submit_below_the_market_minimum_is_refused_before_sending(server: VenueServer) -> None:
    b = broker(server)
    with pytest.raises(FixRequest, match="minimum"):
        run(b, b.submit_order(order("0.0004", "55")))
    assert server.calls("POST", "/api/v3/order") == []


def test_recorded_responses_parse_to_the_values_ccxt_reports(server: VenueServer) -> None:
    created = RESPONSES["createOrder"][0]
    server.json("POST", "/api/v3/order", created["httpResponse"])
    server.json("GET", "/api/v3/order", RESPONSES["fetchOrder"][0]["httpResponse"])
    server.json("GET", "/api/v3/openOrders", RESPONSES["fetchOpenOrders"][0]["httpResponse"])
    b = broker(server)

    async def scenario() -> Any:
        return (
            await b.submit_order(order("0.05", "241", "SOL/USDT")),
            await b.get_order(COID),
            await b.open_orders(InstrumentId("LTC/USDT", "BINANCE")),
        )

    submitted, fetched, (open_order,) = run(b, scenario())
    expected = created["parsedResponse"]
    assert submitted.venue_order_id == expected["id"] and submitted.client_order_id == expected["clientOrderId"]
    assert submitted.limit_price == Decimal("241") and submitted.quantity == Decimal("0.05")
    assert submitted.status is OrderStatus.ACCEPTED and submitted.ts == expected["timestamp"] * 1_000_000

    closed = RESPONSES["fetchOrder"][0]["parsedResponse"]
    assert fetched is not None and fetched.status is OrderStatus.FILLED
    assert fetched.avg_fill_price == Decimal(str(closed["average"])) == Decimal("90.8")
    assert fetched.filled_quantity == Decimal("0.1") and fetched.order_type is OrderType.MARKET
    assert server.calls("GET", "/api/v3/order")[0].query["origClientOrderId"] == COID

    assert open_order.order_type is OrderType.LIMIT and open_order.limit_price == Decimal("50")
    assert open_order.status is OrderStatus.ACCEPTED


def test_recorded_linear_position_parses_signed_with_entry_price() -> None:
    raw = RESPONSES["fetchPositions"][0]["parsedResponse"][0]
    position = parsing.contract_position(raw, "BINANCE")
    assert position.instrument_id == InstrumentId("BTC/USDT:USDT", "BINANCE")
    assert (position.quantity, position.avg_price, position.unrealized_pnl) == (
        Decimal("0.009"),
        Decimal("67445.9"),
        Decimal("0.51106678"),
    )


def test_instrument_precision_and_limits_come_from_the_exchange_markets(server: VenueServer) -> None:
    b = broker(server)
    instrument = run(b, b.instrument("BTC/USDT"))
    assert instrument.tick_size == Decimal("0.01") and instrument.lot_size == Decimal("0.00001")
    assert instrument.min_quantity == Decimal("0.00001") and instrument.currency == "USDT"
    assert instrument.make_quantity("0.0007856509959147719") == Decimal("0.00078")


def test_account_and_spot_positions_come_from_the_balance(server: VenueServer) -> None:
    server.json(
        "GET",
        "/api/v3/account",
        {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "accountType": "SPOT",
            "balances": [
                {"asset": "USDT", "free": "1000.50000000", "locked": "20.00000000"},
                {"asset": "LTC", "free": "0.42300000", "locked": "0.00000000"},
            ],
        },
    )
    b = broker(server)

    async def scenario() -> Any:
        return await b.account(), await b.positions()

    account, positions = run(b, scenario())
    assert account.cash == Decimal("1020.5") and account.buying_power == Decimal("1000.5")
    assert account.balances["LTC"] == Decimal("0.423")
    assert positions[0].instrument_id == InstrumentId("LTC/USDT", "BINANCE")
    assert positions[0].quantity == Decimal("0.423")


class BinanceOrderBook:
    """Counts order-create requests per newClientOrderId and answers lookups by origClientOrderId."""

    def __init__(self, server: VenueServer, create: Reply, *, store: bool) -> None:
        self.posts: Counter[str] = Counter()
        self.orders: dict[str, Any] = {}
        self.create_reply, self.store = create, store
        server.route("POST", "/api/v3/order", self.create)
        server.route("GET", "/api/v3/order", self.lookup)

    def create(self, request: Recorded) -> Reply:
        coid = request.form["newClientOrderId"]
        self.posts[coid] += 1
        body = dict(RESPONSES["createOrder"][0]["httpResponse"], clientOrderId=coid, symbol="LTCUSDT")
        if self.store:
            self.orders[coid] = body
        return self.create_reply if self.create_reply.status != 200 or self.create_reply.delay else Reply(200, body)

    def lookup(self, request: Recorded) -> Reply:
        found = self.orders.get(request.query.get("origClientOrderId", ""))
        if found is None:
            return Reply(400, {"code": -2013, "msg": "Order does not exist."})
        return Reply(200, dict(found, time=found["transactTime"], updateTime=found["transactTime"]))


def test_timed_out_create_is_state_unknown_then_found_by_client_order_id_never_resent(server: VenueServer) -> None:
    book = BinanceOrderBook(server, Reply(delay=1.5), store=True)
    b = broker(server, timeout=0.3)

    async def scenario() -> Any:
        with pytest.raises(OrderStateUnknown) as caught:
            await b.submit_order(order("0.2", "50"))
        return caught.value, await b.get_order(COID)

    error, report = run(b, scenario())
    assert error.client_order_id == COID and book.posts[COID] == 1
    assert report is not None and report.status is OrderStatus.ACCEPTED and report.client_order_id == COID


@pytest.mark.parametrize(
    "reply",
    [
        Reply(502, text="<html>bad gateway</html>"),
        Reply(503, {"code": -1000, "msg": "Unknown error, please check your request or try again later."}),
        Reply(500, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}),
        Reply(400, {"code": -1007, "msg": "Timeout waiting for response from backend server."}),
    ],
    ids=["502-html", "503-unknown", "500-internal", "1007-timeout"],
)
def test_5xx_or_unknown_status_on_create_is_state_unknown_and_not_resent(server: VenueServer, reply: Reply) -> None:
    book = BinanceOrderBook(server, reply, store=False)
    b = broker(server)

    async def scenario() -> Any:
        with pytest.raises(OrderStateUnknown):
            await b.submit_order(order("0.2", "50"))
        return await b.get_order(COID)

    assert run(b, scenario()) is None  # the caller's lookup: this venue never took it
    assert book.posts[COID] == 1 and len(server.calls("GET", "/api/v3/order")) == 1


def test_429_on_create_is_rate_limited_and_not_looked_up(server: VenueServer) -> None:
    book = BinanceOrderBook(server, Reply(429, {"code": -1003, "msg": "Too many requests"}), store=False)
    b = broker(server)
    with pytest.raises(RateLimited):
        run(b, b.submit_order(order("0.2", "50")))
    assert book.posts[COID] == 1 and server.calls("GET", "/api/v3/order") == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"code": -2010, "msg": "Account has insufficient balance for requested action."}, FixRequest),
        ({"code": -1013, "msg": "Filter failure: PRICE_FILTER"}, FixRequest),
        ({"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, StopTrading),
    ],
)
def test_exchange_refusals_are_named_by_what_to_do(server: VenueServer, body: Any, error: type[Exception]) -> None:
    book = BinanceOrderBook(server, Reply(400, body), store=False)
    b = broker(server)
    with pytest.raises(error):
        run(b, b.submit_order(order("0.2", "50")))
    assert book.posts[COID] == 1


def test_reads_retry_429_5xx_and_malformed_bodies(server: VenueServer) -> None:
    open_orders = RESPONSES["fetchOpenOrders"][0]["httpResponse"]
    server.route(
        "GET",
        "/api/v3/openOrders",
        Reply(429, {"code": -1003, "msg": "slow"}, headers={"Retry-After": "0"}),
        Reply(500, text="oops"),
        Reply(200, text='[{"symbol": '),
        Reply(200, open_orders),
    )
    b = broker(server)
    b._read_backoff = Backoff(attempts=4, base=0.01, cap=0.05, jitter=False)
    assert len(run(b, b.open_orders(InstrumentId("LTC/USDT", "BINANCE")))) == 1
    assert len(server.calls("GET", "/api/v3/openOrders")) == 4


def test_reads_give_up_with_retry_later(server: VenueServer) -> None:
    server.route("GET", "/api/v3/openOrders", Reply(503, text="down"))
    b = broker(server)
    with pytest.raises(RetryLater):
        run(b, b.open_orders())


def test_config_names_the_wrong_key_and_masks_secrets(server: VenueServer) -> None:
    with pytest.raises(ConfigError) as caught:
        CcxtConfig(exchange_id="nosuchexchange")
    assert caught.value.key == "CCXT_EXCHANGE"
    with pytest.raises(ConfigError) as caught:
        CcxtConfig(api_key=Secret("k"))
    assert caught.value.key == "CCXT_SECRET"
    assert "binance-secret-value" not in repr(broker(server))


def _kline(start_ms: int, close: str, closed: bool) -> dict[str, Any]:
    """A `<symbol>@kline_1m` event in Binance's documented shape."""
    k = {"t": start_ms, "T": start_ms + 59_999, "s": "LTCUSDT", "i": "1m", "f": 1, "L": 2, "o": "55.10"}
    k |= {"c": close, "h": "55.90", "l": "55.00", "v": "12.5", "n": 2, "x": closed, "q": "690", "V": "1", "Q": "55"}
    return {"e": "kline", "E": start_ms + 59_999, "s": "LTCUSDT", "k": k}


def test_bars_stream_once_per_closed_candle_and_rewatch_after_a_drop(server: VenueServer) -> None:
    connections: list[Any] = []
    minute = 1_700_000_040_000

    async def stream(ws: web.WebSocketResponse, _: Recorded) -> None:
        connections.append(ws)
        subscribe = await receive_json(ws)
        assert subscribe["method"] == "SUBSCRIBE" and subscribe["params"] == ["ltcusdt@kline_1m"]
        await ws.send_str(json.dumps({"result": None, "id": subscribe["id"]}))
        if len(connections) == 1:
            for close, closed in (("55.20", False), ("55.30", False), ("55.31", True), ("55.31", True)):
                await ws.send_str(json.dumps(_kline(minute, close, closed)))  # updates, the close, a repeat
                await asyncio.sleep(0.02)
            await ws.close()
            return
        await ws.send_str(json.dumps(_kline(minute + 60_000, "55.40", False)))
        await ws.send_str(json.dumps(_kline(minute + 120_000, "55.50", False)))  # closes the previous one
        async for _message in ws:
            pass

    server.websocket("/ws*", stream)
    b = broker(server, ws_url_overrides={"spot": f"{server.ws_url}/ws"})

    async def collect() -> list[BarEvent]:
        events: list[BarEvent] = []
        feed = b.market_data([InstrumentId("LTC/USDT", "BINANCE")])
        async for event in feed:
            assert isinstance(event, BarEvent)
            events.append(event)
            if len(events) == 2:
                break
        await feed.aclose()  # type: ignore[attr-defined]
        return events

    first, second = run(b, asyncio.wait_for(collect(), 10))
    assert len(connections) == 2
    assert (first.bar.ts, first.bar.close) == (minute * 1_000_000, 55.31)
    assert (second.bar.ts, second.bar.close) == ((minute + 60_000) * 1_000_000, 55.40)
