"""Alpaca payloads (raw JSON dicts) parsed into core types, and core orders into Alpaca request fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from trading.brokers.protocol import (
    AccountReport,
    BarEvent,
    OrderReport,
    PositionReport,
    QuoteEvent,
    TradeEvent,
)
from trading.brokers.wire import dec, iso_to_ns, opt_dec
from trading.data.bars import Bar
from trading.errors import BrokerError
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from trading.model.instruments import AssetClass, Instrument
from trading.model.orders import OrderSide, OrderStatus, OrderType, TimeInForce

VENUE_NAME = "alpaca"

STATUS: Mapping[str, OrderStatus] = {
    "pending_new": OrderStatus.SUBMITTED,
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "held": OrderStatus.ACCEPTED,  # a bracket leg waiting for its parent
    "stopped": OrderStatus.ACCEPTED,
    "suspended": OrderStatus.ACCEPTED,
    "done_for_day": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "pending_cancel": OrderStatus.PENDING_CANCEL,
    "pending_replace": OrderStatus.PENDING_UPDATE,
    "canceled": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,  # superseded by its replacement order
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}

ORDER_TYPE: Mapping[str, OrderType] = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
    "trailing_stop": OrderType.TRAILING_STOP,
}

TIME_IN_FORCE: Mapping[str, TimeInForce] = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
    "opg": TimeInForce.DAY,
    "cls": TimeInForce.DAY,
}

_REPLACEMENT = re.compile(r"^(?P<base>.+)-R(?P<n>\d+)$")


def base_client_order_id(venue_id: str) -> ClientOrderId:
    """Our id for an Alpaca client order id: replacements carry `<ours>-R<n>` (Alpaca ids must be unique)."""
    match = _REPLACEMENT.match(venue_id)
    return ClientOrderId(match["base"] if match else venue_id)


def next_replacement_id(venue_id: str) -> str:
    match = _REPLACEMENT.match(venue_id)
    if match is None:
        return f"{venue_id}-R1"
    return f"{match['base']}-R{int(match['n']) + 1}"


def _enum(table: Mapping[str, Any], value: Any, what: str, raw: Mapping[str, Any]) -> Any:
    try:
        return table[str(value).lower()]
    except KeyError:
        raise BrokerError(
            f"alpaca sent unknown {what} {value!r} for order {raw.get('client_order_id')}",
            venue=VENUE_NAME,
            detail=str(raw)[:500],
        ) from None


def order_report(raw: Mapping[str, Any], venue: str) -> OrderReport:
    """An Alpaca order object -> `OrderReport` (our client order id, replacement suffix stripped)."""
    status = _enum(STATUS, raw["status"], "status", raw)
    filled = dec(raw.get("filled_qty") or "0", "filled_qty")
    qty = raw.get("qty")
    quantity = dec(qty, "qty") if qty not in (None, "") else filled  # a notional order has no qty
    if status is OrderStatus.CANCELED and raw.get("status") == "replaced":
        reason = f"replaced by {raw.get('replaced_by')}"
    else:
        reason = str(raw.get("status") if status is OrderStatus.REJECTED else "")
    avg = opt_dec(raw.get("filled_avg_price"), "filled_avg_price")
    return OrderReport(
        client_order_id=base_client_order_id(str(raw["client_order_id"])),
        venue_order_id=VenueOrderId(str(raw["id"])),
        instrument_id=InstrumentId(str(raw["symbol"]), venue),
        side=OrderSide(str(raw["side"]).lower()),
        order_type=_enum(ORDER_TYPE, raw.get("type") or raw.get("order_type"), "type", raw),
        quantity=quantity,
        filled_quantity=filled,
        status=status,
        avg_fill_price=avg if avg else None,  # Alpaca sends 0 before the first fill
        limit_price=opt_dec(raw.get("limit_price"), "limit_price"),
        stop_price=opt_dec(raw.get("stop_price"), "stop_price"),
        time_in_force=_enum(TIME_IN_FORCE, raw.get("time_in_force", "gtc"), "time_in_force", raw),
        ts=iso_to_ns(raw.get("updated_at") or raw.get("created_at")),
        reason=reason,
        raw=dict(raw),
    )


def leg_reports(raw: Mapping[str, Any], venue: str) -> list[OrderReport]:
    """The legs of a bracket / OCO / OTO order (Alpaca gives them their own client order ids)."""
    return [order_report(leg, venue) for leg in raw.get("legs") or ()]


def position_report(raw: Mapping[str, Any], venue: str) -> PositionReport:
    quantity = dec(raw["qty"], "qty")
    if str(raw.get("side", "long")).lower() == "short" and quantity > 0:
        quantity = -quantity
    return PositionReport(
        instrument_id=InstrumentId(str(raw["symbol"]), venue),
        quantity=quantity,
        avg_price=dec(raw["avg_entry_price"], "avg_entry_price"),
        unrealized_pnl=opt_dec(raw.get("unrealized_pl"), "unrealized_pl"),
    )


def account_report(raw: Mapping[str, Any]) -> AccountReport:
    return AccountReport(
        account_id=str(raw.get("account_number") or raw["id"]),
        currency=str(raw.get("currency", "USD")),
        cash=dec(raw["cash"], "cash"),
        equity=dec(raw["equity"], "equity"),
        buying_power=opt_dec(raw.get("buying_power"), "buying_power"),
    )


def account_blocked_reason(raw: Mapping[str, Any]) -> str | None:
    for flag in ("account_blocked", "trading_blocked", "trade_suspended_by_user"):
        if raw.get(flag):
            return flag
    status = str(raw.get("status", "ACTIVE")).upper()
    return None if status == "ACTIVE" else f"status {status}"


def fill_from_activity(raw: Mapping[str, Any], client_order_id: ClientOrderId, venue: str) -> Fill:
    """An account activity of type FILL -> `Fill`. Alpaca equities are commission-free; crypto fees are
    separate activities, so commission is 0 here. The trade id is the activity id's execution part (after
    `::`), the `execution_id` the trade_updates stream reports for the same fill: a fill seen on the stream and
    again in reconciliation is booked once."""
    return Fill(
        trade_id=TradeId(str(raw["id"]).rpartition("::")[2]),
        client_order_id=client_order_id,
        strategy_id=StrategyId(""),
        instrument_id=InstrumentId(str(raw["symbol"]), venue),
        side=OrderSide(str(raw["side"]).lower().replace("sell_short", "sell")),
        quantity=dec(raw["qty"], "qty"),
        price=dec(raw["price"], "price"),
        commission=Decimal(0),
        currency="USD",
        ts=iso_to_ns(raw.get("transaction_time")),
        venue_order_id=VenueOrderId(str(raw["order_id"])),
    )


def trade_update(raw: Mapping[str, Any], venue: str) -> tuple[OrderReport, Fill | None]:
    """A `trade_updates` stream message's `data` -> the order's new state and the fill it carries, if any."""
    order = raw["order"]
    report = order_report(order, venue)
    event = str(raw.get("event", ""))
    fill = None
    if event in ("fill", "partial_fill") and raw.get("qty") is not None:
        fill = Fill(
            trade_id=TradeId(str(raw.get("execution_id") or f"{order['id']}:{raw.get('timestamp')}")),
            client_order_id=report.client_order_id,
            strategy_id=StrategyId(""),
            instrument_id=report.instrument_id,
            side=report.side,
            quantity=dec(raw["qty"], "qty"),
            price=dec(raw["price"], "price"),
            commission=Decimal(0),
            currency="USD",
            ts=iso_to_ns(raw.get("timestamp")),
            venue_order_id=report.venue_order_id,
        )
    return report, fill


def instrument(raw: Mapping[str, Any], venue: str) -> Instrument:
    """An Alpaca asset -> `Instrument`. Crypto assets carry their increments; equities trade in cents."""
    is_crypto = str(raw.get("class", "us_equity")) == "crypto"
    tick = opt_dec(raw.get("price_increment"), "price_increment") or Decimal("0.01")
    if is_crypto:
        lot = opt_dec(raw.get("min_trade_increment"), "min_trade_increment") or Decimal("0.000000001")
    else:
        lot = Decimal("0.000000001") if raw.get("fractionable") else Decimal(1)
    symbol = str(raw["symbol"])
    return Instrument(
        id=InstrumentId(symbol, venue),
        asset_class=AssetClass.CRYPTO_SPOT if is_crypto else AssetClass.EQUITY,
        currency=symbol.split("/")[1] if is_crypto and "/" in symbol else "USD",
        tick_size=tick,
        lot_size=lot,
        min_quantity=opt_dec(raw.get("min_order_size"), "min_order_size") or Decimal(0),
        shortable=bool(raw.get("shortable", False)),
    )


def rest_bar(raw: Mapping[str, Any]) -> Bar:
    """A historical bar (`t`, `o`, `h`, `l`, `c`, `v`); market data is float in the core (data/bars.py)."""
    return Bar(
        iso_to_ns(str(raw["t"])),
        float(raw["o"]),
        float(raw["h"]),
        float(raw["l"]),
        float(raw["c"]),
        float(raw["v"]),
    )


def _stream_ts(value: Any) -> int:
    if hasattr(value, "seconds") and hasattr(value, "nanoseconds"):  # msgpack Timestamp
        return int(value.seconds) * 1_000_000_000 + int(value.nanoseconds)
    return iso_to_ns(str(value))


def stream_event(raw: Mapping[str, Any], venue: str) -> BarEvent | QuoteEvent | TradeEvent | None:
    """A market-data stream message (`T` = b/u/d bar, q quote, t trade) -> a core market event."""
    kind = raw.get("T")
    symbol = raw.get("S")
    if not symbol:
        return None
    iid = InstrumentId(str(symbol), venue)
    if kind in ("b", "u", "d"):
        bar = Bar(
            _stream_ts(raw["t"]),
            float(raw["o"]),
            float(raw["h"]),
            float(raw["l"]),
            float(raw["c"]),
            float(raw["v"]),
        )
        return BarEvent(iid, bar)
    if kind == "q":
        return QuoteEvent(
            iid,
            dec(raw["bp"], "bp"),
            dec(raw["ap"], "ap"),
            dec(raw["bs"], "bs"),
            dec(raw["as"], "as"),
            _stream_ts(raw["t"]),
        )
    if kind == "t":
        return TradeEvent(iid, dec(raw["p"], "p"), dec(raw["s"], "s"), _stream_ts(raw["t"]))
    return None
