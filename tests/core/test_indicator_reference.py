"""Indicators against published reference values, crossover semantics, and causality (prefix == full history).

Sources (quoted in /work/shared/REFERENCE.md):
- mementum/backtrader tests/test_ind_sma.py, test_ind_ema.py, test_ind_rsi.py, test_ind_atr.py,
  test_ind_bbands.py: checkpoints on datas/2006-day-001.txt at the last bar, the first valid bar and a
  middle bar, six decimals (TA-Lib reproduces them exactly).
- TA-Lib's C regression tests (ta_regtest, test data from test_data.c), tolerance 0.01.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from strategies import BUILTIN
from trading import indicators
from trading.data.loaders import load_bars
from trading.strategy import build_config

DATA = Path(__file__).resolve().parents[2] / "data"
DAY = load_bars(DATA / "backtrader" / "2006-day-001.txt")
TALIB_REF = load_bars(DATA / "talib" / "talib_regtest_ref_252.csv")
SP500_MINUTE = DATA / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"


def six(value: float) -> str:
    return f"{value:.6f}"


def first_valid(values: np.ndarray) -> int:
    return int(np.argmax(np.isfinite(values)))


# ------------------------------------------------------------------------------------------ backtrader
@pytest.mark.parametrize(
    ("name", "compute", "checkpoints"),
    [
        (
            "SMA(30) backtrader tests/test_ind_sma.py",
            lambda: indicators.sma(DAY.close, 30),
            {254: "4063.463000", 29: "3644.444667", 141: "3554.693333"},
        ),
        (
            "EMA(30) backtrader tests/test_ind_ema.py",
            lambda: indicators.ema(DAY.close, 30),
            {254: "4070.115719", 29: "3644.444667", 141: "3581.728712"},
        ),
        (
            "RSI(14) backtrader tests/test_ind_rsi.py",
            lambda: indicators.rsi(DAY.close, 14),
            {254: "57.644284", 14: "41.630968", 134: "53.352553"},
        ),
        (
            "ATR(14) backtrader tests/test_ind_atr.py",
            lambda: indicators.atr(DAY.high, DAY.low, DAY.close, 14),
            {254: "35.866308", 14: "34.264286", 134: "54.329064"},
        ),
    ],
)
def test_indicator_matches_backtrader_checkpoints_to_six_decimals(name, compute, checkpoints) -> None:
    values = compute()
    assert len(values) == len(DAY) == 255
    assert {bar: six(values[bar]) for bar in checkpoints} == checkpoints, name
    assert first_valid(values) == min(checkpoints), f"{name}: the first valid bar"


def test_bollinger_20_2_matches_backtrader_bbands_at_the_last_bar() -> None:
    """backtrader tests/test_ind_bbands.py: mid 4065.884000, top 4190.782310, bottom 3940.985690 at bar 254."""
    upper, middle, lower = indicators.bollinger(DAY.close, 20, 2.0)
    assert (six(middle[254]), six(upper[254]), six(lower[254])) == ("4065.884000", "4190.782310", "3940.985690")
    assert first_valid(middle) == 19


# --------------------------------------------------------------------------------------- TA-Lib regtest
def test_talib_regression_checkpoints_within_its_tolerance() -> None:
    """TA-Lib ta_regtest on its 252-bar test data: SMA30, RSI14, ADX14, MACD(12,26,9) first values, tol 0.01."""
    close, high, low = TALIB_REF.close, TALIB_REF.high, TALIB_REF.low
    assert len(close) == 252
    sma30 = indicators.sma(close, 30)
    rsi14 = indicators.rsi(close, 14)
    adx14 = indicators.adx(high, low, close, 14)
    line, signal, hist = indicators.macd(close, 12, 26, 9)
    assert (first_valid(sma30), first_valid(rsi14), first_valid(adx14), first_valid(line)) == (29, 14, 27, 33)
    assert sma30[29] == pytest.approx(90.42, abs=0.01)
    assert rsi14[14] == pytest.approx(49.14, abs=0.01)
    assert adx14[27] == pytest.approx(23.0000, abs=0.01)
    assert line[33] == pytest.approx(-1.9738, abs=0.01)
    assert signal[33] == pytest.approx(-2.7071, abs=0.01)
    assert hist[33] == pytest.approx(line[33] - signal[33], abs=1e-9)


def test_period_one_averages_are_the_series_itself_and_a_copy() -> None:
    for average in (indicators.sma, indicators.ema):
        values = average(DAY.close, 1)
        assert np.array_equal(values, DAY.close)
        values[0] = -1.0
        assert DAY.close[0] != -1.0


# ------------------------------------------------------------------------------------------ crossover
def cross(a: list[float], b: list[float]) -> list[float]:
    return indicators.crossover(np.array(a, dtype=float), np.array(b, dtype=float)).tolist()


def test_crossover_marks_up_and_down_crosses() -> None:
    assert cross([1, 2, 3, 2, 1], [2, 2.5, 2.5, 2.5, 2.5]) == [0, 0, 1, -1, 0]


def test_crossover_touch_and_bounce_back_is_not_a_cross() -> None:
    # a - b: -1, 0 (touch), -1 (back below), 0, +1 (through after a touch: a cross)
    assert cross([1, 2, 1, 2, 3], [2, 2, 2, 2, 2]) == [0, 0, 0, 0, 1]
    assert cross([3, 2, 3, 2, 1], [2, 2, 2, 2, 2]) == [0, 0, 0, 0, -1]


def test_crossover_first_valid_bar_never_crosses_and_nan_prefix_is_zero() -> None:
    nan = math.nan
    # The first valid difference is +1 after a NaN prefix: no cross on it, even though "before" looks negative.
    assert cross([nan, nan, 3, 1, 3], [nan, 2, 2, 2, 2]) == [0, 0, 0, -1, 1]
    assert cross([nan, 2, 3], [nan, 2, 2]) == [0, 0, 0]  # first valid difference is zero: seeds the state
    assert cross([nan, nan], [1, 1]) == [0, 0]
    assert cross([], []) == []


def test_crossover_at_a_zero_seed_then_through_is_not_a_cross() -> None:
    # The first valid difference is 0 and then it moves away: nothing was crossed.
    assert cross([2, 3, 1], [2, 2, 2]) == [0, 0, -1]


def test_crossover_of_price_and_sma_on_2006_day_has_backtraders_signal_count() -> None:
    """12 up and 12 down crosses of close vs SMA(15) drive backtrader's 12 buys and 11 sells."""
    signal = indicators.crossover(DAY.close, indicators.sma(DAY.close, 15))
    assert set(np.unique(signal)) <= {-1.0, 0.0, 1.0}
    assert signal[:15].tolist() == [0.0] * 15
    assert int((signal > 0).sum()) >= 12 and int((signal < 0).sum()) >= 11


# ------------------------------------------------------------------------------------------- causality
PREFIXES = [1, 2, 14, 15, 27, 34, 60, 133, 200, 254]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_strategy_indicators_over_a_prefix_equal_the_full_history(name) -> None:
    """Live computes over the growing window, a backtest over everything: they must agree bar for bar."""
    strategy_class = BUILTIN[name]
    series = load_bars(SP500_MINUTE, tz="America/New_York") if name == "opening_range_breakout" else DAY
    strategy = strategy_class(build_config(strategy_class, {}))
    full = strategy.indicators(series)
    assert full, f"{name} computes no indicators"
    for length in [*PREFIXES, len(series) // 2, len(series) - 1]:
        prefix = strategy.indicators(series.slice(0, length))
        for key, values in full.items():
            assert len(prefix[key]) == length
            np.testing.assert_array_equal(prefix[key], values[:length], err_msg=f"{name}.{key} at {length} bars")


@pytest.mark.parametrize(
    "compute",
    [
        lambda s: indicators.sma(s.close, 30),
        lambda s: indicators.ema(s.close, 30),
        lambda s: indicators.rsi(s.close, 14),
        lambda s: indicators.atr(s.high, s.low, s.close, 14),
        lambda s: indicators.adx(s.high, s.low, s.close, 14),
        lambda s: indicators.bollinger(s.close, 20, 2.0)[0],
        lambda s: indicators.macd(s.close)[1],
        lambda s: indicators.crossover(s.close, indicators.sma(s.close, 15)),
    ],
)
def test_each_indicator_over_a_prefix_equals_the_full_history(compute) -> None:
    full = compute(TALIB_REF)
    for length in (5, 30, 34, 100, 251):
        np.testing.assert_array_equal(compute(TALIB_REF.slice(0, length)), full[:length])
