"""Identifiers: plain strings with a name, so signatures say what they carry."""

from __future__ import annotations

from typing import NewType

from trading.errors import InvalidValue

StrategyId = NewType("StrategyId", str)
ClientOrderId = NewType("ClientOrderId", str)
VenueOrderId = NewType("VenueOrderId", str)
TradeId = NewType("TradeId", str)
AccountId = NewType("AccountId", str)


class InstrumentId(tuple[str, str]):
    """`SYMBOL.VENUE`, e.g. `AAPL.ALPACA` or `BTC/USDT.BINANCE`. The venue is the last dot-separated part.

    A tuple underneath: instrument ids key every hot dict (positions, working orders, last bars), and a
    tuple's hash and equality run in C.
    """

    __slots__ = ()

    def __new__(cls, symbol: str, venue: str) -> InstrumentId:
        if not symbol or not venue:
            raise InvalidValue(f"instrument id needs a symbol and a venue, got {symbol!r}.{venue!r}")
        return tuple.__new__(cls, (symbol, venue))

    def __getnewargs__(self) -> tuple[str, str]:
        return (self[0], self[1])

    @property
    def symbol(self) -> str:
        return self[0]

    @property
    def venue(self) -> str:
        return self[1]

    def __repr__(self) -> str:
        return f"InstrumentId(symbol={self[0]!r}, venue={self[1]!r})"

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        symbol, dot, venue = text.rpartition(".")
        if not dot:
            raise InvalidValue(f"instrument id {text!r} is not SYMBOL.VENUE (e.g. AAPL.ALPACA)")
        return cls(symbol, venue)

    def __str__(self) -> str:
        return f"{self.symbol}.{self.venue}"
