"""The emulated exchange: its clock publishes closed bars only, and it fills exactly as the backtester does."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar

import pytest

from emulators.exchange import BarClosed, EmulatedExchange, ExchangeEvent, OrderUpdate
from trading.backtest.engine import BacktestConfig, BacktestEngine
from trading.data.bars import Bar, BarSeries
from trading.messages import OrderAccepted, OrderCanceled, OrderExpired, OrderFilled, OrderUpdated
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, StrategyId
from trading.model.instruments import Instrument, TradingSession, equity
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce
from trading.strategy import Strategy, StrategyConfig

CASH = Decimal(1_000_000)
SPY = equity("SPY", venue="EMU", sessions=(TradingSession.parse("09:30-16:00", "America/New_York"),))


def spy(sessions: bool = True) -> Instrument:
    return SPY if sessions else equity("SPY", venue="EMU")


def exchange_over(series: BarSeries, *, sessions: bool = True) -> EmulatedExchange:
    return EmulatedExchange({"SPY": (spy(sessions=sessions), series)}, cash=CASH)


def market(coid: str, side: OrderSide, quantity: str, ts: int = 0) -> Order:
    return Order(
        ClientOrderId(coid), StrategyId("test"), spy().id, side, OrderType.MARKET, Decimal(quantity), ts_init=ts
    )


class _BuyOnce(Strategy[StrategyConfig]):
    name = "buy_once"
    on_index: ClassVar[int] = 5
    fills: ClassVar[list[Fill]] = []

    def on_bar(self, bar: Bar) -> None:
        if self.i == self.on_index:
            self.ctx.submit(self.buy(Decimal(3)))

    def on_order_filled(self, fill: Fill) -> None:
        self.fills.append(fill)


def test_market_order_fills_at_next_bar_open_like_the_backtester(sp500_bars: BarSeries) -> None:
    series = sp500_bars.slice(0, 30)
    _BuyOnce.fills = []
    engine = BacktestEngine(
        spy(), _BuyOnce(StrategyConfig(instrument_id="SPY.EMU")), series, BacktestConfig(starting_cash=CASH)
    )
    engine.run()
    [expected] = _BuyOnce.fills

    exchange = exchange_over(series)
    for _ in range(_BuyOnce.on_index + 1):  # bars 0..5 published: the strategy's view when it decided
        assert exchange.advance()
    exchange.submit(market("buy-1", OrderSide.BUY, "3", exchange.now_ns))
    assert exchange.fills() == []  # nothing fills before the next bar
    exchange.advance()
    [fill] = exchange.fills()
    assert (fill.price, fill.quantity, fill.ts, fill.side) == (
        expected.price,
        expected.quantity,
        expected.ts,
        expected.side,
    )
    assert fill.price == spy().make_price(series.bar(6).open)
    assert exchange.cash == CASH - 3 * fill.price
    assert exchange.positions()[spy().id].quantity == 3
    assert exchange.equity() == exchange.cash + 3 * spy().make_price(series.bar(6).close)


def test_no_bar_is_published_before_the_clock_passes_its_end(sp500_bars: BarSeries) -> None:
    series = sp500_bars.slice(0, 10)
    exchange = exchange_over(series)
    events: list[ExchangeEvent] = []
    exchange.subscribe(events.append)
    assert exchange.now_ns == series.bar(0).ts
    assert exchange.last_bar("SPY") is None
    interval = exchange.bar_interval_ns("SPY")
    for k in range(len(series)):
        assert exchange.next_bar_ns == series.bar(k).ts
        assert exchange.advance()
        published = [e.bar for e in events if isinstance(e, BarClosed)]
        assert published == [series.bar(i) for i in range(k + 1)]  # each bar once, in order, none early
        assert exchange.now_ns == series.bar(k).ts + interval == events[-1].end_ns  # type: ignore[union-attr]
    assert not exchange.advance()
    assert exchange.finished and exchange.next_bar_ns is None


def test_order_updates_of_a_bar_come_before_the_bar(sp500_bars: BarSeries) -> None:
    exchange = exchange_over(sp500_bars.slice(0, 5))
    exchange.advance()
    events: list[ExchangeEvent] = []
    exchange.subscribe(events.append)
    exchange.submit(market("buy-1", OrderSide.BUY, "1"))
    exchange.advance()
    kinds = [type(e.message).__name__ if isinstance(e, OrderUpdate) else "BarClosed" for e in events]
    assert kinds == ["OrderAccepted", "OrderFilled", "BarClosed"]
    accepted, filled = events[0], events[1]
    assert isinstance(accepted, OrderUpdate) and isinstance(accepted.message, OrderAccepted)
    assert isinstance(filled, OrderUpdate) and isinstance(filled.message, OrderFilled)
    assert filled.order.status is OrderStatus.FILLED and filled.fill is not None
    assert accepted.order.status is OrderStatus.ACCEPTED  # a snapshot, not the live order
    exchange.unsubscribe(events.append)
    exchange.advance()
    assert len(events) == 3


def test_history_has_no_look_ahead(sp500_bars: BarSeries) -> None:
    series = sp500_bars.slice(0, 20)
    exchange = exchange_over(series)
    everything = (0, 2**62)
    assert exchange.history("SPY", *everything) == []
    for _ in range(7):
        exchange.advance()
    bars = exchange.history("SPY", *everything)
    assert bars == [series.bar(i) for i in range(7)]
    assert all(b.ts < exchange.now_ns for b in bars)
    assert exchange.history("SPY", series.bar(2).ts, series.bar(4).ts) == [series.bar(2), series.bar(3)]
    assert exchange.history("SPY", series.bar(10).ts, series.bar(15).ts) == []  # the future is not there


def test_an_order_before_the_first_bar_fills_at_its_open(sp500_bars: BarSeries) -> None:
    series = sp500_bars.slice(0, 3)
    exchange = exchange_over(series)
    exchange.submit(market("early", OrderSide.BUY, "2", exchange.now_ns))
    exchange.advance()
    [fill] = exchange.fills()
    assert fill.price == spy().make_price(series.bar(0).open) and fill.ts == series.bar(0).ts


def test_day_order_expires_at_the_session_close(sp500_bars: BarSeries) -> None:
    exchange = exchange_over(sp500_bars)
    first_day = exchange.next_bar_ns
    assert first_day is not None
    exchange.advance()
    order = exchange.submit_by_hand(
        "SPY",
        OrderSide.BUY,
        Decimal(1),
        OrderType.LIMIT,
        limit_price=Decimal("1.00"),
        time_in_force=TimeInForce.DAY,
    )
    expired: list[ExchangeEvent] = []
    exchange.subscribe(lambda e: expired.append(e) if isinstance(e, OrderUpdate) else None)
    while exchange.orders(open_only=True):
        assert exchange.advance()
    [update] = expired
    assert isinstance(update, OrderUpdate) and isinstance(update.message, OrderExpired)
    assert order.client_order_id.startswith("hand-") and order.status is OrderStatus.EXPIRED
    last = exchange.last_bar("SPY")
    assert last is not None and not exchange.is_open("SPY")  # expired on the session's last bar


def test_cancel_replace_and_lookups(sp500_bars: BarSeries) -> None:
    exchange = exchange_over(sp500_bars.slice(0, 10))
    exchange.advance()
    order = Order(
        ClientOrderId("lim-1"),
        StrategyId("test"),
        spy().id,
        OrderSide.BUY,
        OrderType.LIMIT,
        Decimal(5),
        limit_price=Decimal("1000.00"),
    )
    exchange.submit(order)
    assert exchange.order("lim-1") is order
    assert order.venue_order_id is not None and exchange.order_by_venue_id(order.venue_order_id) is order
    [updated] = exchange.replace(ClientOrderId("lim-1"), quantity=Decimal(7), limit_price=Decimal("1001.25"))
    assert isinstance(updated, OrderUpdated) and order.quantity == 7 and order.limit_price == Decimal("1001.25")
    exchange.advance()
    assert exchange.orders(open_only=True) == [order]
    [canceled] = exchange.cancel(ClientOrderId("lim-1"))
    assert isinstance(canceled, OrderCanceled) and exchange.orders(open_only=True) == []
    assert exchange.cancel(ClientOrderId("lim-1")) == []
    assert exchange.orders() == [order] and exchange.fills() == []


def test_submit_is_idempotent_by_client_order_id(sp500_bars: BarSeries) -> None:
    exchange = exchange_over(sp500_bars.slice(0, 5))
    exchange.advance()
    first = market("dup", OrderSide.BUY, "1")
    assert exchange.submit(first)
    assert exchange.submit(market("dup", OrderSide.BUY, "1")) == []
    exchange.advance()
    assert len(exchange.fills()) == 1


@pytest.mark.parametrize("sessions", [True, False])
def test_run_paces_the_clock_to_the_end(sp500_bars: BarSeries, sessions: bool) -> None:
    import asyncio

    exchange = exchange_over(sp500_bars.slice(0, 4), sessions=sessions)
    seen: list[Callable[[], None]] = []
    exchange.subscribe(lambda e: seen.append(lambda: None) if isinstance(e, BarClosed) else None)
    asyncio.run(exchange.run(0.0))
    assert exchange.finished and len(seen) == 4
