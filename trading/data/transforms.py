"""Reshape real bar series: tile one for longer benchmarks, resample minute bars to coarser bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trading.data.bars import BarSeries

WEEK_NS = 7 * 24 * 3600 * 1_000_000_000


def tile_series(series: BarSeries, copies: int) -> BarSeries:
    """Repeat `series` end to end `copies` times, each copy shifted later by the same whole number of weeks.

    Whole weeks keep weekdays and intraday session times unchanged (in UTC), and the shift is longer than
    the series' span, so timestamps stay strictly increasing. Prices and volumes repeat exactly. Used to
    turn the 30,889-bar minute file into a ~120,000-bar real series for benchmarks (copies=4).
    """
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    if len(series) == 0:
        raise ValueError("cannot tile an empty series")
    span = int(series.ts[-1]) - int(series.ts[0])
    shift = (span // WEEK_NS + 1) * WEEK_NS
    offsets = np.repeat(np.arange(copies, dtype=np.int64) * shift, len(series))
    meta = dict(series.meta)
    meta.update(tiled_copies=copies, tile_shift_weeks=shift // WEEK_NS)
    return BarSeries(
        ts=np.tile(series.ts, copies) + offsets,
        open=np.tile(series.open, copies),
        high=np.tile(series.high, copies),
        low=np.tile(series.low, copies),
        close=np.tile(series.close, copies),
        volume=np.tile(series.volume, copies),
        source=series.source,
        meta=meta,
    )


def resample_bars(series: BarSeries, rule: str) -> BarSeries:
    """Aggregate to coarser bars with a pandas offset `rule` ("5min", "1h", "1D").

    Each output bar is stamped with its interval's open time (UTC bins, left-closed) and holds first open,
    max high, min low, last close and summed volume; intervals with no input bar are left out.
    """
    frame = series.to_frame()
    grouped = frame.resample(rule, closed="left", label="left")
    out = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
        }
    )
    out = out[out["open"].notna()]
    result = BarSeries.from_frame(out, source=series.source)
    result.meta.update(series.meta)
    result.meta["resampled"] = rule
    return result
