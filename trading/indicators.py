"""Indicators over whole arrays: TA-Lib where it has the indicator, numpy for the few it lacks.

Every function is causal (the value at bar i uses bars <= i only), so computing over a full history in a
backtest and over the growing live window give identical values at every bar.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import talib

FloatArray = npt.NDArray[np.float64]


def _f64(values: npt.ArrayLike) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def sma(close: npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average; `period=1` is the series itself."""
    series = _f64(close)
    if period == 1:
        return series.copy()
    return np.asarray(talib.SMA(series, timeperiod=period), dtype=np.float64)


def ema(close: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average seeded with the SMA of the first `period` values (TA-Lib's convention)."""
    series = _f64(close)
    if period == 1:
        return series.copy()
    return np.asarray(talib.EMA(series, timeperiod=period), dtype=np.float64)


def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    return np.asarray(talib.RSI(_f64(close), timeperiod=period), dtype=np.float64)


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    return np.asarray(talib.ATR(_f64(high), _f64(low), _f64(close), timeperiod=period), dtype=np.float64)


def bollinger(close: npt.ArrayLike, period: int = 20, width: float = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower) bands with population standard deviation, as TA-Lib and backtrader compute."""
    simple: Any = talib.MA_Type.SMA  # type: ignore[attr-defined]  # talib's stubs miss the re-export
    upper, middle, lower = talib.BBANDS(_f64(close), timeperiod=period, nbdevup=width, nbdevdn=width, matype=simple)
    return np.asarray(upper), np.asarray(middle), np.asarray(lower)


def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(macd, signal, histogram)."""
    line, sig, hist = talib.MACD(_f64(close), fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return np.asarray(line), np.asarray(sig), np.asarray(hist)


def adx(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14) -> FloatArray:
    return np.asarray(talib.ADX(_f64(high), _f64(low), _f64(close), timeperiod=period), dtype=np.float64)


def crossover(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """+1 where `a` crosses above `b`, -1 where it crosses below, else 0.

    A cross is judged against the last *non-zero* difference (backtrader's CrossOver): touching and
    bouncing back is not a cross; passing through after a touch is. The first valid bar never crosses.
    """
    diff = _f64(a) - _f64(b)
    valid = np.isfinite(diff)
    n = len(diff)
    positions = np.arange(n)
    # Index of the last valid non-zero difference at or before each bar (or the first valid one if all zero).
    nonzero_at = np.where(valid & (diff != 0), positions, -1)
    first_valid = int(np.argmax(valid)) if valid.any() else n
    if first_valid < n and nonzero_at[first_valid] < 0:
        nonzero_at[first_valid] = first_valid  # a zero first difference seeds the state with 0
    last_nonzero = np.maximum.accumulate(nonzero_at)
    nzd = np.where(last_nonzero >= 0, diff[np.clip(last_nonzero, 0, None)], np.nan)
    previous_nzd = np.empty(n)
    previous_nzd[:1] = np.nan  # a slice, so an empty window (a live start) works too
    previous_nzd[1:] = nzd[:-1]
    result = np.zeros(n)
    with np.errstate(invalid="ignore"):
        result[valid & (previous_nzd < 0) & (diff > 0)] = 1.0
        result[valid & (previous_nzd > 0) & (diff < 0)] = -1.0
    return result
