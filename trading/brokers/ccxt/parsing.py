"""ccxt's unified structures parsed into core types.

The exchange object runs with `number = str`, so every unified amount and price arrives as the exchange's own
decimal string (ccxt computes with strings internally) and goes straight into Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ccxt.base.decimal_to_precision import TICK_SIZE

from trading.brokers.protocol import AccountReport, OrderReport, PositionReport, QuoteEvent, TradeEvent
from trading.brokers.wire import dec, ms_to_ns, opt_dec
from trading.data.bars import Bar
from trading.errors import BrokerError
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from trading.model.instruments import Accounting, AssetClass, Instrument
from trading.model.orders import OrderSide, OrderStatus, OrderType, TimeInForce

ZERO = Decimal(0)

_TIF = {
    "GTC": TimeInForce.GTC,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
    "PO": TimeInForce.GTC,
    "DAY": TimeInForce.DAY,
    "GTD": TimeInForce.GTC,
}


def status(raw: Mapping[str, Any], venue: str) -> OrderStatus:
    unified = raw.get("status")
    filled = opt_dec(raw.get("filled")) or ZERO
    if unified == "open":
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    if unified == "closed":
        return OrderStatus.FILLED
    if unified in ("canceled", "cancelled"):
        return OrderStatus.CANCELED
    if unified == "expired":
        return OrderStatus.EXPIRED
    if unified == "rejected":
        return OrderStatus.REJECTED
    raise BrokerError(
        f"{venue} order {raw.get('id')} has unknown status {unified!r}", venue=venue, detail=str(raw.get("info"))[:300]
    )


def order_type(raw: Mapping[str, Any]) -> OrderType:
    kind = str(raw.get("type") or "").lower()
    trigger = raw.get("triggerPrice") or raw.get("stopPrice")
    if "trailing" in kind:
        return OrderType.TRAILING_STOP
    if kind in ("stop_limit", "stop_loss_limit", "take_profit_limit") or (kind == "limit" and trigger):
        return OrderType.STOP_LIMIT
    if kind in ("stop", "stop_loss", "stop_market", "take_profit", "take_profit_market") or (
        kind == "market" and trigger
    ):
        return OrderType.STOP
    return OrderType.MARKET if kind == "market" else OrderType.LIMIT


def order_report(raw: Mapping[str, Any], venue: str, client_order_id: str | None = None) -> OrderReport:
    """A unified order -> `OrderReport`. `client_order_id` overrides the venue's (after a replace)."""
    kind = order_type(raw)
    price = opt_dec(raw.get("price"), "price")
    average = opt_dec(raw.get("average"), "average")
    return OrderReport(
        client_order_id=ClientOrderId(client_order_id or str(raw.get("clientOrderId") or "")),
        venue_order_id=VenueOrderId(str(raw["id"])) if raw.get("id") is not None else None,
        instrument_id=InstrumentId(str(raw["symbol"]), venue),
        side=OrderSide(str(raw["side"]).lower()),
        order_type=kind,
        quantity=dec(raw.get("amount"), "amount"),
        filled_quantity=opt_dec(raw.get("filled"), "filled") or ZERO,
        status=status(raw, venue),
        avg_fill_price=average if average else None,
        limit_price=price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and price else None,
        stop_price=opt_dec(raw.get("triggerPrice") or raw.get("stopPrice"), "triggerPrice"),
        time_in_force=_TIF.get(str(raw.get("timeInForce") or "GTC").upper(), TimeInForce.GTC),
        ts=ms_to_ns(raw.get("lastUpdateTimestamp") or raw.get("timestamp")),
        raw=dict(raw.get("info") or {}),
    )


def fill(raw: Mapping[str, Any], venue: str, client_order_id: ClientOrderId) -> Fill:
    """A unified trade (from fetchMyTrades / watchMyTrades) -> `Fill`."""
    fee = raw.get("fee") or {}
    return Fill(
        trade_id=TradeId(str(raw["id"])),
        client_order_id=client_order_id,
        strategy_id=StrategyId(""),
        instrument_id=InstrumentId(str(raw["symbol"]), venue),
        side=OrderSide(str(raw["side"]).lower()),
        quantity=dec(raw["amount"], "amount"),
        price=dec(raw["price"], "price"),
        commission=opt_dec(fee.get("cost"), "fee") or ZERO,
        currency=str(fee.get("currency") or ""),
        ts=ms_to_ns(raw.get("timestamp")),
        venue_order_id=VenueOrderId(str(raw["order"])) if raw.get("order") else None,
        liquidity=str(raw.get("takerOrMaker") or "taker"),
    )


def account_report(raw: Mapping[str, Any], account_id: str, quote: str) -> AccountReport:
    """A unified balance -> `AccountReport`: cash and equity in the quote currency, every currency's total."""
    totals = raw.get("total") or {}
    balances = {code: dec(value, code) for code, value in totals.items() if value is not None}
    free = opt_dec((raw.get("free") or {}).get(quote)) or ZERO
    total = balances.get(quote, ZERO)
    return AccountReport(
        account_id=account_id, currency=quote, cash=total, equity=total, buying_power=free, balances=balances
    )


def spot_positions(
    balance: Mapping[str, Any], markets: Mapping[str, Mapping[str, Any]], symbols: tuple[str, ...], venue: str
) -> list[PositionReport]:
    """Spot has no positions, only balances: each configured symbol's base-currency total is its position."""
    totals = balance.get("total") or {}
    reports = []
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            continue
        amount = opt_dec(totals.get(market["base"])) or ZERO
        if amount != 0:
            reports.append(PositionReport(InstrumentId(symbol, venue), amount, ZERO))
    return reports


def contract_position(raw: Mapping[str, Any], venue: str) -> PositionReport:
    contracts = dec(raw.get("contracts") or "0", "contracts")
    if str(raw.get("side")) == "short":
        contracts = -contracts
    return PositionReport(
        instrument_id=InstrumentId(str(raw["symbol"]), venue),
        quantity=contracts,
        avg_price=opt_dec(raw.get("entryPrice"), "entryPrice") or ZERO,
        unrealized_pnl=opt_dec(raw.get("unrealizedPnl"), "unrealizedPnl"),
    )


def _increment(value: Any, precision_mode: int) -> Decimal | None:
    """ccxt precision is a tick size (TICK_SIZE mode, e.g. Binance) or a number of decimals (DECIMAL_PLACES)."""
    number = opt_dec(value)
    if number is None:
        return None
    if precision_mode == TICK_SIZE:
        return number.normalize()
    return Decimal(1).scaleb(-int(number))


def instrument(market: Mapping[str, Any], venue: str, precision_mode: int) -> Instrument:
    """A ccxt market -> `Instrument` with the exchange's tick size, lot size and minimum amount."""
    precision = market.get("precision") or {}
    limits = (market.get("limits") or {}).get("amount") or {}
    tick = _increment(precision.get("price"), precision_mode) or Decimal("0.00000001")
    lot = _increment(precision.get("amount"), precision_mode) or Decimal("0.00000001")
    contract = bool(market.get("contract"))
    return Instrument(
        id=InstrumentId(str(market["symbol"]), venue),
        asset_class=AssetClass.FUTURE if contract else AssetClass.CRYPTO_SPOT,
        currency=str(market.get("quote") or ""),
        tick_size=tick,
        lot_size=lot,
        multiplier=(opt_dec(market.get("contractSize")) or Decimal(1)) if contract else Decimal(1),
        min_quantity=opt_dec(limits.get("min")) or ZERO,
        accounting=Accounting.MARGIN if contract else Accounting.CASH,
        shortable=contract,
    )


def ohlcv_bar(row: list[Any]) -> Bar:
    """`[ms, open, high, low, close, volume]` -> `Bar` (market data is float in the core)."""
    return Bar(ms_to_ns(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[5] or 0))


def trade_event(raw: Mapping[str, Any], venue: str) -> TradeEvent:
    return TradeEvent(
        InstrumentId(str(raw["symbol"]), venue),
        dec(raw["price"], "price"),
        dec(raw["amount"], "amount"),
        ms_to_ns(raw.get("timestamp")),
    )


def quote_event(raw: Mapping[str, Any], venue: str) -> QuoteEvent | None:
    if raw.get("bid") is None or raw.get("ask") is None:
        return None
    return QuoteEvent(
        InstrumentId(str(raw["symbol"]), venue),
        dec(raw["bid"], "bid"),
        dec(raw["ask"], "ask"),
        opt_dec(raw.get("bidVolume")) or ZERO,
        opt_dec(raw.get("askVolume")) or ZERO,
        ms_to_ns(raw.get("timestamp")),
    )
