"""Translation between core types and ib_insync's objects (Contract, Order, Trade, Fill, Position, ...).

Instrument symbols for IB: `AAPL` or `AAPL@NASDAQ` (stock, SMART routing by default), `EUR/USD` (forex on
IDEALPRO), `ES:202512@CME` (future: symbol, contract month, exchange). Our client order id travels in IB's
`orderRef`, which IB keeps on the order and on every execution.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from decimal import Decimal

from ib_insync import Contract, Forex, Future, LimitOrder, MarketOrder, Stock, StopLimitOrder, StopOrder
from ib_insync import Fill as IBFill
from ib_insync import Order as IBOrder
from ib_insync import Position as IBPosition
from ib_insync.objects import AccountValue, BarData
from ib_insync.order import Trade

from trading.brokers.protocol import AccountReport, OrderReport, PositionReport
from trading.data.bars import Bar
from trading.errors import BrokerError, FixRequest
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from trading.model.instruments import Accounting, AssetClass, Instrument, to_decimal
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce

ZERO = Decimal(0)
VENUE = "ib"

STATUS = {
    "ApiPending": OrderStatus.SUBMITTED,
    "PendingSubmit": OrderStatus.SUBMITTED,
    "PreSubmitted": OrderStatus.ACCEPTED,
    "Submitted": OrderStatus.ACCEPTED,
    "PendingCancel": OrderStatus.PENDING_CANCEL,
    "ApiCancelled": OrderStatus.CANCELED,
    "Cancelled": OrderStatus.CANCELED,
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.REJECTED,
}
_TYPES = {
    "MKT": OrderType.MARKET,
    "LMT": OrderType.LIMIT,
    "STP": OrderType.STOP,
    "STP LMT": OrderType.STOP_LIMIT,
    "TRAIL": OrderType.TRAILING_STOP,
}
_TIF_OUT = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
_TIF_IN = {v: k for k, v in _TIF_OUT.items()}


def exact(value: float | int | str | Decimal | None) -> Decimal | None:
    """ib_insync decodes the wire's decimal text into float; its shortest repr is that text again."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and (math.isnan(value) or value >= 1.7e308):  # NaN: no data; UNSET_DOUBLE
        return None
    return to_decimal(value, what="IB value")


def contract_for(symbol: str) -> Contract:
    """`AAPL`, `AAPL@NASDAQ`, `EUR/USD`, `ES:202512@CME` -> an ib_insync contract."""
    body, _, exchange = symbol.partition("@")
    if "/" in body:
        base, _, quote = body.partition("/")
        return Forex(base + quote, exchange=exchange or "IDEALPRO")
    if ":" in body:
        root, _, month = body.partition(":")
        if not exchange:
            raise FixRequest(f"IB future {symbol!r} needs an exchange, e.g. ES:202512@CME", venue=VENUE)
        return Future(root, month, exchange)
    if not body:
        raise FixRequest(f"IB symbol {symbol!r} is empty", venue=VENUE)
    return Stock(body, "SMART", "USD", primaryExchange=exchange)


def symbol_for(contract: Contract) -> str:
    """The inverse of `contract_for`, for reports coming back from IB."""
    if contract.secType == "CASH":
        pair = contract.localSymbol.replace(".", "/") if contract.localSymbol else ""
        return pair or f"{contract.symbol}/{contract.currency}"
    if contract.secType == "FUT":
        return f"{contract.symbol}:{contract.lastTradeDateOrContractMonth[:6]}@{contract.exchange}"
    return contract.symbol


def ib_order(order: Order, account: str = "") -> IBOrder:
    """A core order -> ib_insync Order, our client order id in `orderRef`."""
    action = "BUY" if order.side is OrderSide.BUY else "SELL"
    quantity = float(order.quantity)
    result: IBOrder
    if order.order_type is OrderType.MARKET:
        result = MarketOrder(action, quantity)
    elif order.order_type is OrderType.LIMIT:
        result = LimitOrder(action, quantity, float(order.limit_price or 0))
    elif order.order_type is OrderType.STOP:
        result = StopOrder(action, quantity, float(order.stop_price or 0))
    elif order.order_type is OrderType.STOP_LIMIT:
        result = StopLimitOrder(action, quantity, float(order.limit_price or 0), float(order.stop_price or 0))
    else:
        result = IBOrder(action=action, totalQuantity=quantity, orderType="TRAIL")
        if order.trailing_percent is not None:
            result.trailingPercent = float(order.trailing_percent)
        else:
            result.auxPrice = float(order.trailing_offset or 0)
    result.orderRef = order.client_order_id
    result.tif = _TIF_OUT[order.time_in_force]
    result.account = account
    result.transmit = True
    return result


def order_report(trade: Trade, venue: str) -> OrderReport:
    """An ib_insync Trade (order + status + fills) -> `OrderReport`."""
    order, status, contract = trade.order, trade.orderStatus, trade.contract
    state = STATUS.get(status.status)
    if state is None:
        raise BrokerError(f"IB order {order.orderRef} has unknown status {status.status!r}", venue=VENUE)
    filled = exact(status.filled) or ZERO
    if state is OrderStatus.ACCEPTED and filled > 0:
        state = OrderStatus.PARTIALLY_FILLED
    kind = _TYPES.get(order.orderType, OrderType.LIMIT)
    last = trade.log[-1] if trade.log else None
    return OrderReport(
        client_order_id=ClientOrderId(order.orderRef),
        venue_order_id=VenueOrderId(str(order.permId or order.orderId)),
        instrument_id=InstrumentId(symbol_for(contract), venue),
        side=OrderSide.BUY if order.action == "BUY" else OrderSide.SELL,
        order_type=kind,
        quantity=exact(order.totalQuantity) or ZERO,
        filled_quantity=filled,
        status=state,
        avg_fill_price=exact(status.avgFillPrice) if filled > 0 else None,
        limit_price=exact(order.lmtPrice) if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        stop_price=exact(order.auxPrice) if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
        time_in_force=_TIF_IN.get(order.tif, TimeInForce.DAY),
        ts=_ns(last.time) if last is not None else 0,
        reason=(last.message if last is not None and state is OrderStatus.REJECTED else ""),
    )


def what_to_show(contract: Contract) -> str:
    """Forex has no trades on IDEALPRO: its bars are midpoints; everything else trades."""
    return "MIDPOINT" if contract.secType == "CASH" else "TRADES"


def history_bar(row: BarData) -> Bar:
    """One historical bar (requested with `formatDate=2`, so `date` is a UTC datetime: the bar's open)."""
    moment = row.date
    if not isinstance(moment, dt.datetime):
        raise BrokerError(f"IB intraday bar has a date without a time: {moment!r}", venue=VENUE)
    return Bar(_ns(moment), row.open, row.high, row.low, row.close, float(row.volume))


def _ns(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def fill(ib_fill: IBFill, venue: str) -> Fill:
    """An ib_insync Fill (contract, execution, commission report) -> `Fill`; `orderRef` is our id."""
    execution, commission = ib_fill.execution, ib_fill.commissionReport
    cost = exact(commission.commission) if commission and commission.execId else None
    return Fill(
        trade_id=TradeId(execution.execId),
        client_order_id=ClientOrderId(execution.orderRef),
        strategy_id=StrategyId(""),
        instrument_id=InstrumentId(symbol_for(ib_fill.contract), venue),
        side=OrderSide.BUY if execution.side == "BOT" else OrderSide.SELL,
        quantity=exact(execution.shares) or ZERO,
        price=exact(execution.price) or ZERO,
        commission=cost or ZERO,
        currency=(commission.currency if commission and commission.currency else ib_fill.contract.currency),
        ts=_ns(execution.time),
        venue_order_id=VenueOrderId(str(execution.permId or execution.orderId)),
    )


def position_report(position: IBPosition, venue: str) -> PositionReport:
    """IB's avgCost includes the multiplier for futures and options; the core's avg_price is per unit."""
    multiplier = exact(position.contract.multiplier or "1") or Decimal(1)
    return PositionReport(
        instrument_id=InstrumentId(symbol_for(position.contract), venue),
        quantity=exact(position.position) or ZERO,
        avg_price=(exact(position.avgCost) or ZERO) / multiplier,
    )


def account_report(values: Iterable[AccountValue], account: str = "") -> AccountReport:
    """Account values (`NetLiquidation`, `TotalCashValue`, `BuyingPower`, `CashBalance` per currency)."""
    tags: dict[str, tuple[str, str]] = {}
    balances: dict[str, Decimal] = {}
    account_id = account
    for value in values:
        if account and value.account != account:
            continue
        account_id = account_id or value.account
        if value.tag == "CashBalance" and value.currency not in ("", "BASE"):
            balances[value.currency] = Decimal(value.value)
        elif value.currency != "BASE" or value.tag not in tags:
            tags[value.tag] = (value.value, value.currency)
    missing = [t for t in ("NetLiquidation", "TotalCashValue") if t not in tags]
    if missing:
        raise BrokerError(f"IB account values lack {', '.join(missing)}", venue=VENUE)
    currency = tags["NetLiquidation"][1]
    return AccountReport(
        account_id=account_id,
        currency=currency,
        cash=Decimal(tags["TotalCashValue"][0]),
        equity=Decimal(tags["NetLiquidation"][0]),
        buying_power=Decimal(tags["BuyingPower"][0]) if "BuyingPower" in tags else None,
        balances=balances,
    )


def instrument(contract: Contract, min_tick: float, venue: str) -> Instrument:
    sec = contract.secType
    asset = {"STK": AssetClass.EQUITY, "FUT": AssetClass.FUTURE, "CASH": AssetClass.FX}.get(sec)
    if asset is None:
        raise FixRequest(f"IB security type {sec} is not supported", venue=VENUE)
    return Instrument(
        id=InstrumentId(symbol_for(contract), venue),
        asset_class=asset,
        currency=contract.currency,
        tick_size=exact(min_tick) or Decimal("0.01"),
        lot_size=Decimal(1),
        multiplier=exact(contract.multiplier or "1") or Decimal(1),
        accounting=Accounting.MARGIN if asset is AssetClass.FUTURE else Accounting.CASH,
    )
