"""Fills: one execution of (part of) an order, exactly as booked."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from trading.model.orders import OrderSide
from trading.model.pickling import PositionalPickle


@dataclass(slots=True, unsafe_hash=True)
class Fill(PositionalPickle):
    """An execution. `trade_id` is unique per venue execution, so a replayed report is booked once.

    Immutable by convention: `frozen=True` would make each construction several times slower (one
    `object.__setattr__` per field), and a backtest builds one per execution. It hashes by value all the same.
    """

    trade_id: TradeId
    client_order_id: ClientOrderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    currency: str
    ts: int
    venue_order_id: VenueOrderId | None = None
    liquidity: str = "taker"

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side is OrderSide.BUY else -self.quantity

    def to_dict(self) -> dict[str, Any]:
        return {
            "trade_id": self.trade_id,
            "client_order_id": self.client_order_id,
            "strategy_id": self.strategy_id,
            "instrument_id": str(self.instrument_id),
            "side": self.side.value,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "commission": str(self.commission),
            "currency": self.currency,
            "ts": self.ts,
            "venue_order_id": self.venue_order_id,
            "liquidity": self.liquidity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fill:
        return cls(
            trade_id=TradeId(data["trade_id"]),
            client_order_id=ClientOrderId(data["client_order_id"]),
            strategy_id=StrategyId(data["strategy_id"]),
            instrument_id=InstrumentId.parse(data["instrument_id"]),
            side=OrderSide(data["side"]),
            quantity=Decimal(data["quantity"]),
            price=Decimal(data["price"]),
            commission=Decimal(data["commission"]),
            currency=data["currency"],
            ts=int(data["ts"]),
            venue_order_id=VenueOrderId(data["venue_order_id"]) if data.get("venue_order_id") else None,
            liquidity=data.get("liquidity", "taker"),
        )
