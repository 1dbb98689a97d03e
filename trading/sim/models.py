"""How the simulated venue fills: fill timing, fees, slippage and volume limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Protocol

from trading.errors import InvalidValue
from trading.model.instruments import Instrument
from trading.model.orders import OrderSide

ZERO = Decimal(0)
ONE = Decimal(1)


class FillTiming(StrEnum):
    """When a market order created on a bar executes."""

    NEXT_OPEN = "next_open"  # at the next bar's open: what a live trader gets (default)
    CLOSE = "close"  # at the signal bar's close: the vectorized-research convention


class FeeModel(Protocol):
    def commission(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class NoFees:
    def commission(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        return ZERO


@dataclass(frozen=True, slots=True)
class PerUnitFee:
    """A fixed amount per share, coin or contract (per-contract for futures), with an optional minimum."""

    per_unit: Decimal
    minimum: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.per_unit < 0 or self.minimum < 0:
            raise InvalidValue(f"fees must not be negative (per_unit={self.per_unit}, minimum={self.minimum})")

    def commission(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        return max(self.per_unit * quantity, self.minimum)


@dataclass(frozen=True, slots=True)
class PercentFee:
    """A fraction of the traded notional, e.g. Decimal('0.001') for 10 bps, with an optional minimum."""

    rate: Decimal
    minimum: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.rate < 0 or self.minimum < 0:
            raise InvalidValue(f"fees must not be negative (rate={self.rate}, minimum={self.minimum})")

    def commission(self, instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
        return max(self.rate * quantity * price * instrument.multiplier, self.minimum)


class SlippageModel(Protocol):
    def adjust(self, instrument: Instrument, side: OrderSide, price: Decimal) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class NoSlippage:
    def adjust(self, instrument: Instrument, side: OrderSide, price: Decimal) -> Decimal:
        return price


@dataclass(frozen=True, slots=True)
class TickSlippage:
    """Market and stop fills pay `ticks` ticks against the trader."""

    ticks: int = 1

    def adjust(self, instrument: Instrument, side: OrderSide, price: Decimal) -> Decimal:
        return price + side.sign * self.ticks * instrument.tick_size


@dataclass(frozen=True, slots=True)
class PercentSlippage:
    """Market and stop fills pay `bps` basis points against the trader, rounded to the tick against them."""

    bps: Decimal

    def adjust(self, instrument: Instrument, side: OrderSide, price: Decimal) -> Decimal:
        raw = price * (ONE + side.sign * self.bps / Decimal(10_000))
        rounding = ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR
        return (raw / instrument.tick_size).quantize(ONE, rounding=rounding) * instrument.tick_size


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that decides how the simulated venue fills."""

    fill_timing: FillTiming = FillTiming.NEXT_OPEN
    fees: FeeModel = field(default_factory=NoFees)
    slippage: SlippageModel = field(default_factory=NoSlippage)
    volume_cap: float | None = None  # max fraction of a bar's volume one order set may take; None = no cap
    check_funds: bool = True
    venue: str = "SIM"

    def __post_init__(self) -> None:
        if self.volume_cap is not None and not 0 < self.volume_cap <= 1:
            raise InvalidValue(f"volume_cap must be in (0, 1], got {self.volume_cap}")
