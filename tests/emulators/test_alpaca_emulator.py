"""The real Alpaca adapter (and alpaca-py under it) against the Alpaca emulator over recorded S&P 500 bars."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient

from emulators.alpaca import AlpacaEmulator
from emulators.exchange import EmulatedExchange
from trading.brokers.alpaca.config import AlpacaConfig
from trading.brokers.alpaca.execution import AlpacaBroker
from trading.brokers.credentials import Secret
from trading.brokers.errors import RateLimited
from trading.brokers.protocol import BarEvent, ExecutionClient, ExecutionReport
from trading.brokers.retry import Backoff
from trading.data.bars import BarSeries
from trading.errors import FixRequest, OrderStateUnknown, StopTrading
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import TradingSession, equity
from trading.model.orders import ContingencyType, Order, OrderSide, OrderStatus, OrderType, TimeInForce

SPY = equity("SPY", venue="ALPACA", sessions=(TradingSession.parse("09:30-16:00", "America/New_York"),))
SPY_ID = InstrumentId("SPY", "ALPACA")
T = TypeVar("T")


@pytest.fixture
def emulator(sp500_bars: BarSeries) -> Iterator[AlpacaEmulator]:
    exchange = EmulatedExchange({"SPY": (SPY, sp500_bars.slice(0, 120))}, cash=Decimal(1_000_000))
    with AlpacaEmulator(exchange, bars_page_size=7) as server:
        server.advance()  # the 09:30 bar is closed: the market is open and has a price
        yield server


def broker_for(server: AlpacaEmulator, *, timeout: float = 2.0, secret: str | None = None) -> AlpacaBroker:
    env = server.env()
    return AlpacaBroker(
        AlpacaConfig(
            api_key=Secret(env["ALPACA_API_KEY"]),
            secret_key=Secret(secret or env["ALPACA_SECRET_KEY"]),
            timeout=timeout,
            rate_limit_per_minute=6000,
            trading_url=env["ALPACA_TRADING_URL"],
            data_url=env["ALPACA_DATA_URL"],
            trading_stream_url=env["ALPACA_TRADING_STREAM_URL"],
            stock_stream_url=env["ALPACA_STOCK_STREAM_URL"],
        ),
        read_backoff=Backoff(attempts=4, base=0.05, cap=0.2),
        lookup_backoff=Backoff(attempts=8, base=0.1, cap=0.4, jitter=False),
    )


def order(coid: str, side: OrderSide = OrderSide.BUY, kind: OrderType = OrderType.MARKET, **fields: Any) -> Order:
    return Order(ClientOrderId(coid), StrategyId("s1"), SPY_ID, side, kind, Decimal(fields.pop("qty", 2)), **fields)


async def until(check: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def take(stream: AsyncIterator[T], n: int, timeout: float = 8.0) -> list[T]:
    return [await asyncio.wait_for(anext(stream), timeout) for _ in range(n)]


def venue_orders(server: AlpacaEmulator, coid: str) -> list[Order]:
    return [o for o in server.exchange.orders() if o.client_order_id == coid]


# --------------------------------------------------------------------------------------------- orders
@pytest.mark.parametrize(
    ("kind", "fields", "replace"),
    [
        (OrderType.LIMIT, {"limit_price": Decimal("2900.00")}, {"limit_price": Decimal("2901.50")}),
        (OrderType.STOP, {"stop_price": Decimal("3300.00")}, {"stop_price": Decimal("3299.00")}),
        (
            OrderType.STOP_LIMIT,
            {"stop_price": Decimal("3300.00"), "limit_price": Decimal("3301.00")},
            {"limit_price": Decimal("3302.00")},
        ),
        (OrderType.TRAILING_STOP, {"trailing_offset": Decimal("400.00")}, {"quantity": Decimal(3)}),
    ],
)
def test_submit_replace_cancel_each_resting_order_type(
    emulator: AlpacaEmulator, kind: OrderType, fields: dict[str, Any], replace: dict[str, Decimal]
) -> None:
    broker = broker_for(emulator)

    async def scenario() -> None:
        placed = await broker.submit_order(order("o-1", kind=kind, time_in_force=TimeInForce.GTC, **fields))
        assert placed.status is OrderStatus.ACCEPTED and placed.order_type is kind
        emulator.advance()  # far from the market: still working
        replaced = await broker.replace_order(ClientOrderId("o-1"), **replace)
        assert replaced.client_order_id == "o-1" and replaced.raw["client_order_id"] == "o-1-R1"
        for name, value in replace.items():
            assert getattr(replaced, name) == value
        [open_order] = await broker.open_orders()
        assert open_order.raw["id"] == replaced.raw["id"]
        canceled = await broker.cancel_order(ClientOrderId("o-1"))
        assert canceled.status is OrderStatus.CANCELED
        assert await broker.open_orders() == []
        await broker.close()

    asyncio.run(scenario())
    [venue_order] = venue_orders(emulator, "o-1")
    assert venue_order.status is OrderStatus.CANCELED
    assert emulator.submits == {"o-1": 1}


def test_market_order_fills_at_the_next_bar_open_and_books_position_fills_account(emulator: AlpacaEmulator) -> None:
    broker = broker_for(emulator)
    assert isinstance(broker, ExecutionClient)

    async def scenario() -> None:
        since = emulator.exchange.now_ns
        placed = await broker.submit_order(order("m-1", qty=3, time_in_force=TimeInForce.DAY))
        assert placed.status is OrderStatus.ACCEPTED
        emulator.advance()
        next_open = SPY.make_price(emulator.exchange.last_bar("SPY").open)  # type: ignore[union-attr]
        filled = await broker.get_order(ClientOrderId("m-1"))
        assert filled is not None and filled.status is OrderStatus.FILLED and filled.avg_fill_price == next_open
        [position] = await broker.positions()
        assert (position.instrument_id, position.quantity, position.avg_price) == (SPY_ID, Decimal(3), next_open)
        [fill] = await broker.fills_since(since - 1)
        assert (fill.client_order_id, fill.quantity, fill.price) == ("m-1", Decimal(3), next_open)
        account = await broker.account()
        assert account.cash == Decimal(1_000_000) - 3 * next_open
        assert account.equity == emulator.exchange.equity()
        assert await broker.venue_time_ns() == emulator.exchange.now_ns
        await broker.close()

    asyncio.run(scenario())


def test_bracket_oto_and_oco_orders_carry_their_legs(emulator: AlpacaEmulator) -> None:
    broker = broker_for(emulator)
    tags = {"take_profit": "3500.00", "stop_loss": "2500.00"}

    async def scenario() -> None:
        bracket = await broker.submit_order(order("b-1", contingency=ContingencyType.OTO, tags=dict(tags)))
        assert bracket.raw["order_class"] == "bracket"
        assert sorted(leg["status"] for leg in bracket.raw["legs"]) == ["held", "held"]
        emulator.advance()  # the entry fills, its exits start working
        legs = [r for r in await broker.open_orders() if r.client_order_id != "b-1"]
        assert sorted((r.order_type.value, r.side.value) for r in legs) == [("limit", "sell"), ("stop", "sell")]
        oto = await broker.submit_order(order("t-1", contingency=ContingencyType.OTO, tags={"take_profit": "3500.00"}))
        assert oto.raw["order_class"] == "oto" and len(oto.raw["legs"]) == 1
        oco = await broker.submit_order(
            order(
                "c-1",
                OrderSide.SELL,
                OrderType.LIMIT,
                limit_price=Decimal("3500.00"),
                contingency=ContingencyType.OCO,
                tags=dict(tags),
            )
        )
        assert oco.raw["order_class"] == "oco" and oco.raw["legs"][0]["type"] == "stop"
        await broker.cancel_order(ClientOrderId("b-1"))  # filled: nothing to cancel, its legs keep working
        await broker.close()

    asyncio.run(scenario())
    assert emulator.submits == {"b-1": 1, "t-1": 1, "c-1": 1}


def test_duplicate_client_order_id_gets_alpacas_422_and_one_order(emulator: AlpacaEmulator) -> None:
    env = emulator.env()
    client = TradingClient(env["ALPACA_API_KEY"], env["ALPACA_SECRET_KEY"], raw_data=True, url_override=emulator.url)
    body = {"symbol": "SPY", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
    first: Any = client.post("/orders", {**body, "client_order_id": "dup-1"})
    assert first["status"] == "new" and first["qty"] == "1" and first["filled_qty"] == "0"
    with pytest.raises(APIError) as caught:
        client.post("/orders", {**body, "client_order_id": "dup-1"})
    assert caught.value.status_code == 422 and caught.value.code == 40010001
    assert len(venue_orders(emulator, "dup-1")) == 1 and emulator.submits["dup-1"] == 2
    with pytest.raises(FixRequest):
        asyncio.run(broker_for(emulator).submit_order(order("x", kind=OrderType.LIMIT, limit_price=Decimal("1.001"))))


def test_wrong_secret_is_refused_as_stop_trading(emulator: AlpacaEmulator) -> None:
    with pytest.raises(StopTrading):
        asyncio.run(broker_for(emulator, secret="not-the-secret").connect())


# -------------------------------------------------------------------------------------------- streams
def test_trade_updates_deliver_accept_then_fill_and_survive_a_dropped_socket(emulator: AlpacaEmulator) -> None:
    broker = broker_for(emulator)

    async def scenario() -> list[ExecutionReport]:
        reports = broker.execution_reports()
        first = asyncio.ensure_future(anext(reports))
        await until(lambda: emulator.connections()[0] == 1)
        await broker.submit_order(order("s-1", qty=4))
        emulator.advance()
        got = [await asyncio.wait_for(first, 8), *await take(reports, 1)]
        emulator.drop_trade_updates(refuse_reconnects=True)
        await asyncio.sleep(0.3)
        assert emulator.connections()[0] == 0
        emulator.refuse_trade_updates(False)
        hand: asyncio.Future[list[ExecutionReport]] = asyncio.ensure_future(take(reports, 1, timeout=15))
        await until(lambda: emulator.connections()[0] == 1, timeout=15)
        emulator.place_order_by_hand("SPY", "buy", Decimal(1), "limit", limit_price=Decimal("2000.00"))
        got += await hand
        await reports.aclose()  # type: ignore[attr-defined]
        await broker.close()
        return got

    accepted, filled, by_hand = asyncio.run(scenario())
    assert (accepted.order.client_order_id, accepted.order.status, accepted.fill) == ("s-1", OrderStatus.ACCEPTED, None)
    assert filled.order.status is OrderStatus.FILLED and filled.fill is not None
    bar = emulator.exchange.last_bar("SPY")
    assert bar is not None and filled.fill.price == SPY.make_price(bar.open) and filled.fill.quantity == 4
    assert filled.fill.trade_id  # Alpaca's execution_id
    assert by_hand.order.status is OrderStatus.ACCEPTED and by_hand.order.client_order_id not in ("s-1",)


def test_bars_stream_delivers_each_minute_once_and_reconnects(emulator: AlpacaEmulator) -> None:
    broker = broker_for(emulator)

    async def scenario() -> list[BarEvent]:
        stream = broker.market_data([SPY_ID])
        first = asyncio.ensure_future(anext(stream))
        await until(lambda: emulator.bar_subscribers("SPY") == 1)
        for _ in range(3):
            emulator.advance()
        got = [await asyncio.wait_for(first, 8), *await take(stream, 2)]
        emulator.drop_data_stream()
        await until(lambda: emulator.bar_subscribers("SPY") == 0)
        await until(lambda: emulator.bar_subscribers("SPY") == 1, timeout=15)
        for _ in range(2):
            emulator.advance()
        got += await take(stream, 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), 0.3)  # nothing more: no bar twice
        await stream.aclose()  # type: ignore[attr-defined]
        await broker.close()
        return got  # type: ignore[return-value]

    events = asyncio.run(scenario())
    published = emulator.exchange.history("SPY", 0, 2**62)
    assert [e.bar for e in events] == published[1:4] + published[4:6]
    assert all(isinstance(e, BarEvent) and e.instrument_id == SPY_ID for e in events)


def test_history_pages_through_published_bars_only(emulator: AlpacaEmulator) -> None:
    for _ in range(29):
        emulator.advance()
    broker = broker_for(emulator)
    published = emulator.exchange.history("SPY", 0, 2**62)
    assert len(published) == 30

    async def scenario() -> tuple[list[Any], list[Any]]:
        everything = await broker.history(SPY_ID, published[0].ts, published[0].ts + 10**15)
        window = await broker.history(SPY_ID, published[3].ts, published[20].ts)
        await broker.close()
        return everything, window

    everything, window = asyncio.run(scenario())
    assert everything == published  # 5 pages of 7 bars, nothing after the clock
    assert window == published[3:20]


# --------------------------------------------------------------------------------------------- faults
def test_500_after_the_venue_accepted_is_resolved_by_lookup_never_resent(emulator: AlpacaEmulator) -> None:
    emulator.fail_next_submit(500)
    report = asyncio.run(broker_for(emulator).submit_order(order("f-500")))
    assert report.status is OrderStatus.ACCEPTED and report.client_order_id == "f-500"
    assert emulator.submits["f-500"] == 1 and len(venue_orders(emulator, "f-500")) == 1


def test_submit_hanging_past_the_timeout_is_found_by_client_order_id(emulator: AlpacaEmulator) -> None:
    emulator.hang_next_submit(1.0)
    report = asyncio.run(broker_for(emulator, timeout=0.4).submit_order(order("f-hang")))
    assert report.status is OrderStatus.ACCEPTED
    assert emulator.submits["f-hang"] == 1 and len(venue_orders(emulator, "f-hang")) == 1


def test_unanswered_submit_with_failing_lookups_raises_order_state_unknown(emulator: AlpacaEmulator) -> None:
    broker = broker_for(emulator, timeout=0.4)

    async def scenario() -> None:
        emulator.hang_next_submit(0.8)
        submit = asyncio.ensure_future(broker.submit_order(order("f-unknown")))
        await until(lambda: emulator.submits["f-unknown"] == 1)
        emulator.rate_limit_next(1000, retry_after=0.05)  # every lookup is refused
        with pytest.raises(OrderStateUnknown) as caught:
            await submit
        assert caught.value.client_order_id == "f-unknown"
        emulator.rate_limit_next(0)
        found = await broker.get_order(ClientOrderId("f-unknown"))  # what the caller does next
        assert found is not None and found.status is OrderStatus.ACCEPTED
        await broker.close()

    asyncio.run(scenario())
    assert emulator.submits["f-unknown"] == 1 and len(venue_orders(emulator, "f-unknown")) == 1


def test_429_raises_rate_limited_on_submit_and_reads_retry(emulator: AlpacaEmulator) -> None:
    broker = broker_for(emulator)

    async def scenario() -> None:
        emulator.rate_limit_next(1, retry_after=0.1)
        with pytest.raises(RateLimited) as caught:
            await broker.submit_order(order("f-429"))
        assert caught.value.retry_after == 0.1
        assert await broker.get_order(ClientOrderId("f-429")) is None  # refused before the venue
        emulator.rate_limit_next(2, retry_after=0.05)
        account = await broker.account()  # retried with backoff, honouring Retry-After
        assert account.cash == Decimal(1_000_000)
        await broker.close()

    asyncio.run(scenario())
    assert emulator.submits["f-429"] == 0 and venue_orders(emulator, "f-429") == []


def test_order_placed_by_hand_is_visible_to_the_adapter(emulator: AlpacaEmulator) -> None:
    placed = emulator.place_order_by_hand("SPY", "sell", Decimal(1), "limit", limit_price=Decimal("3500.00"))
    broker = broker_for(emulator)

    async def scenario() -> None:
        found = await broker.get_order(ClientOrderId(placed["client_order_id"]))
        assert found is not None and found.status is OrderStatus.ACCEPTED and found.side is OrderSide.SELL
        assert [r.client_order_id for r in await broker.open_orders()] == [placed["client_order_id"]]
        await broker.close()

    asyncio.run(scenario())
    assert emulator.submits == {}  # it never went through the API
