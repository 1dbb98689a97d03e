"""Interactive Brokers: the translation layer with ib_insync's own objects, and the connection logic
against local sockets (no TWS / IB Gateway runs here)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
from decimal import Decimal
from typing import Any

import pytest
from eventkit import Event
from ib_insync import (
    CommissionReport,
    Execution,
    Forex,
    Future,
    LimitOrder,
    OrderStatus,
    Stock,
    Trade,
)
from ib_insync import Fill as IBFill
from ib_insync import Position as IBPosition
from ib_insync.objects import AccountValue, BarData, RealTimeBar, RealTimeBarList, TradeLogEntry

from trading.brokers.ib import parsing
from trading.brokers.ib.bars import MinuteBars
from trading.brokers.ib.config import IBConfig
from trading.brokers.ib.execution import IBBroker
from trading.brokers.retry import Backoff
from trading.errors import ConfigError, FixRequest, OrderStateUnknown, RetryLater
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.orders import Order, OrderSide, OrderType, TimeInForce
from trading.model.orders import OrderStatus as Status

COID = ClientOrderId("dto-s1-000007")
T0 = dt.datetime(2024, 5, 2, 14, 30, 1, 250000, tzinfo=dt.UTC)


def core_order(order_type: OrderType = OrderType.LIMIT, symbol: str = "AAPL") -> Order:
    return Order(
        client_order_id=COID,
        strategy_id=StrategyId("s1"),
        instrument_id=InstrumentId(symbol, "IB"),
        side=OrderSide.BUY,
        order_type=order_type,
        quantity=Decimal("100"),
        limit_price=Decimal("161.29") if order_type is OrderType.LIMIT else None,
        time_in_force=TimeInForce.DAY,
    )


def test_contracts_for_stocks_futures_and_forex() -> None:
    stock = parsing.contract_for("AAPL@NASDAQ")
    assert (stock.secType, stock.symbol, stock.exchange, stock.primaryExchange) == ("STK", "AAPL", "SMART", "NASDAQ")
    future = parsing.contract_for("ES:202512@CME")
    assert (future.secType, future.symbol, future.lastTradeDateOrContractMonth, future.exchange) == (
        "FUT",
        "ES",
        "202512",
        "CME",
    )
    fx = parsing.contract_for("EUR/USD")
    assert (fx.secType, fx.symbol, fx.currency, fx.exchange) == ("CASH", "EUR", "USD", "IDEALPRO")
    assert parsing.symbol_for(future) == "ES:202512@CME" and parsing.symbol_for(fx) == "EUR/USD"
    with pytest.raises(FixRequest):
        parsing.contract_for("ES:202512")


def test_core_order_becomes_an_ib_order_with_our_id_in_order_ref() -> None:
    ib_order = parsing.ib_order(core_order(), account="DU123456")
    assert (ib_order.action, ib_order.orderType, ib_order.totalQuantity, ib_order.lmtPrice) == (
        "BUY",
        "LMT",
        100.0,
        161.29,
    )
    assert ib_order.orderRef == COID and ib_order.tif == "DAY" and ib_order.account == "DU123456"


def _trade(status: str, filled: float = 0.0, avg: float = 0.0) -> Trade:
    order = LimitOrder("BUY", 100.0, 161.29, orderRef=COID, orderId=12, permId=987654, tif="DAY")
    return Trade(
        contract=Stock("AAPL", "SMART", "USD"),
        order=order,
        orderStatus=OrderStatus(orderId=12, status=status, filled=filled, remaining=100.0 - filled, avgFillPrice=avg),
        log=[TradeLogEntry(T0, status, "")],
    )


@pytest.mark.parametrize(
    ("ib_status", "filled", "expected"),
    [
        ("PendingSubmit", 0.0, Status.SUBMITTED),
        ("PreSubmitted", 0.0, Status.ACCEPTED),
        ("Submitted", 0.0, Status.ACCEPTED),
        ("Submitted", 40.0, Status.PARTIALLY_FILLED),
        ("Filled", 100.0, Status.FILLED),
        ("Cancelled", 0.0, Status.CANCELED),
        ("Inactive", 0.0, Status.REJECTED),
    ],
)
def test_trade_status_maps_to_core_status(ib_status: str, filled: float, expected: Status) -> None:
    report = parsing.order_report(_trade(ib_status, filled, 161.2958 if filled else 0.0), "IB")
    assert report.status is expected and report.client_order_id == COID
    assert report.venue_order_id == "987654" and report.limit_price == Decimal("161.29")
    if filled:
        assert report.avg_fill_price == Decimal("161.2958")


def test_fill_with_commission_report_parses_exactly() -> None:
    execution = Execution(
        execId="0000e0d5.6630a1b2.01.01",
        time=T0,
        acctNumber="DU123456",
        exchange="ISLAND",
        side="BOT",
        shares=100.0,
        price=161.2958,
        permId=987654,
        orderId=12,
        orderRef=COID,
    )
    commission = CommissionReport(execId=execution.execId, commission=0.35, currency="USD")
    fill = parsing.fill(IBFill(Stock("AAPL", "SMART", "USD"), execution, commission, T0), "IB")
    assert fill.client_order_id == COID and fill.trade_id == "0000e0d5.6630a1b2.01.01"
    assert (fill.side, fill.quantity, fill.price, fill.commission) == (
        OrderSide.BUY,
        Decimal("100.0"),
        Decimal("161.2958"),
        Decimal("0.35"),
    )
    assert fill.ts == 1714660201_250_000_000


def test_future_position_average_cost_is_divided_by_the_multiplier() -> None:
    contract = Future("ES", "20251219", "CME", multiplier="50", currency="USD")
    report = parsing.position_report(IBPosition("DU123456", contract, -2.0, 262512.5), "IB")
    assert report.quantity == Decimal("-2.0") and report.avg_price == Decimal("5250.25")
    assert report.instrument_id == InstrumentId("ES:202512@CME", "IB")


def test_account_values_become_an_account_report() -> None:
    values = [
        AccountValue("DU123456", "NetLiquidation", "1002345.67", "USD", ""),
        AccountValue("DU123456", "TotalCashValue", "998000.01", "USD", ""),
        AccountValue("DU123456", "BuyingPower", "4009382.68", "USD", ""),
        AccountValue("DU123456", "CashBalance", "1000.5", "EUR", ""),
        AccountValue("DU999999", "NetLiquidation", "1", "USD", ""),
    ]
    report = parsing.account_report(values, "DU123456")
    assert (report.account_id, report.currency, report.equity, report.cash) == (
        "DU123456",
        "USD",
        Decimal("1002345.67"),
        Decimal("998000.01"),
    )
    assert report.buying_power == Decimal("4009382.68") and report.balances == {"EUR": Decimal("1000.5")}


def test_forex_instrument_from_contract_details() -> None:
    instrument = parsing.instrument(Forex("EURUSD"), 0.00005, "IB")
    assert instrument.tick_size == Decimal("0.00005") and instrument.currency == "USD"


def test_config_checks_paper_and_live_ports() -> None:
    with pytest.raises(ConfigError) as caught:
        IBConfig(port=4001, paper=True)
    assert caught.value.key == "IB_PORT"
    assert IBConfig(port=4001, paper=False).port == 4001


# -- connection logic against local sockets ---------------------------------------------------------------


class SilentPeer:
    """Accepts TCP connections and records the first bytes; `close_at_once` hangs up, else stays silent."""

    def __init__(self, close_at_once: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.accepted = 0
        self.close_at_once = close_at_once
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.close_at_once:
                conn.close()
                continue
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                self.received.append(conn.recv(64))
            self._open.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()


def ib_config(port: int, **kwargs: Any) -> IBConfig:
    return IBConfig(
        port=port, connect_timeout=0.3, request_timeout=0.3, reconnect_min=0.01, reconnect_max=0.05, **kwargs
    )


def test_connect_to_a_closed_port_is_retry_later() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryLater, match="not ready"):
        asyncio.run(IBBroker(ib_config(port)).connect())


def test_connect_times_out_when_the_peer_never_answers_the_api_handshake() -> None:
    peer = SilentPeer(close_at_once=False)
    try:
        with pytest.raises(RetryLater):
            asyncio.run(IBBroker(ib_config(peer.port)).connect())
        assert peer.received and peer.received[0].startswith(b"API\x00")  # ib_insync's handshake prefix
    finally:
        peer.close()


def test_reconnect_loop_keeps_trying_with_backoff_until_closed() -> None:
    peer = SilentPeer(close_at_once=True)

    async def scenario() -> int:
        broker = IBBroker(ib_config(peer.port))
        broker.ib.disconnectedEvent.emit()  # what ib_insync fires when the gateway restarts
        await asyncio.sleep(1.0)
        await broker.close()
        attempts = broker.reconnect_attempts
        await asyncio.sleep(0.2)
        assert broker.reconnect_attempts == attempts  # stopped after close
        return attempts

    try:
        attempts = asyncio.run(scenario())
        assert attempts >= 3 and peer.accepted >= 3
    finally:
        peer.close()


class StubIB:
    """Duck-typed IB for the write path: placeOrder never gets an ack; the order shows up in open orders."""

    def __init__(self, present: bool) -> None:
        self.disconnectedEvent = Event("disconnectedEvent")
        self.placed: list[Any] = []
        self.present = present
        self._trades: list[Trade] = []

    def isConnected(self) -> bool:
        return True

    def trades(self) -> list[Trade]:
        return self._trades

    def placeOrder(self, contract: Any, order: Any) -> Trade:
        self.placed.append(order)
        return Trade(contract=contract, order=order, orderStatus=OrderStatus(status="PendingSubmit"))

    async def reqAllOpenOrdersAsync(self) -> list[Trade]:
        if self.present and not self._trades:
            self._trades.append(_trade("Submitted"))
        return self._trades

    async def reqCompletedOrdersAsync(self, api_only: bool) -> list[Trade]:
        return []

    def disconnect(self) -> None:
        pass


@pytest.mark.parametrize("present", [True, False])
def test_unacknowledged_order_is_looked_up_by_order_ref_never_placed_twice(present: bool) -> None:
    """Found: its state is the answer. Not found: unknown (never rejected), for reconciliation to settle."""
    stub = StubIB(present)
    broker = IBBroker(ib_config(4002), ib=stub, read_backoff=Backoff(attempts=2, base=0.01, cap=0.02))
    if present:
        report = asyncio.run(broker.submit_order(core_order()))
        assert report.status is Status.ACCEPTED
    else:
        with pytest.raises(OrderStateUnknown):
            asyncio.run(broker.submit_order(core_order()))
    assert len(stub.placed) == 1 and stub.placed[0].orderRef == COID


# -- the execution seam: reports, history, clock and live bars from a stub IB's events ---------------------


class EventIB(StubIB):
    """A stub IB with ib_insync's own events, driven by the test as TWS would drive them."""

    def __init__(self) -> None:
        super().__init__(present=False)
        self.openOrderEvent = Event("openOrderEvent")
        self.orderStatusEvent = Event("orderStatusEvent")
        self.execDetailsEvent = Event("execDetailsEvent")
        self.commissionReportEvent = Event("commissionReportEvent")
        self.connected = True
        self.connects = 0
        self.now = dt.datetime(2024, 5, 2, 14, 31, 30, tzinfo=dt.UTC)
        self.history_requests: list[tuple[Any, ...]] = []
        self.history_rows: list[BarData] = []
        self.realtime: list[RealTimeBarList] = []
        self.canceled: list[RealTimeBarList] = []

    def isConnected(self) -> bool:
        return self.connected

    async def connectAsync(self, *args: Any, **kwargs: Any) -> None:
        self.connects += 1
        self.connected = True

    def managedAccounts(self) -> list[str]:
        return ["DU123456"]

    def drop(self) -> None:
        self.connected = False
        self.disconnectedEvent.emit()

    async def reqCurrentTimeAsync(self) -> dt.datetime:
        return self.now

    async def reqHistoricalDataAsync(
        self, contract: Any, end: Any, duration: str, size: str, what: str, rth: bool, **kw: Any
    ) -> list[BarData]:
        self.history_requests.append((contract.symbol, end, duration, size, what, rth, kw.get("formatDate")))
        return self.history_rows

    def reqRealTimeBars(self, contract: Any, size: int, what: str, rth: bool) -> RealTimeBarList:
        bars = RealTimeBarList()  # type: ignore[no-untyped-call]
        bars.contract, bars.barSize, bars.whatToShow = contract, size, what
        self.realtime.append(bars)
        return bars

    def cancelRealTimeBars(self, bars: RealTimeBarList) -> None:
        self.canceled.append(bars)


def event_broker(stub: EventIB, **kwargs: Any) -> IBBroker:
    return IBBroker(ib_config(4002, **kwargs), ib=stub, read_backoff=Backoff(attempts=1, base=0.01, cap=0.02))


def _execution(exec_id: str, shares: float, price: float) -> Execution:
    return Execution(
        execId=exec_id, time=T0, side="BOT", shares=shares, price=price, permId=987654, orderId=12, orderRef=COID
    )


async def _next(stream: Any, timeout: float = 1.0) -> Any:
    return await asyncio.wait_for(stream.__anext__(), timeout)


def test_execution_reports_are_order_states_then_each_fill_with_its_commission_in_arrival_order() -> None:
    async def scenario() -> list[Any]:
        stub = EventIB()
        stream: Any = event_broker(stub).execution_reports()
        first = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.01)  # the stream subscribes before TWS speaks
        trade = _trade("Submitted")
        stub.orderStatusEvent.emit(trade)
        stub.orderStatusEvent.emit(Trade(contract=Stock("MSFT"), order=LimitOrder("BUY", 1, 1.0)))  # not ours
        reports = [await first]
        ib_fill = IBFill(trade.contract, _execution("0001.01", 40.0, 161.28), CommissionReport(), T0)
        trade.fills.append(ib_fill)
        trade.orderStatus.filled, trade.orderStatus.avgFillPrice = 40.0, 161.28
        stub.execDetailsEvent.emit(trade, ib_fill)
        second = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.05)
        assert not second.done()  # the fill waits for its commission
        report = ib_fill.commissionReport  # ib_insync fills the fill's report in place
        report.execId, report.commission, report.currency = "0001.01", 0.2, "USD"
        stub.commissionReportEvent.emit(trade, ib_fill, report)
        reports.append(await second)
        trade.orderStatus.status, trade.orderStatus.filled = "Filled", 100.0
        stub.orderStatusEvent.emit(trade)
        reports.append(await _next(stream))
        await stream.aclose()
        assert len(stub.orderStatusEvent) == 0  # handlers removed when the stream closes
        return reports

    accepted, partial, filled = asyncio.run(scenario())
    assert accepted.fill is None and accepted.order.status is Status.ACCEPTED and accepted.order.client_order_id == COID
    assert partial.order.status is Status.PARTIALLY_FILLED and partial.order.filled_quantity == Decimal("40.0")
    assert partial.fill is not None and partial.fill.client_order_id == COID and partial.fill.trade_id == "0001.01"
    assert (partial.fill.quantity, partial.fill.price, partial.fill.commission) == (
        Decimal("40.0"),
        Decimal("161.28"),
        Decimal("0.2"),
    )
    assert filled.fill is None and filled.order.status is Status.FILLED


def test_fill_whose_commission_never_comes_is_reported_after_the_wait_with_none() -> None:
    async def scenario() -> Any:
        stub = EventIB()
        stream: Any = event_broker(stub, commission_wait=0.05).execution_reports()
        pending = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.01)
        trade = _trade("Submitted", 40.0, 161.28)
        ib_fill = IBFill(trade.contract, _execution("0002.01", 40.0, 161.28), CommissionReport(), T0)
        stub.execDetailsEvent.emit(trade, ib_fill)
        stub.execDetailsEvent.emit(trade, ib_fill)  # the same execution again (a re-sync): one report
        report = await pending
        with pytest.raises(TimeoutError):
            await _next(stream, 0.15)
        return report

    report = asyncio.run(scenario())
    assert report.fill is not None and report.fill.commission == Decimal(0) and report.fill.trade_id == "0002.01"


def test_stream_ends_with_retry_later_when_the_gateway_drops_and_the_next_call_reconnects_once() -> None:
    async def scenario() -> EventIB:
        stub = EventIB()
        broker = event_broker(stub)
        await broker.connect()
        await broker.connect()
        assert stub.connects == 0  # connected already: connect() is a no-op
        stream = broker.execution_reports()
        pending = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.01)
        stub.drop()
        with pytest.raises(RetryLater, match="dropped"):
            await pending
        again: Any = broker.execution_reports()
        waiting = asyncio.ensure_future(_next(again))
        await asyncio.sleep(0.05)  # the reconnect loop and the new stream both call connect()
        assert stub.connected and stub.connects == 1
        stub.orderStatusEvent.emit(_trade("Cancelled"))
        assert (await waiting).order.status is Status.CANCELED
        await again.aclose()
        await broker.close()
        return stub

    asyncio.run(scenario())


def _minute_row(minute: int, close: float) -> BarData:
    return BarData(
        date=dt.datetime(2024, 5, 2, 14, minute, tzinfo=dt.UTC),
        open=close - 0.5,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=1200.0,
    )


def test_history_is_closed_one_minute_bars_a_day_per_request() -> None:
    stub = EventIB()  # the venue's clock: 14:31:30, so the 14:31 bar is still forming
    stub.history_rows = [_minute_row(29, 161.25), _minute_row(30, 161.5), _minute_row(31, 161.75)]
    broker = event_broker(stub)
    start = int(dt.datetime(2024, 5, 1, 14, 29, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    end = int(dt.datetime(2024, 5, 2, 15, 0, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    bars = asyncio.run(broker.history(InstrumentId("AAPL", "IB"), start, end))
    assert [b.ts for b in bars] == [parsing._ns(_minute_row(m, 0).date) for m in (29, 30)]  # type: ignore[arg-type]
    assert (bars[1].open, bars[1].close, bars[1].volume) == (161.0, 161.5, 1200.0)
    assert len(stub.history_requests) == 2  # a day and a minute: two requests, newest first
    first = stub.history_requests[0]
    assert first[0] == "AAPL" and first[2:] == ("86400 S", "1 min", "TRADES", False, 2)
    assert first[1] == dt.datetime(2024, 5, 2, 14, 30, 31, tzinfo=dt.UTC)
    assert asyncio.run(broker.history(InstrumentId("AAPL", "IB"), end, start)) == []


def test_venue_time_is_the_gateways_clock() -> None:
    stub = EventIB()
    assert asyncio.run(event_broker(stub).venue_time_ns()) == 1714660290 * 1_000_000_000


def test_minute_bars_close_on_the_last_five_second_slice_or_the_next_minute() -> None:
    minutes = MinuteBars()
    base = 1714660200 * 1_000_000_000  # 14:30:00
    out = [b for s in range(12) for b in minutes.add(base + s * 5_000_000_000, 10 + s, 11 + s, 9, 10.5 + s, 100)]
    assert len(out) == 1 and (out[0].ts, out[0].open, out[0].high, out[0].low, out[0].close, out[0].volume) == (
        base,
        10,
        22,
        9,
        21.5,
        1200,
    )
    assert minutes.add(base + 55_000_000_000, 1, 1, 1, 1, 1) == []  # a late slice of a closed minute
    assert minutes.add(base + 60_000_000_000, 5, 6, 4, 5, 10) == []  # 14:31 without its :55 slice ...
    closed = minutes.add(base + 120_000_000_000, 7, 7, 7, 7, 1)  # ... is closed by 14:32's first slice
    assert [(b.ts, b.close, b.volume) for b in closed] == [(base + 60_000_000_000, 5, 10)]


def test_market_data_yields_closed_minutes_from_real_time_bars_and_ends_when_the_gateway_drops() -> None:
    async def scenario() -> tuple[list[Any], EventIB]:
        stub = EventIB()
        stream: Any = event_broker(stub).market_data([InstrumentId("AAPL", "IB"), InstrumentId("EUR/USD", "IB")])
        pending = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.01)
        aapl, fx = stub.realtime
        assert (aapl.barSize, aapl.whatToShow, fx.whatToShow) == (5, "TRADES", "MIDPOINT")
        for second in range(0, 60, 5):
            aapl.append(
                RealTimeBar(
                    time=T0.replace(second=second, microsecond=0), open_=1.0, high=2.0, low=0.5, close=1.5, volume=10.0
                )
            )
            aapl.updateEvent.emit(aapl, True)
        events = [await pending]
        nxt = asyncio.ensure_future(_next(stream))
        await asyncio.sleep(0.01)
        stub.drop()
        with pytest.raises(RetryLater):
            await nxt
        return events, stub

    events, stub = asyncio.run(scenario())
    assert events[0].instrument_id == InstrumentId("AAPL", "IB") and events[0].bar.volume == 120.0
    assert events[0].bar.ts == 1714660200 * 1_000_000_000 and len(stub.canceled) == 2
