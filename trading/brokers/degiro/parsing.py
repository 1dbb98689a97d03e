"""Degiro `update` payloads (rows of `{"name": ..., "value": ...}`) parsed into core types. EXPERIMENTAL.

Degiro identifies products by numeric id; instrument symbols for Degiro are those ids (`332111.DEGIRO`).
Degiro has no client order id: the adapter keeps the mapping for orders it placed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from trading.brokers.protocol import AccountReport, OrderReport, PositionReport
from trading.brokers.wire import dec, iso_to_ns, opt_dec
from trading.data.bars import Bar
from trading.errors import FixRequest
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from trading.model.orders import OrderSide, OrderStatus, OrderType, TimeInForce

ZERO = Decimal(0)
_TYPES = {0: OrderType.LIMIT, 1: OrderType.STOP_LIMIT, 2: OrderType.MARKET, 3: OrderType.STOP}


def row(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`{"name": "positionrow", "value": [{"name": "size", "value": 10}, ...]}` -> `{"size": 10, ...}`."""
    return {item["name"]: item.get("value") for item in raw.get("value", []) if "name" in item}


def rows(section: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [row(item) for item in (section or {}).get("value", [])]


def position_reports(update: Mapping[str, Any], venue: str) -> list[PositionReport]:
    reports = []
    for item in rows(update.get("portfolio")):
        if item.get("positionType") != "PRODUCT":
            continue  # cash rows
        size = dec(item.get("size", 0), "size")
        if size == 0:
            continue
        reports.append(
            PositionReport(
                instrument_id=InstrumentId(str(item["id"]), venue),
                quantity=size,
                avg_price=opt_dec(item.get("breakEvenPrice"), "breakEvenPrice") or ZERO,
            )
        )
    return reports


def order_report(item: Mapping[str, Any], venue: str, client_order_id: str | None = None) -> OrderReport:
    """An open order row -> `OrderReport` (Degiro's update lists working orders only)."""
    size = dec(item.get("size"), "size")
    quantity = opt_dec(item.get("quantity"), "quantity") or size
    kind = _TYPES.get(int(item.get("orderTypeId", 0)), OrderType.LIMIT)
    filled = quantity - size if quantity > size else ZERO
    return OrderReport(
        client_order_id=ClientOrderId(client_order_id or f"degiro-{item['id']}"),
        venue_order_id=VenueOrderId(str(item["id"])),
        instrument_id=InstrumentId(str(item["productId"]), venue),
        side=OrderSide.BUY if item.get("buysell") == "B" else OrderSide.SELL,
        order_type=kind,
        quantity=quantity,
        filled_quantity=filled,
        status=OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED,
        limit_price=opt_dec(item.get("price")) if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
        stop_price=opt_dec(item.get("stopPrice")) if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
        time_in_force=TimeInForce.GTC if int(item.get("orderTimeTypeId", 1)) == 3 else TimeInForce.DAY,
        raw=dict(item),
    )


def account_report(update: Mapping[str, Any], int_account: int, currency: str) -> AccountReport:
    total = row(update.get("totalPortfolio") or {})
    cash = opt_dec(total.get("totalCash"), "totalCash") or ZERO
    positions = opt_dec(total.get("reportPortfValue"), "reportPortfValue") or ZERO
    free = total.get("freeSpaceNew") or {}
    return AccountReport(
        account_id=str(int_account),
        currency=currency,
        cash=cash,
        equity=cash + positions,
        buying_power=opt_dec(free.get(currency)) if isinstance(free, dict) else None,
    )


def final_order_report(history: Mapping[str, Any], last: OrderReport) -> OrderReport | None:
    """An order that left the open list, from its newest orders-history row (`orderId`, `status`, `size`,
    `totalTradedSize`, `active`): filled, rejected or canceled (deleted or expired at the day's end). None
    while the row still says active (the history lags the open list)."""
    if history.get("active"):
        return None
    size = opt_dec(history.get("size"), "size") or last.quantity
    traded = opt_dec(history.get("totalTradedSize"), "totalTradedSize") or last.filled_quantity
    status_text = str(history.get("status") or "")
    if traded >= size:
        status = OrderStatus.FILLED
    elif "REJECT" in status_text.upper():
        status = OrderStatus.REJECTED
    else:
        status = OrderStatus.CANCELED
    return dataclasses.replace(
        last,
        filled_quantity=traded,
        status=status,
        ts=iso_to_ns(str(history["last"])) if history.get("last") else last.ts,
        reason="" if status is OrderStatus.FILLED else f"degiro order status {status_text or 'unknown'}",
        raw=dict(history),
    )


def transaction_fill(item: Mapping[str, Any], venue: str, client_order_id: str, currency: str) -> Fill:
    """A transactions-history row -> `Fill`. Degiro signs sell quantities and fees negative; fees are in the
    account's base currency."""
    fee = opt_dec(item.get("totalFeesInBaseCurrency"), "totalFeesInBaseCurrency")
    if fee is None:
        fee = opt_dec(item.get("feeInBaseCurrency"), "feeInBaseCurrency") or ZERO
    order_id = item.get("orderId")
    return Fill(
        trade_id=TradeId(str(item["id"])),
        client_order_id=ClientOrderId(client_order_id),
        strategy_id=StrategyId(""),
        instrument_id=InstrumentId(str(item["productId"]), venue),
        side=OrderSide.BUY if item.get("buysell") == "B" else OrderSide.SELL,
        quantity=abs(dec(item.get("quantity"), "quantity")),
        price=dec(item.get("price"), "price"),
        commission=abs(fee),
        currency=currency,
        ts=iso_to_ns(str(item.get("date") or "")),
        venue_order_id=VenueOrderId(str(order_id)) if order_id else None,
    )


def chart_bars(chart: Mapping[str, Any]) -> list[Bar]:
    """A chart answer with `ohlc:` and `volume:` series (`times` = `<start>/PT1M`, rows `[i, o, h, l, c]` and
    `[i, volume]`, row i opening at start + i minutes) -> 1-minute bars. Requested with `tz=UTC`."""
    ohlc: Mapping[str, Any] | None = None
    volume: dict[int, float] = {}
    for series in chart.get("series") or []:
        sid = str(series.get("id", ""))
        if sid.startswith("ohlc:"):
            ohlc = series
        elif sid.startswith("volume:"):
            volume = {int(row[0]): float(row[1]) for row in series.get("data") or []}
    if ohlc is None:
        return []
    start_text, _, resolution = str(ohlc.get("times") or "").partition("/")
    if resolution != "PT1M":
        raise FixRequest(f"degiro chart came in {resolution or 'no'} resolution, not 1-minute (PT1M)", venue="degiro")
    start = dt.datetime.fromisoformat(start_text)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    start_ns = int(start.timestamp()) * 1_000_000_000
    return [
        Bar(start_ns + int(i) * 60_000_000_000, float(o), float(h), float(lo), float(c), volume.get(int(i), 0.0))
        for i, o, h, lo, c in (row[:5] for row in ohlc.get("data") or [])
    ]
