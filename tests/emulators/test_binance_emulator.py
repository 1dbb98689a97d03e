"""The ccxt adapter (and ccxt itself) against the Binance spot emulator: real ccxt REST and WebSocket calls to
a local server backed by the simulated venue on recorded 1-minute candles of an altcoin/BTC pair, served as
ETH/BTC (the test's choice; data/README.md says what the file is)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from emulators.binance import BinanceFee, BinanceSpotEmulator, spot_instrument, wire
from emulators.exchange import EmulatedExchange
from trading.brokers.ccxt.config import CcxtConfig
from trading.brokers.ccxt.execution import CcxtBroker
from trading.brokers.errors import RateLimited
from trading.brokers.protocol import BarEvent, ExecutionClient, ExecutionReport
from trading.brokers.retry import Backoff
from trading.brokers.settings import SettingsSource
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.errors import FixRequest, OrderStateUnknown, StopTrading
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType
from trading.sim.models import SimConfig

DATA = Path(__file__).resolve().parents[2] / "data" / "freqtrade" / "UNITTEST_BTC-1m.json"
SYMBOL = "ETH/BTC"
ETH = InstrumentId(SYMBOL, "BINANCE")
FEE = Decimal("0.001")
FAST = Backoff(attempts=3, base=0.01, cap=0.05, jitter=False)
WARM_UP = 30  # bars published before each test
T = TypeVar("T")


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return load_bars(DATA)


@pytest.fixture
def venue(bars: BarSeries) -> Iterator[BinanceSpotEmulator]:
    exchange = EmulatedExchange(
        {SYMBOL: (spot_instrument(SYMBOL), bars)},
        cash=Decimal(1),
        currency="BTC",
        sim=SimConfig(fees=BinanceFee(FEE), venue="BINANCE"),
    )
    with BinanceSpotEmulator(exchange) as server:
        server.advance(WARM_UP)
        yield server


@pytest.fixture(autouse=True)
def _quiet_ccxt() -> None:
    logging.getLogger("ccxt").setLevel(logging.CRITICAL)


def config(venue: BinanceSpotEmulator, timeout: float = 2.0) -> CcxtConfig:
    env = {**venue.environment(), "CCXT_TIMEOUT": str(timeout)}
    return CcxtConfig.from_settings(SettingsSource(env))


def broker(venue: BinanceSpotEmulator, timeout: float = 2.0) -> CcxtBroker:
    return CcxtBroker(config(venue, timeout), read_backoff=FAST, stream_backoff=FAST)


def run(b: CcxtBroker, scenario: Callable[[CcxtBroker], Awaitable[T]], limit: float = 15.0) -> T:
    async def closing() -> T:
        try:
            return await asyncio.wait_for(scenario(b), limit)
        finally:
            await b.close()

    return asyncio.run(closing())


def order(
    coid: str,
    side: OrderSide,
    quantity: str,
    kind: OrderType = OrderType.MARKET,
    limit: str | None = None,
    stop: str | None = None,
) -> Order:
    return Order(
        client_order_id=ClientOrderId(coid),
        strategy_id=StrategyId("s1"),
        instrument_id=ETH,
        side=side,
        order_type=kind,
        quantity=Decimal(quantity),
        limit_price=Decimal(limit) if limit else None,
        stop_price=Decimal(stop) if stop else None,
    )


async def advance(venue: BinanceSpotEmulator, bars: int = 1) -> None:
    """Step the venue clock from the test's loop without blocking it (the server answers meanwhile)."""
    await asyncio.to_thread(venue.advance, bars)


async def next_report(stream: AsyncIterator[ExecutionReport], timeout: float = 5.0) -> ExecutionReport:
    return await asyncio.wait_for(anext(stream), timeout)


async def connected(b: CcxtBroker, venue: BinanceSpotEmulator) -> AsyncIterator[ExecutionReport]:
    """The execution report stream, once the user data stream is subscribed at the venue."""
    stream = b.execution_reports()
    first = asyncio.ensure_future(anext(stream))
    deadline = time.monotonic() + 5
    while venue.user_stream_connections == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the subscribe request and its answer
    return _prepend(first, stream)


async def _prepend(
    first: Awaitable[ExecutionReport], rest: AsyncIterator[ExecutionReport]
) -> AsyncIterator[ExecutionReport]:
    yield await first
    async for item in rest:
        yield item


# -- protocol and plain REST ------------------------------------------------------------------------------
def test_the_adapter_is_an_execution_client(venue: BinanceSpotEmulator) -> None:
    assert isinstance(broker(venue), ExecutionClient)


def test_venue_time_is_the_recorded_clock(venue: BinanceSpotEmulator, bars: BarSeries) -> None:
    b = broker(venue)
    ns = run(b, lambda b: b.venue_time_ns())
    assert ns == int(bars.ts[WARM_UP - 1]) + 60_000_000_000 == venue.exchange.now_ns


def test_load_markets_needs_exchange_info_only_and_gets_the_filters(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)
    instrument = run(b, lambda b: b.instrument(SYMBOL))
    assert {path for _, path in venue.requests} == {"/api/v3/exchangeInfo"}
    assert instrument.tick_size == Decimal("0.00000001") and instrument.lot_size == Decimal(1)
    assert instrument.currency == "BTC"


def test_history_pages_closed_bars_without_look_ahead(venue: BinanceSpotEmulator, bars: BarSeries) -> None:
    venue.advance(2100)  # beyond two pages of 1000
    start, end = int(bars.ts[5]), int(bars.ts[2125])
    b = broker(venue)
    history = run(b, lambda b: b.history(ETH, start, end + 10 * 60_000_000_000))
    published = WARM_UP + 2100
    assert [bar.ts for bar in history] == [int(t) for t in bars.ts[5:published]]
    assert history[-1].close == float(bars.close[published - 1])
    assert sum(1 for method, path in venue.requests if path == "/api/v3/klines") == 3


def test_wrong_signature_is_binance_1022_and_stops_trading(venue: BinanceSpotEmulator) -> None:
    env = {**venue.environment(), "CCXT_SECRET": "not-the-secret"}
    b = CcxtBroker(CcxtConfig.from_settings(SettingsSource(env)), read_backoff=FAST)
    with pytest.raises(StopTrading) as caught:
        run(b, lambda b: b.account())
    assert '"code":-1022' in caught.value.detail.replace(" ", "")


def test_balances_per_asset_are_exact_with_locked_amounts(venue: BinanceSpotEmulator) -> None:
    """Binance's view of the core account: BTC = the cash, ETH = the position, open orders' holds locked."""
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> Any:
        await b.submit_order(order("buy-1", OrderSide.BUY, "10"))
        await advance(venue)
        fills = await b.fills_since(0)
        await b.submit_order(order("sell-1", OrderSide.SELL, "4", OrderType.LIMIT, limit="0.01"))
        await b.submit_order(order("buy-2", OrderSide.BUY, "2", OrderType.LIMIT, limit="0.00100000"))
        return fills, await b.account(), await b.exchange.fetch_balance()

    fills, account, balance = run(b, scenario)
    (fill,) = fills
    assert fill.client_order_id == "buy-1" and fill.quantity == Decimal(10)
    assert fill.commission == (Decimal(10) * fill.price * FEE).quantize(wire.EIGHT, "ROUND_HALF_UP")
    btc = Decimal(1) - Decimal(10) * fill.price - fill.commission
    assert venue.exchange.cash == btc and btc == btc.quantize(wire.EIGHT)
    assert account.balances == {"BTC": btc, "ETH": Decimal(10)}
    assert {k: Decimal(v) for k, v in balance["ETH"].items()} == {"free": 6, "used": 4, "total": 10}
    assert Decimal(balance["BTC"]["used"]) == Decimal("0.002")
    assert Decimal(balance["BTC"]["free"]) == btc - Decimal("0.002")


# -- orders -----------------------------------------------------------------------------------------------
def test_limit_order_rests_then_cancels_by_client_order_id(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> Any:
        placed = await b.submit_order(order("lim-1", OrderSide.BUY, "1", OrderType.LIMIT, limit="0.00100000"))
        await advance(venue)
        open_orders = await b.open_orders(ETH)
        canceled = await b.cancel_order(ClientOrderId("lim-1"))
        return placed, open_orders, canceled, await b.open_orders(ETH)

    placed, open_orders, canceled, after = run(b, scenario)
    assert placed.status is OrderStatus.ACCEPTED and placed.limit_price == Decimal("0.001")
    assert [o.client_order_id for o in open_orders] == ["lim-1"]
    assert canceled.status is OrderStatus.CANCELED and after == []
    assert venue.order_posts["lim-1"] == 1


def test_stop_limit_triggers_and_fills_at_the_venue(venue: BinanceSpotEmulator, bars: BarSeries) -> None:
    b = broker(venue)
    price = venue.exchange.last_price(SYMBOL)
    assert price is not None
    stop = str(price - Decimal("0.00000500"))

    async def scenario(b: CcxtBroker) -> Any:
        await b.submit_order(order("buy", OrderSide.BUY, "10"))
        await advance(venue)
        placed = await b.submit_order(order("stop-1", OrderSide.SELL, "10", OrderType.STOP_LIMIT, "0.0001", stop))
        for _ in range(2000):
            report = await b.get_order(ClientOrderId("stop-1"))
            if report is not None and report.status is OrderStatus.FILLED:
                return placed, report
            await advance(venue, 5)
        raise AssertionError("the stop never triggered")

    placed, filled = run(b, scenario, limit=30)
    assert placed.order_type is OrderType.STOP_LIMIT and placed.stop_price == Decimal(stop)
    assert filled.filled_quantity == Decimal(10)
    assert filled.avg_fill_price is not None and filled.avg_fill_price <= Decimal(stop)


@pytest.mark.parametrize(
    ("quantity", "limit", "code"),
    [("1000", "0.00100000", -2010), ("1.5", "0.00100000", -1013), ("1", "0.000000001", -1013)],
    ids=["insufficient-balance", "lot-size", "price-filter"],
)
def test_refusals_are_binance_errors_and_fix_request(
    venue: BinanceSpotEmulator, quantity: str, limit: str, code: int
) -> None:
    async def raw() -> tuple[int, Any]:
        # signed by hand, so the adapter's own rounding and minimum checks cannot hide the venue's
        query = f"symbol=ETHBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity={quantity}&price={limit}"
        query += f"&timestamp={int(time.time() * 1000)}"
        body = f"{query}&signature={wire.sign(query, venue.secret)}"
        headers = {"X-MBX-APIKEY": venue.api_key, "Content-Type": "application/x-www-form-urlencoded"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{venue.rest_url}/order", data=body, headers=headers) as response,
        ):
            return response.status, await response.json()

    status, answer = asyncio.run(raw())
    assert status == 400 and answer["code"] == code and answer["msg"]
    assert venue.exchange.orders() == []
    b = broker(venue)
    with pytest.raises(FixRequest):
        run(b, lambda b: b.submit_order(order("too-big", OrderSide.BUY, "1000", OrderType.LIMIT, limit="0.001")))


def test_a_duplicate_client_order_id_is_refused(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> None:
        await b.submit_order(order("dup-1", OrderSide.BUY, "1", OrderType.LIMIT, limit="0.001"))
        await b.submit_order(order("dup-1", OrderSide.BUY, "1", OrderType.LIMIT, limit="0.001"))

    with pytest.raises(FixRequest, match="Duplicate order sent"):
        run(b, scenario)
    assert venue.order_posts["dup-1"] == 2 and len(venue.exchange.orders()) == 1


# -- the user data stream -----------------------------------------------------------------------------------
def test_user_data_stream_delivers_accept_then_fill_in_order(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> list[ExecutionReport]:
        stream = await connected(b, venue)
        await b.submit_order(order("mkt-1", OrderSide.BUY, "3"))
        accepted = await next_report(stream)
        await advance(venue)
        filled = await next_report(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        return [accepted, filled]

    accepted, filled = run(b, scenario)
    assert accepted.fill is None and accepted.order.status is OrderStatus.ACCEPTED
    assert accepted.order.client_order_id == "mkt-1"
    assert filled.order.status is OrderStatus.FILLED and filled.order.filled_quantity == Decimal(3)
    assert filled.fill is not None and filled.fill.client_order_id == "mkt-1"
    (venue_fill,) = venue.exchange.fills()
    assert (filled.fill.quantity, filled.fill.price) == (venue_fill.quantity, venue_fill.price)
    assert filled.fill.commission == venue_fill.commission and filled.fill.currency == "BTC"


def test_an_order_placed_by_hand_reaches_the_stream_and_the_stream_reconnects(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> list[ExecutionReport]:
        stream = await connected(b, venue)
        venue.drop_user_stream()
        deadline = time.monotonic() + 5
        while venue.user_stream_connections == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await asyncio.to_thread(venue.place_by_hand, SYMBOL, OrderSide.BUY, Decimal(2))
        accepted = await next_report(stream)
        await advance(venue)
        filled = await next_report(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        return [accepted, filled]

    accepted, filled = run(b, scenario)
    assert accepted.order.client_order_id == filled.order.client_order_id == "hand-1"
    assert filled.fill is not None and filled.fill.quantity == Decimal(2)


# -- market data ------------------------------------------------------------------------------------------
def test_closed_candles_arrive_once_each_and_the_stream_reconnects(venue: BinanceSpotEmulator, bars: BarSeries) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> list[BarEvent]:
        feed = b.market_data([ETH])
        events: list[BarEvent] = []
        first = asyncio.ensure_future(anext(feed))
        while venue.market_stream_connections == 0:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await advance(venue)
        events.append(await asyncio.wait_for(first, 5))  # type: ignore[arg-type]
        await advance(venue)
        events.append(await asyncio.wait_for(anext(feed), 5))  # type: ignore[arg-type]
        venue.drop_market_stream()
        third = asyncio.ensure_future(anext(feed))  # the feed re-watches when pulled
        while venue.market_stream_connections == 0:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await advance(venue)
        events.append(await asyncio.wait_for(third, 5))  # type: ignore[arg-type]
        await feed.aclose()  # type: ignore[attr-defined]
        return events

    events = run(b, scenario)
    expected = [int(t) for t in bars.ts[WARM_UP : WARM_UP + 3]]
    assert [e.bar.ts for e in events] == expected
    assert [e.bar.close for e in events] == [float(c) for c in bars.close[WARM_UP : WARM_UP + 3]]
    assert all(e.instrument_id == ETH for e in events) and b.bad_candles == 0


def test_a_malformed_candle_is_counted_and_dropped(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> BarEvent:
        feed = b.market_data([ETH])
        first = asyncio.ensure_future(anext(feed))
        while venue.market_stream_connections == 0:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        broken = {
            "e": "kline",
            "E": 1,
            "s": "ETHBTC",
            "k": {
                "t": 60_000,
                "T": 119_999,
                "s": "ETHBTC",
                "i": "1m",
                "o": "0.002",
                "h": "0.001",
                "l": "0.003",
                "c": "0.002",
                "v": "1",
                "x": True,
            },
        }
        venue._loop.call_soon_threadsafe(venue._send_stream, "ethbtc@kline_1m", json.dumps(broken))
        await asyncio.sleep(0.1)
        await advance(venue)
        event = await asyncio.wait_for(first, 5)
        await feed.aclose()  # type: ignore[attr-defined]
        assert isinstance(event, BarEvent)
        return event

    event = run(b, scenario)
    assert b.bad_candles == 1 and event.bar.ts == venue.exchange.now_ns - 60_000_000_000


# -- faults -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 503])
def test_an_error_after_the_venue_took_the_order_is_state_unknown_then_found_once(
    venue: BinanceSpotEmulator, status: int
) -> None:
    venue.fail_next_order(status)
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> Any:
        with pytest.raises(OrderStateUnknown) as caught:
            await b.submit_order(order("x-1", OrderSide.BUY, "1", OrderType.LIMIT, limit="0.001"))
        return caught.value, await b.get_order(ClientOrderId("x-1"))

    error, found = run(b, scenario)
    assert error.client_order_id == "x-1"
    assert found is not None and found.status is OrderStatus.ACCEPTED
    assert venue.order_posts["x-1"] == 1 and len(venue.exchange.orders()) == 1


def test_a_hung_order_post_is_state_unknown_then_found_once(venue: BinanceSpotEmulator) -> None:
    venue.hang_next_order(1.2)
    b = broker(venue, timeout=0.4)

    async def scenario(b: CcxtBroker) -> Any:
        with pytest.raises(OrderStateUnknown):
            await b.submit_order(order("slow-1", OrderSide.BUY, "1", OrderType.LIMIT, limit="0.001"))
        absent = await b.get_order(ClientOrderId("slow-1"))
        await asyncio.sleep(1.2)
        return absent, await b.get_order(ClientOrderId("slow-1"))

    absent, found = run(b, scenario)
    assert absent is None
    assert found is not None and found.status is OrderStatus.ACCEPTED
    assert venue.order_posts["slow-1"] == 1 and len(venue.exchange.orders()) == 1


def test_429_on_an_order_is_rate_limited_with_retry_after_and_reads_retry(venue: BinanceSpotEmulator) -> None:
    b = broker(venue)

    async def scenario(b: CcxtBroker) -> Any:
        await b.connect()
        venue.rate_limit_next(1, retry_after_s=3)
        with pytest.raises(RateLimited) as caught:
            await b.submit_order(order("rl-1", OrderSide.BUY, "1", OrderType.LIMIT, limit="0.001"))
        venue.rate_limit_next(2, retry_after_s=0)
        return caught.value, await b.open_orders(ETH)

    error, open_orders = run(b, scenario)
    assert error.retry_after == 3.0
    assert open_orders == [] and venue.order_posts["rl-1"] == 1 and venue.exchange.orders() == []


def test_the_raw_wire_matches_binance(venue: BinanceSpotEmulator) -> None:
    async def fetch() -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{venue.rest_url}/time") as response:
                clock = await response.json()
            async with session.get(
                f"{venue.rest_url}/klines", params={"symbol": "ETHBTC", "interval": "1m", "limit": "2"}
            ) as response:
                klines = await response.json()
            async with session.get(f"{venue.rest_url}/account") as response:
                refused = response.status, await response.json()
        return clock, klines, refused

    clock, klines, refused = asyncio.run(fetch())
    assert clock == {"serverTime": venue.exchange.now_ns // 1_000_000}
    assert len(klines) == 2 and klines[-1][6] == clock["serverTime"] - 1 and isinstance(klines[-1][1], str)
    assert refused == (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
