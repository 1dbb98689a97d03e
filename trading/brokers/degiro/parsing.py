"""Degiro `update` payloads (rows of `{"name": ..., "value": ...}`) parsed into core types. EXPERIMENTAL.

Degiro identifies products by numeric id; instrument symbols for Degiro are those ids (`332111.DEGIRO`).
Degiro has no client order id: the adapter keeps the mapping for orders it placed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from trading.brokers.protocol import AccountReport, OrderReport, PositionReport
from trading.brokers.wire import dec, opt_dec
from trading.model.identifiers import ClientOrderId, InstrumentId, VenueOrderId
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
