"""Instruments: what is traded, with the rules that turn raw numbers into valid prices and quantities."""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from trading.errors import InvalidValue
from trading.model.identifiers import InstrumentId

ZERO = Decimal(0)
ONE = Decimal(1)


class AssetClass(StrEnum):
    EQUITY = "equity"
    CRYPTO_SPOT = "crypto_spot"
    FUTURE = "future"
    FX = "fx"


class Accounting(StrEnum):
    """How a position touches cash: CASH pays the notional; MARGIN holds margin and settles P&L into cash."""

    CASH = "cash"
    MARGIN = "margin"


@dataclass(frozen=True, slots=True)
class TradingSession:
    """A daily trading window in the venue's time zone, e.g. 09:30-16:00 America/New_York, Mon-Fri."""

    open: dt.time
    close: dt.time
    timezone: str = "UTC"
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})

    def __post_init__(self) -> None:
        if self.open >= self.close:
            raise InvalidValue(f"session open {self.open} must be before close {self.close}")
        ZoneInfo(self.timezone)  # raises for an unknown zone

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC", weekdays: str = "0-4") -> TradingSession:
        """Parse `"09:30-16:00"`; weekdays as `"0-4"` (Mon-Fri) or `"0-6"`."""
        try:
            start, end = text.split("-")
            first, last = (int(x) for x in weekdays.split("-"))
            return cls(
                dt.time.fromisoformat(start.strip()),
                dt.time.fromisoformat(end.strip()),
                timezone,
                frozenset(range(first, last + 1)),
            )
        except ValueError as exc:
            raise InvalidValue(f"session {text!r} is not HH:MM-HH:MM ({exc})") from exc

    def local(self, ts_ns: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=ZoneInfo(self.timezone))

    def contains(self, ts_ns: int) -> bool:
        """Is a bar opening at `ts_ns` inside the session? (open <= t < close, on a trading weekday)."""
        local = self.local(ts_ns)
        return local.weekday() in self.weekdays and self.open <= local.time() < self.close


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument. `margin_init` is per contract (MARGIN accounting) and ignored for CASH."""

    id: InstrumentId
    asset_class: AssetClass
    currency: str
    tick_size: Decimal
    lot_size: Decimal = ONE
    multiplier: Decimal = ONE
    margin_init: Decimal = ZERO
    min_quantity: Decimal = ZERO
    sessions: tuple[TradingSession, ...] = ()
    accounting: Accounting = field(default=Accounting.CASH)
    shortable: bool = True

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "multiplier"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise InvalidValue(f"{self.id}: {name} must be a positive Decimal, got {value!r}")
        if self.margin_init < 0:
            raise InvalidValue(f"{self.id}: margin_init must not be negative, got {self.margin_init}")

    @property
    def price_precision(self) -> int:
        return max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]

    def make_price(self, value: float | str | Decimal) -> Decimal:
        """An exact price on this instrument's tick grid (nearest tick). Rejects NaN, inf and non-positive."""
        tick = self.tick_size
        if type(value) is float:
            known = _FLOAT_PRICES.get(tick)
            if known is not None:
                cached = known.get(value)
                if cached is not None:
                    return cached
        if type(value) is float and value > 0 and value != math.inf:
            price = Decimal(repr(value))  # the fast path of `to_decimal` for the common case (bar prices)
        else:
            price = to_decimal(value, what=f"{self.id} price")
        quantum = _tick_quantum(tick)
        if quantum is not None:
            rounded = price.quantize(quantum, ROUND_HALF_EVEN)  # positional: `rounding=` is slower, once per fill
        else:
            rounded = (price / tick).quantize(ONE, rounding=ROUND_HALF_EVEN) * tick
        if rounded <= 0:  # after rounding: a positive price below half a tick is no price either
            raise InvalidValue(f"{self.id}: price must be positive on the tick grid {tick}, got {price}")
        if quantum is not None and type(value) is float:
            _remember_price(tick, value, rounded)
        return rounded

    def make_quantity(self, value: float | str | Decimal) -> Decimal:
        """An exact quantity rounded down to the lot size. Rejects NaN, inf, negative and below-minimum."""
        quantity = to_decimal(value, what=f"{self.id} quantity")
        if quantity < 0:
            raise InvalidValue(f"{self.id}: quantity must not be negative, got {quantity}")
        lots = (quantity / self.lot_size).quantize(ONE, rounding=ROUND_DOWN)
        rounded = lots * self.lot_size
        if rounded <= 0 or rounded < self.min_quantity:
            raise InvalidValue(
                f"{self.id}: quantity {quantity} is below the lot size {self.lot_size} / minimum {self.min_quantity}"
            )
        return rounded

    def in_session(self, ts_ns: int) -> bool:
        return not self.sessions or any(s.contains(ts_ns) for s in self.sessions)


# Bar prices repeat (a minute bar's open is often an earlier close), and turning a float into a price on the grid
# costs about a microsecond: tick -> {float: price}. Only ticks with a quantum are cached: for them equal ticks
# (0.01, 0.010) give the same price, digit for digit, so keying by the tick's value is exact. Each tick's map is
# emptied when it grows past `_FLOAT_PRICES_MAX`, so a long-running process stays bounded.
_FLOAT_PRICES: dict[Decimal, dict[float, Decimal]] = {}
_FLOAT_PRICES_MAX = 100_000


def _remember_price(tick: Decimal, value: float, price: Decimal) -> None:
    known = _FLOAT_PRICES.get(tick)
    if known is None:
        if len(_FLOAT_PRICES) >= 256:
            _FLOAT_PRICES.clear()
        known = _FLOAT_PRICES[tick] = {}
    elif len(known) >= _FLOAT_PRICES_MAX:
        known.clear()
    known[value] = price


@functools.lru_cache(maxsize=256)
def _tick_quantum(tick: Decimal) -> Decimal | None:
    """For a tick like 0.01 or 1E-8, also written "0.01000000" as venues do: the quantum that puts a price on the
    grid with one `quantize` instead of divide-round-multiply. None for other ticks (0.25, 10)."""
    normal = tick.normalize()  # "0.01000000" would otherwise quantize to 8 decimals: off the 0.01 grid
    _sign, digits, exponent = normal.as_tuple()
    return normal if digits == (1,) and isinstance(exponent, int) and exponent <= 0 else None


def to_decimal(value: float | int | str | Decimal, *, what: str = "value") -> Decimal:
    """Exact conversion: floats go through their shortest repr, so 3643.35 becomes Decimal('3643.35')."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{what} must be finite, got {value}")
        result = Decimal(repr(value))
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except ArithmeticError as exc:
            raise InvalidValue(f"{what} {value!r} is not a number") from exc
    else:
        raise InvalidValue(f"{what} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise InvalidValue(f"{what} must be finite, got {value}")
    return result


def equity(
    symbol: str,
    venue: str = "SIM",
    *,
    currency: str = "USD",
    tick_size: str = "0.01",
    sessions: tuple[TradingSession, ...] = (),
) -> Instrument:
    """A cash-settled stock (lot 1, multiplier 1)."""
    return Instrument(InstrumentId(symbol, venue), AssetClass.EQUITY, currency, Decimal(tick_size), sessions=sessions)


def crypto_spot(
    symbol: str,
    venue: str = "SIM",
    *,
    currency: str = "USDT",
    tick_size: str = "0.01",
    lot_size: str = "0.00001",
) -> Instrument:
    """A crypto spot pair: fractional lots, trades around the clock."""
    return Instrument(
        InstrumentId(symbol, venue),
        AssetClass.CRYPTO_SPOT,
        currency,
        Decimal(tick_size),
        lot_size=Decimal(lot_size),
    )


def future(
    symbol: str,
    venue: str = "SIM",
    *,
    currency: str = "USD",
    tick_size: str = "0.25",
    multiplier: str = "50",
    margin_init: str = "12000",
    sessions: tuple[TradingSession, ...] = (),
) -> Instrument:
    """A futures contract: margin accounting, P&L marked to market into cash."""
    return Instrument(
        InstrumentId(symbol, venue),
        AssetClass.FUTURE,
        currency,
        Decimal(tick_size),
        multiplier=Decimal(multiplier),
        margin_init=Decimal(margin_init),
        sessions=sessions,
        accounting=Accounting.MARGIN,
    )
