"""Model features from bars: one pure, causal function shared by the training pipeline and live strategies.

`build_features(bars, spec)` returns named float arrays as long as `bars`; the value at bar i uses bars <= i
only, so the feature table a model was trained on and the features a strategy computes on its live window
are produced by the same code. Every feature is scale-free (log returns, ratios, normalized TA-Lib values),
so instruments at different price levels can be pooled into one training table.

Most features look back a fixed number of bars (returns, rolling volatility, SMA ratios, Bollinger %b,
volume ratio) and so are the same on any window that holds that many bars before i. RSI and NATR use
Wilder smoothing, whose memory decays geometrically: `FeatureSpec.warmup_bars` is the history a window
needs before its values agree with a full-history computation to about 1e-9.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import talib
from pydantic import BaseModel, ConfigDict, Field, field_validator

from trading.data.bars import BarSeries

FloatArray = npt.NDArray[np.float64]

# Bump when the arithmetic of any feature changes: a model trained by older code then refuses to load.
FEATURE_CODE_VERSION = 1
# Wilder smoothing keeps (1 - 1/p)^n of a starting difference after n bars; 30 periods leave < 1e-9.
WILDER_WARMUP_PERIODS = 30
MINUTES_PER_DAY = 24 * 60


def _periods(value: tuple[int, ...], minimum: int) -> tuple[int, ...]:
    if any(p < minimum for p in value):
        raise ValueError(f"every period must be at least {minimum}, got {list(value)}")
    if len(set(value)) != len(value):
        raise ValueError(f"periods repeat: {list(value)}")
    return tuple(sorted(value))


class FeatureSpec(BaseModel):
    """Which features to compute. Two specs are equal exactly when they produce the same columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    returns: tuple[int, ...] = Field((1, 5, 15, 60), description="Log returns over these horizons (bars)")
    volatility: tuple[int, ...] = Field((15, 60), description="Rolling std of 1-bar log returns (TA-Lib STDDEV)")
    sma_ratio: tuple[int, ...] = Field((20, 60), description="close / SMA(close, n) - 1 (TA-Lib SMA)")
    rsi: tuple[int, ...] = Field((14,), description="TA-Lib RSI / 100 - 0.5")
    bollinger: tuple[int, ...] = Field((20,), description="Bollinger %b - 0.5 (2 std bands, TA-Lib BBANDS)")
    natr: tuple[int, ...] = Field((14,), description="TA-Lib NATR / 100 (ATR as a fraction of the close)")
    volume: tuple[int, ...] = Field((20,), description="log1p(volume) - log1p(SMA(volume, n))")
    bar_range: bool = Field(True, description="(high - low) / close of the bar")
    time_of_day: bool = Field(True, description="sin/cos of the bar's local time of day (intraday bars)")
    day_of_week: bool = Field(False, description="sin/cos of the bar's local weekday")
    timezone: str = Field("UTC", description="Time zone for the time-of-day and weekday features")

    _returns = field_validator("returns")(classmethod(lambda cls, v: _periods(v, 1)))
    _volatility = field_validator("volatility", "sma_ratio", "rsi", "bollinger", "natr", "volume")(
        classmethod(lambda cls, v: _periods(v, 2))
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            pd.Timestamp(0, tz=value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in model-input order."""
        names = [f"ret_{h}" for h in self.returns]
        names += [f"vol_{w}" for w in self.volatility]
        names += [f"sma_ratio_{w}" for w in self.sma_ratio]
        names += [f"rsi_{p}" for p in self.rsi]
        names += [f"bb_pctb_{p}" for p in self.bollinger]
        names += [f"natr_{p}" for p in self.natr]
        names += [f"volume_{w}" for w in self.volume]
        if self.bar_range:
            names.append("range")
        if self.time_of_day:
            names += ["tod_sin", "tod_cos"]
        if self.day_of_week:
            names += ["dow_sin", "dow_cos"]
        return tuple(names)

    @property
    def lookback_bars(self) -> int:
        """Index of the first bar at which every feature is defined (NaN before it)."""
        first = [*self.returns, *self.volatility, *self.rsi, *self.natr]
        first += [w - 1 for w in (*self.sma_ratio, *self.bollinger, *self.volume)]
        return max([0, *first])

    @property
    def warmup_bars(self) -> int:
        """History a live window needs for its features to equal the full-history ones (to ~1e-9)."""
        wilder = [WILDER_WARMUP_PERIODS * p for p in (*self.rsi, *self.natr)]
        return max([self.lookback_bars, *wilder])

    def describe(self) -> dict[str, Any]:
        """JSON form, with the feature code version (stored in model manifests)."""
        return {**self.model_dump(mode="json"), "code_version": FEATURE_CODE_VERSION}

    def differences(self, other: FeatureSpec) -> list[str]:
        """Human-readable `field: mine vs other` for every field that differs."""
        mine, theirs = self.model_dump(mode="json"), other.model_dump(mode="json")
        return [f"{key}: {mine[key]!r} vs {theirs[key]!r}" for key in mine if mine[key] != theirs[key]]


def _f64(values: npt.ArrayLike) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _log_returns(close: FloatArray, horizon: int) -> FloatArray:
    log_close = np.log(close)
    out = np.full(len(close), np.nan)
    if len(close) > horizon:
        out[horizon:] = log_close[horizon:] - log_close[:-horizon]
    return out


def _percent_b(close: FloatArray, period: int) -> FloatArray:
    simple: Any = talib.MA_Type.SMA  # type: ignore[attr-defined]  # talib's stubs miss the re-export
    upper, _, lower = talib.BBANDS(close, timeperiod=period, nbdevup=2.0, nbdevdn=2.0, matype=simple)
    width = np.asarray(upper) - np.asarray(lower)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(width > 0, (close - np.asarray(lower)) / width - 0.5, 0.0)
    return np.where(np.isnan(width), np.nan, pct)


def _clock(ts: npt.NDArray[np.int64], timezone: str) -> tuple[FloatArray, FloatArray]:
    """Local minute of the day and weekday (Monday 0) of each timestamp."""
    local = pd.DatetimeIndex(pd.to_datetime(ts, unit="ns", utc=True)).tz_convert(timezone)
    minutes = (local.hour * 60 + local.minute).to_numpy(dtype=np.float64)
    return minutes, local.day_of_week.to_numpy(dtype=np.float64)


def build_features(bars: BarSeries, spec: FeatureSpec) -> dict[str, FloatArray]:
    """Every feature of `spec` over `bars`, keyed by `spec.names`; NaN where a feature is not yet defined."""
    close, high, low = _f64(bars.close), _f64(bars.high), _f64(bars.low)
    volume = _f64(bars.volume)
    n = len(close)
    out: dict[str, FloatArray] = {}
    one_bar = _log_returns(close, 1)
    for h in spec.returns:
        out[f"ret_{h}"] = one_bar.copy() if h == 1 else _log_returns(close, h)
    for w in spec.volatility:
        out[f"vol_{w}"] = _ta(talib.STDDEV, n, one_bar, timeperiod=w, nbdev=1.0)
    for w in spec.sma_ratio:
        out[f"sma_ratio_{w}"] = close / _ta(talib.SMA, n, close, timeperiod=w) - 1.0
    for p in spec.rsi:
        out[f"rsi_{p}"] = _ta(talib.RSI, n, close, timeperiod=p) / 100.0 - 0.5
    for p in spec.bollinger:
        out[f"bb_pctb_{p}"] = _percent_b(close, p) if n else np.empty(0)
    for p in spec.natr:
        out[f"natr_{p}"] = _ta(talib.NATR, n, high, low, close, timeperiod=p) / 100.0
    log_volume = np.log1p(np.maximum(volume, 0.0))
    for w in spec.volume:
        out[f"volume_{w}"] = log_volume - np.log1p(np.maximum(_ta(talib.SMA, n, volume, timeperiod=w), 0.0))
    if spec.bar_range:
        out["range"] = (high - low) / close
    if spec.time_of_day or spec.day_of_week:
        minutes, weekday = _clock(bars.ts, spec.timezone)
        if spec.time_of_day:
            out["tod_sin"] = np.sin(2 * np.pi * minutes / MINUTES_PER_DAY)
            out["tod_cos"] = np.cos(2 * np.pi * minutes / MINUTES_PER_DAY)
        if spec.day_of_week:
            out["dow_sin"] = np.sin(2 * np.pi * weekday / 7)
            out["dow_cos"] = np.cos(2 * np.pi * weekday / 7)
    return {name: out[name] for name in spec.names}


def _ta(function: Any, n: int, *inputs: FloatArray, **params: Any) -> FloatArray:
    """A TA-Lib function; all-NaN when the window is shorter than its lookback (TA-Lib would raise on some)."""
    if n == 0:
        return np.empty(0)
    try:
        return np.asarray(function(*inputs, **params), dtype=np.float64)
    except Exception:
        if np.all(np.isnan(inputs[0])):  # TA-Lib rejects an all-NaN input ("inputs are all NaN")
            return np.full(n, np.nan)
        raise


def feature_matrix(features: dict[str, FloatArray], names: tuple[str, ...]) -> FloatArray:
    """Stack named feature arrays into an (n_bars, n_features) matrix in `names` order."""
    if not names:
        raise ValueError("no features to stack")
    return np.column_stack([features[name] for name in names]).astype(np.float64, copy=False)
