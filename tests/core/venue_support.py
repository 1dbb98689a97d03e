"""Builders shared by the core tests: hand-made bars, a simulated venue around one instrument, orders."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pandas as pd

from trading.data.bars import Bar
from trading.messages import Message, OrderFilled
from trading.model import (
    Account,
    ClientOrderId,
    Instrument,
    Order,
    OrderSide,
    OrderType,
    StrategyId,
    equity,
)
from trading.sim import SimConfig, SimulatedVenue

NS_PER_MINUTE = 60_000_000_000
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
# Tuesday 2024-01-02 10:00 UTC
T0 = int(pd.Timestamp("2024-01-02 10:00", tz="UTC").value)
STOCK = equity("XYZ")

_ids = itertools.count(1)


def D(text: str | int) -> Decimal:
    return Decimal(str(text))


def bar(k: int, o: float, h: float, lo: float, c: float, v: float = 1_000.0, *, start: int = T0) -> Bar:
    """The k-th one-minute bar after `start`."""
    return Bar(start + k * NS_PER_MINUTE, o, h, lo, c, v, k)


def make_venue(instrument: Instrument = STOCK, cash: str | int = 1_000_000, **sim: Any) -> SimulatedVenue:
    account = Account.open("SIM-ACCOUNT", Decimal(cash), instrument.currency)
    account.register(instrument)
    return SimulatedVenue(account, SimConfig(**sim))


def make_order(
    side: OrderSide,
    quantity: str | int | Decimal,
    order_type: OrderType = OrderType.MARKET,
    *,
    instrument: Instrument = STOCK,
    client_order_id: str | None = None,
    **fields: Any,
) -> Order:
    for name in ("limit_price", "stop_price", "trailing_offset", "trailing_percent"):
        if name in fields and fields[name] is not None:
            fields[name] = Decimal(str(fields[name]))
    return Order(
        client_order_id=ClientOrderId(client_order_id or f"O-{next(_ids)}"),
        strategy_id=StrategyId("test"),
        instrument_id=instrument.id,
        side=side,
        order_type=order_type,
        quantity=Decimal(str(quantity)),
        **fields,
    )


def fills_of(events: list[Message]) -> list[OrderFilled]:
    return [e for e in events if isinstance(e, OrderFilled)]


def kinds(events: list[Message]) -> list[str]:
    return [e.kind for e in events]
