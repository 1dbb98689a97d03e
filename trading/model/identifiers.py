"""Identifiers: plain strings with a name, so signatures say what they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NewType

from trading.errors import InvalidValue

StrategyId = NewType("StrategyId", str)
ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
AccountId = NewType("AccountId", str)


@dataclass(frozen=True, slots=True, order=True)
class InstrumentId:
    """`SYMBOL.VENUE`, e.g. `AAPL.ALPACA` or `BTC/USDT.BINANCE`. The venue is the last dot-separated part."""

    symbol: str
    venue: str
    # Instrument ids key every hot dict (positions, working orders, last bars): hash once, not per lookup.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.symbol or not self.venue:
            raise InvalidValue(f"instrument id needs a symbol and a venue, got {self.symbol!r}.{self.venue!r}")
        object.__setattr__(self, "_hash", hash((self.symbol, self.venue)))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, InstrumentId):
            return NotImplemented
        return self.symbol == other.symbol and self.venue == other.venue

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        symbol, dot, venue = text.rpartition(".")
        if not dot:
            raise InvalidValue(f"instrument id {text!r} is not SYMBOL.VENUE (e.g. AAPL.ALPACA)")
        return cls(symbol, venue)

    def __str__(self) -> str:
        return f"{self.symbol}.{self.venue}"
