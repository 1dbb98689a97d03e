"""The domain model: identifiers, instruments, exact money, orders and their state machine, fills,
positions and accounts."""

from trading.model.accounts import Account
from trading.model.fills import Fill
from trading.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from trading.model.instruments import (
    Accounting,
    AssetClass,
    Instrument,
    TradingSession,
    crypto_spot,
    equity,
    future,
    to_decimal,
)
from trading.model.money import Money
from trading.model.orders import (
    ContingencyType,
    Order,
    OrderSide,
    OrderStatus,
    OrderTrigger,
    OrderType,
    TimeInForce,
)
from trading.model.positions import Position, PositionChange

__all__ = [
    "Account",
    "AccountId",
    "Accounting",
    "AssetClass",
    "ClientOrderId",
    "ContingencyType",
    "Fill",
    "Instrument",
    "InstrumentId",
    "Money",
    "Order",
    "OrderSide",
    "OrderStatus",
    "OrderTrigger",
    "OrderType",
    "Position",
    "PositionChange",
    "StrategyId",
    "TimeInForce",
    "TradeId",
    "TradingSession",
    "VenueOrderId",
    "crypto_spot",
    "equity",
    "future",
    "to_decimal",
]
