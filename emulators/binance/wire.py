"""Binance spot's wire format: decimal strings, order and trade payloads, kline and executionReport events,
error bodies and request signatures, as https://developers.binance.com/docs/binance-spot-api-docs documents
them. Pure functions over core types: the server decides what to send, this module how it looks."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import parse_qsl

from trading.data.bars import Bar
from trading.model.fills import Fill
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce

EIGHT = Decimal("0.00000001")
ZERO = Decimal(0)
NS_PER_MS = 1_000_000

# Binance's error codes and messages (spot "Error codes" page), as the client library matches them.
UNKNOWN_EXECUTION = (-1000, "Unknown error, please check your request or try again later.")
INTERNAL_ERROR = (-1001, "Internal error; unable to process your request. Please try again.")
TOO_MANY_REQUESTS = (-1003, "Too many requests; current limit is 6000 request weight per 1 MINUTE.")
BAD_TIMESTAMP = (-1021, "Timestamp for this request is outside of the recvWindow.")
BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
BAD_API_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
INSUFFICIENT_BALANCE = (-2010, "Account has insufficient balance for requested action.")
DUPLICATE_ORDER = (-2010, "Duplicate order sent.")
UNKNOWN_ORDER_CANCEL = (-2011, "Unknown order sent.")
UNKNOWN_ORDER = (-2013, "Order does not exist.")
BAD_SYMBOL = (-1121, "Invalid symbol.")
BAD_INTERVAL = (-1120, "Invalid interval.")
BAD_ORDER_TYPE = (-1116, "Invalid orderType.")
BAD_SIDE = (-1117, "Invalid side.")
BAD_TIF = (-1115, "Invalid timeInForce.")


@dataclass
class BinanceError(Exception):
    """A refusal exactly as Binance sends it: HTTP status plus `{"code": ..., "msg": ...}`."""

    status: int
    code: int
    msg: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, error: tuple[int, str], *, msg: str | None = None) -> BinanceError:
        return cls(status, error[0], msg if msg is not None else error[1])

    @property
    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def missing(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def num(value: Decimal) -> str:
    """Binance's decimal strings carry eight places ("0.00162008", "1.00000000")."""
    return f"{value.quantize(EIGHT, rounding=ROUND_DOWN):f}"


def price_of(instrument: Instrument, value: float) -> str:
    """A bar price (float in the core) as the exact tick-grid decimal string."""
    return num(instrument.make_price(value))


def volume_of(value: float) -> str:
    return num(Decimal(repr(value)))


def ms(ns: int) -> int:
    return ns // NS_PER_MS


# -- signatures ---------------------------------------------------------------------------------------------
def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_payload(query: str, body: str) -> tuple[str, str | None]:
    """Binance signs the query string followed by the body, with the `signature` parameter left out.
    Returns (the signed text, the signature sent)."""
    signature: str | None = None
    kept: list[str] = []
    for part_source in (query, body):
        parts = []
        for part in part_source.split("&") if part_source else []:
            if part.startswith("signature="):
                signature = part[len("signature=") :]
            else:
                parts.append(part)
        kept.append("&".join(parts))
    return "".join(kept), signature


def params_of(query: str, body: str) -> dict[str, str]:
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    return params


def ws_signed_payload(params: dict[str, Any]) -> str:
    """The WebSocket API signs its params sorted by name, `key=value&...`, without `signature`."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


# -- orders -------------------------------------------------------------------------------------------------
_STATUS = {
    OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}
_TYPE = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
}
ORDER_TYPES = {v: k for k, v in _TYPE.items()}
TIME_IN_FORCE = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
SIDES = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}


def status(order: Order) -> str:
    """Working orders (accepted, triggered, pending a change) are all NEW to Binance."""
    return _STATUS.get(order.status, "NEW")


def order_type(order: Order) -> str:
    return _TYPE[order.order_type]


def time_in_force(order: Order) -> str:
    return "GTC" if order.order_type is OrderType.MARKET else order.time_in_force.value.upper()


@dataclass(frozen=True, slots=True)
class OrderIds:
    """What Binance adds to an order: its integer id, market id and creation time."""

    order_id: int
    market_id: str
    created_ms: int


def order_body(order: Order, ids: OrderIds, cum_quote: Decimal, updated_ms: int) -> dict[str, Any]:
    """GET /api/v3/order, GET /api/v3/openOrders and DELETE /api/v3/order answer this shape."""
    body: dict[str, Any] = {
        "symbol": ids.market_id,
        "orderId": ids.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": num(order.limit_price or ZERO),
        "origQty": num(order.quantity),
        "executedQty": num(order.filled_quantity),
        "cummulativeQuoteQty": num(cum_quote),
        "status": status(order),
        "timeInForce": time_in_force(order),
        "type": order_type(order),
        "side": order.side.value.upper(),
        "stopPrice": num(order.stop_price or ZERO),
        "icebergQty": num(ZERO),
        "time": ids.created_ms,
        "updateTime": updated_ms,
        "isWorking": order.order_type in (OrderType.MARKET, OrderType.LIMIT) or order.status is OrderStatus.TRIGGERED,
        "workingTime": ids.created_ms,
        "origQuoteOrderQty": num(ZERO),
        "selfTradePreventionMode": "NONE",
    }
    return body


def new_order_body(
    order: Order, ids: OrderIds, cum_quote: Decimal, fills: list[dict[str, Any]], response_type: str
) -> dict[str, Any]:
    """POST /api/v3/order in the ACK, RESULT or FULL response type (ccxt asks for FULL)."""
    ack = {
        "symbol": ids.market_id,
        "orderId": ids.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": ids.created_ms,
    }
    if response_type == "ACK":
        return ack
    full = order_body(order, ids, cum_quote, ids.created_ms)
    result = {
        **ack,
        **{k: full[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status")},
        **{k: full[k] for k in ("timeInForce", "type", "side", "workingTime", "selfTradePreventionMode")},
        "origQuoteOrderQty": num(ZERO),
    }
    if order.stop_price is not None:
        result["stopPrice"] = num(order.stop_price)
    if response_type == "FULL":
        result["fills"] = fills
    return result


def trade_body(fill: Fill, ids: OrderIds, trade_id: int, commission_asset: str) -> dict[str, Any]:
    """One row of GET /api/v3/myTrades."""
    return {
        "symbol": ids.market_id,
        "id": trade_id,
        "orderId": ids.order_id,
        "orderListId": -1,
        "price": num(fill.price),
        "qty": num(fill.quantity),
        "quoteQty": num(fill.quantity * fill.price),
        "commission": num(fill.commission),
        "commissionAsset": commission_asset,
        "time": ms(fill.ts),
        "isBuyer": fill.side is OrderSide.BUY,
        "isMaker": fill.liquidity == "maker",
        "isBestMatch": True,
    }


def execution_report(
    order: Order,
    ids: OrderIds,
    *,
    execution: str,
    event_ms: int,
    cum_quote: Decimal,
    fill: Fill | None = None,
    trade_id: int = -1,
    commission_asset: str | None = None,
    reason: str = "NONE",
) -> dict[str, Any]:
    """The user data stream's `executionReport` for one change of one order (`x` is what happened)."""
    last_qty = fill.quantity if fill is not None else ZERO
    last_price = fill.price if fill is not None else ZERO
    return {
        "e": "executionReport",
        "E": event_ms,
        "s": ids.market_id,
        "c": order.client_order_id,
        "S": order.side.value.upper(),
        "o": order_type(order),
        "f": time_in_force(order),
        "q": num(order.quantity),
        "p": num(order.limit_price or ZERO),
        "P": num(order.stop_price or ZERO),
        "F": num(ZERO),
        "g": -1,
        "C": order.client_order_id if execution == "CANCELED" else "",
        "x": execution,
        "X": status(order),
        "r": reason,
        "i": ids.order_id,
        "l": num(last_qty),
        "z": num(order.filled_quantity),
        "L": num(last_price),
        "n": num(fill.commission if fill is not None else ZERO),
        "N": commission_asset if fill is not None else None,
        "T": ms(fill.ts) if fill is not None else event_ms,
        "t": trade_id,
        "I": ids.order_id * 2 + (trade_id if trade_id > 0 else 0),
        "w": order.is_open,
        "m": fill is not None and fill.liquidity == "maker",
        "M": False,
        "O": ids.created_ms,
        "Z": num(cum_quote),
        "Y": num(last_qty * last_price),
        "Q": num(ZERO),
        "W": ids.created_ms,
        "V": "NONE",
    }


def account_position(event_ms: int, balances: dict[str, tuple[Decimal, Decimal]]) -> dict[str, Any]:
    """The user data stream's `outboundAccountPosition` after a balance changed."""
    return {
        "e": "outboundAccountPosition",
        "E": event_ms,
        "u": event_ms,
        "B": [{"a": asset, "f": num(free), "l": num(locked)} for asset, (free, locked) in balances.items()],
    }


# -- market data --------------------------------------------------------------------------------------------
def kline_row(instrument: Instrument, bar: Bar, interval_ms: int) -> list[Any]:
    """One row of GET /api/v3/klines. The recorded data has no trade counts or taker volumes: zeros."""
    open_ms = ms(bar.ts)
    close = instrument.make_price(bar.close)
    volume = Decimal(repr(bar.volume))
    return [
        open_ms,
        price_of(instrument, bar.open),
        price_of(instrument, bar.high),
        price_of(instrument, bar.low),
        num(close),
        num(volume),
        open_ms + interval_ms - 1,
        num(volume * close),
        0,
        num(ZERO),
        num(ZERO),
        "0",
    ]


def kline_event(
    instrument: Instrument, market_id: str, bar: Bar, interval_ms: int, event_ms: int, closed: bool
) -> dict[str, Any]:
    """The `<symbol>@kline_1m` stream's event; `x` says whether the candle is closed."""
    row = kline_row(instrument, bar, interval_ms)
    return {
        "e": "kline",
        "E": event_ms,
        "s": market_id,
        "k": {
            "t": row[0],
            "T": row[6],
            "s": market_id,
            "i": "1m",
            "f": -1,
            "L": -1,
            "o": row[1],
            "c": row[4],
            "h": row[2],
            "l": row[3],
            "v": row[5],
            "n": 0,
            "x": closed,
            "q": row[7],
            "V": row[9],
            "Q": row[10],
            "B": "0",
        },
    }


def trade_event(market_id: str, fill: Fill, trade_id: int, event_ms: int) -> dict[str, Any]:
    """The `<symbol>@trade` stream's event for one execution on the emulated venue."""
    return {
        "e": "trade",
        "E": event_ms,
        "s": market_id,
        "t": trade_id,
        "p": num(fill.price),
        "q": num(fill.quantity),
        "T": ms(fill.ts),
        "m": fill.side is OrderSide.SELL,
        "M": True,
    }


def symbol_info(instrument: Instrument, market_id: str, base: str, quote: str, min_notional: Decimal) -> dict[str, Any]:
    """One entry of GET /api/v3/exchangeInfo's `symbols`: the order types the emulator matches and its filters."""
    return {
        "symbol": market_id,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": num(instrument.tick_size),
                "maxPrice": num(Decimal(1_000_000)),
                "tickSize": num(instrument.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": num(max(instrument.min_quantity, instrument.lot_size)),
                "maxQty": num(Decimal(9_000_000)),
                "stepSize": num(instrument.lot_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": num(min_notional),
                "applyMinToMarket": True,
                "maxNotional": num(Decimal(9_000_000)),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }
