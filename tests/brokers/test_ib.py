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
from ib_insync.objects import AccountValue, TradeLogEntry

from trading.brokers.ib import parsing
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
