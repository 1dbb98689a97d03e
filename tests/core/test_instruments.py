"""Instruments turn raw numbers into exact prices and quantities on their tick and lot grids."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading.errors import InvalidValue
from trading.model import AssetClass, Instrument, InstrumentId, TradingSession, crypto_spot, equity

# Venues publish ticks with trailing zeros (Binance: "0.01000000"); the grid is what counts.
TICKS = ["0.01", "0.01000000", "0.25", "1", "10", "0.00001", "0.0500"]


def instrument_with_tick(tick: str) -> Instrument:
    return Instrument(InstrumentId("X", "SIM"), AssetClass.EQUITY, "USD", Decimal(tick))


@given(st.sampled_from(TICKS), st.floats(min_value=10, max_value=1e6, allow_nan=False))
def test_make_price_lands_on_the_tick_grid_at_the_nearest_tick(tick, value) -> None:
    instrument = instrument_with_tick(tick)
    price = instrument.make_price(value)
    assert price % Decimal(tick) == 0
    assert abs(price - Decimal(repr(value))) <= Decimal(tick) / 2


@pytest.mark.parametrize(
    ("tick", "value", "expected"),
    [("0.01000000", 100.126, "100.13"), ("0.25", 4000.13, "4000.25"), ("0.01", "3643.35", "3643.35")],
)
def test_make_price_examples(tick, value, expected) -> None:
    assert instrument_with_tick(tick).make_price(value) == Decimal(expected)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), "abc", "-0.01", 0.004])
def test_make_price_rejects_non_positive_and_non_finite(value) -> None:
    with pytest.raises(InvalidValue):
        equity("X").make_price(value)


def test_make_price_below_half_a_tick_is_rejected_not_rounded_to_zero() -> None:
    with pytest.raises(InvalidValue, match="positive"):
        instrument_with_tick("10").make_price(4.9)
    assert instrument_with_tick("10").make_price(5.1) == Decimal(10)


def test_make_quantity_rounds_down_to_the_lot_and_rejects_below_it() -> None:
    btc = crypto_spot("BTC/USDT", lot_size="0.001")
    assert btc.make_quantity(0.0019) == Decimal("0.001")
    with pytest.raises(InvalidValue, match="lot size"):
        btc.make_quantity("0.0009")
    with pytest.raises(InvalidValue):
        btc.make_quantity(-1)


def test_session_contains_bars_opening_inside_it_on_weekdays_only() -> None:
    session = TradingSession.parse("09:30-16:00", "America/New_York")
    at = lambda text: int(pd_ts(text))  # noqa: E731
    assert session.contains(at("2024-01-02 09:30"))
    assert not session.contains(at("2024-01-02 16:00"))
    assert not session.contains(at("2024-01-06 10:00"))  # a Saturday
    with pytest.raises(InvalidValue):
        TradingSession.parse("16:00-09:30")


def pd_ts(text: str) -> int:
    import pandas as pd

    return int(pd.Timestamp(text, tz="America/New_York").value)


@pytest.mark.parametrize("tick", ["0.01", "0.010", "1E-2", "0.25", "0.250", "5"])
def test_make_price_from_a_float_seen_before_gives_the_same_digits_as_the_first_time(tick) -> None:
    instrument = instrument_with_tick(tick)
    first = [instrument.make_price(v) for v in (101.237, 7.3, 99.995, 101.237)]
    again = [instrument.make_price(v) for v in (101.237, 7.3, 99.995, 101.237)]
    by_string = [instrument.make_price(repr(v)) for v in (101.237, 7.3, 99.995, 101.237)]  # never cached
    assert [str(p) for p in again] == [str(p) for p in first] == [str(p) for p in by_string]


def test_make_price_cache_keeps_equal_ticks_written_differently_apart_where_digits_differ() -> None:
    coarse, fine = instrument_with_tick("0.25"), instrument_with_tick("0.250")
    assert str(coarse.make_price(10.3)) == "10.25" and str(fine.make_price(10.3)) == "10.250"
    assert str(coarse.make_price(10.3)) == "10.25"


def test_make_price_still_rejects_a_bad_float_after_good_ones_were_cached() -> None:
    instrument = equity("X")
    instrument.make_price(1.5)
    for bad in (math.nan, math.inf, 0.0, -1.5, 0.001):
        with pytest.raises(InvalidValue):
            instrument.make_price(bad)
