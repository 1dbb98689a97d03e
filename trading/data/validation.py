"""Bar validation shared by the file loaders (vectorized) and the live market-data path (one bar at a time).

A bad row gets one reason code, the first that applies in `REASONS` order. With ``on_bad_rows="raise"`` the
first bad row raises `DataError` naming the source, the row (file line, header = line 1) and the reason;
with ``"drop"`` every bad row is dropped and counted by reason in ``series.meta["dropped"]``.

Ordering is checked against the last *kept* bar: after dropping, timestamps are strictly increasing. A
single far-future timestamp therefore makes the bars after it `out_of_order` until time passes it; that is
deliberate (we never reorder a feed silently), and ``"raise"`` points at the first such line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from trading.data.bars import Bar, BarSeries, FloatArray, IntArray
from trading.errors import DataError

OnBadRows = Literal["raise", "drop"]

# Checked in this order; a row reports the first that applies.
REASONS = (
    "bad_timestamp",  # the date/time could not be parsed (or does not exist in the given time zone)
    "nan_price",  # a price is missing, NaN or infinite
    "nan_volume",  # the volume is NaN or infinite (a missing volume column is read as 0, not as NaN)
    "non_positive_price",
    "negative_volume",
    "high_below_low",
    "open_close_outside_range",  # open or close outside [low, high]
    "out_of_order",  # timestamp earlier than the previous kept bar
    "duplicate_ts",  # timestamp equal to the previous kept bar
)

NAT_NS = np.iinfo(np.int64).min  # pandas' integer value of NaT; marks an unparseable timestamp
_PRICES = ("open", "high", "low", "close")


@dataclass(frozen=True)
class RawBars:
    """Columns as parsed from a source, before validation.

    `ts` holds UTC nanoseconds, or `NAT_NS` where the timestamp could not be read. `rows` says where each row
    came from (the 1-based file line for CSV), `row_label` names that unit in messages ("line", "row",
    "candle", "bar"). `ts_text` keeps the raw timestamp field(s) per row, only to quote them in messages.
    """

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    rows: IntArray
    row_label: str = "line"
    ts_text: tuple[npt.NDArray[np.object_], ...] = ()
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadReport:
    """What validation did to one source: rows read, rows kept, and dropped rows counted by reason."""

    source: str
    rows_read: int
    rows_kept: int
    dropped: dict[str, int]

    @property
    def rows_dropped(self) -> int:
        return self.rows_read - self.rows_kept


def check_bar(bar: Bar, previous_ts: int | None) -> str | None:
    """Return the reason code why one live bar is bad, or None if it is good.

    `previous_ts` is the timestamp of the last accepted bar of the same instrument (None for the first bar).
    Same rules and codes as `validate_bars`, written with plain floats because it runs once per tick.
    """
    o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
    if not (math.isfinite(o) and math.isfinite(h) and math.isfinite(lo) and math.isfinite(c)):
        return "nan_price"
    if not math.isfinite(v):
        return "nan_volume"
    if o <= 0 or h <= 0 or lo <= 0 or c <= 0:
        return "non_positive_price"
    if v < 0:
        return "negative_volume"
    if h < lo:
        return "high_below_low"
    if not (lo <= o <= h and lo <= c <= h):
        return "open_close_outside_range"
    if previous_ts is not None:
        if bar.ts < previous_ts:
            return "out_of_order"
        if bar.ts == previous_ts:
            return "duplicate_ts"
    return None


def validate_bars(
    bars: RawBars | BarSeries | Sequence[Bar],
    *,
    on_bad_rows: OnBadRows = "raise",
    source: str | None = None,
) -> BarSeries:
    """Check bars; return a clean `BarSeries` with ``meta["rows_read"]``, ``["dropped"]`` and ``["report"]``.

    Accepts parsed file columns (`RawBars`, used by `load_bars`), a `BarSeries`, or a list of `Bar` from a
    live feed (rows are then numbered "bar 1", "bar 2", ...). ``meta["dropped"]`` maps reason code to count
    and lists only reasons that occurred. Raises `DataError` on the first bad row with "raise", and always
    when no usable row is left.
    """
    if on_bad_rows not in ("raise", "drop"):
        raise ValueError(f"on_bad_rows must be 'raise' or 'drop', not {on_bad_rows!r}")
    raw = _as_raw(bars, source)
    n = len(raw.ts)
    if n == 0:
        raise DataError(f"{_where(raw.source)}no data rows", source=raw.source, reason="empty")

    codes = _reason_codes(raw)
    bad = np.flatnonzero(codes)
    if len(bad) and on_bad_rows == "raise":
        i = int(bad[0])
        reason = REASONS[codes[i] - 1]
        row = int(raw.rows[i])
        message = f"{_where(raw.source)}{raw.row_label} {row}: {_describe(raw, i, reason)}"
        raise DataError(message, source=raw.source, row=row, reason=reason)

    keep = codes == 0
    counts = np.bincount(codes[bad], minlength=len(REASONS) + 1)
    dropped = {REASONS[k - 1]: int(counts[k]) for k in range(1, len(REASONS) + 1) if counts[k]}
    kept = int(keep.sum())
    if kept == 0:
        raise DataError(
            f"{_where(raw.source)}no usable rows: all {n} rows are bad {dropped}",
            source=raw.source,
            reason="no_usable_rows",
        )
    report = LoadReport(source=raw.source, rows_read=n, rows_kept=kept, dropped=dropped)
    meta = dict(raw.meta)
    meta.update(rows_read=n, dropped=dropped, report=report)
    # Fancy indexing copies; skip it when nothing was dropped (the common case on clean files).
    pick: slice | npt.NDArray[np.bool_] = slice(None) if kept == n else keep
    return BarSeries(
        ts=raw.ts[pick],
        open=raw.open[pick],
        high=raw.high[pick],
        low=raw.low[pick],
        close=raw.close[pick],
        volume=raw.volume[pick],
        source=raw.source,
        meta=meta,
    )


def _as_raw(bars: RawBars | BarSeries | Sequence[Bar], source: str | None) -> RawBars:
    if isinstance(bars, RawBars):
        return bars if source is None else replace(bars, source=source)
    series = bars if isinstance(bars, BarSeries) else BarSeries.from_bars(list(bars))
    return RawBars(
        ts=np.asarray(series.ts, dtype=np.int64),
        open=np.asarray(series.open, dtype=np.float64),
        high=np.asarray(series.high, dtype=np.float64),
        low=np.asarray(series.low, dtype=np.float64),
        close=np.asarray(series.close, dtype=np.float64),
        volume=np.asarray(series.volume, dtype=np.float64),
        rows=np.arange(1, len(series) + 1, dtype=np.int64),
        row_label="bar",
        source=series.source if source is None else source,
        meta=dict(series.meta),
    )


def _reason_codes(raw: RawBars) -> npt.NDArray[np.intp]:
    """Per row: 0 if good, else 1 + index into REASONS of the first failed check."""
    o, h, lo, c, v = raw.open, raw.high, raw.low, raw.close, raw.volume
    # Assign in reverse priority so that the highest-priority failure is written last and wins.
    with np.errstate(invalid="ignore"):
        checks = [
            raw.ts == NAT_NS,
            ~(np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)),
            ~np.isfinite(v),
            (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0),
            v < 0,
            h < lo,
            (o < lo) | (o > h) | (c < lo) | (c > h),
        ]
    codes = np.zeros(len(raw.ts), dtype=np.intp)
    for k in range(len(checks) - 1, -1, -1):
        codes[checks[k]] = k + 1

    # Ordering only among rows whose values are fine: a dropped row must not become the reference.
    good = np.flatnonzero(codes == 0)
    if len(good) > 1:
        t = raw.ts[good]
        previous_max = np.maximum.accumulate(t)[:-1]
        later = t[1:]
        codes[good[1:][later < previous_max]] = REASONS.index("out_of_order") + 1
        codes[good[1:][later == previous_max]] = REASONS.index("duplicate_ts") + 1
    return codes


def _describe(raw: RawBars, i: int, reason: str) -> str:
    """Human-readable detail for row i; only called for the one row that is reported."""
    values = {name: float(getattr(raw, name)[i]) for name in (*_PRICES, "volume")}
    o, h, lo, c, v = (values[k] for k in ("open", "high", "low", "close", "volume"))
    if reason == "bad_timestamp":
        text = " ".join(str(part[i]) for part in raw.ts_text) if raw.ts_text else "?"
        return f"unparseable timestamp {text!r} (or it does not exist in the given time zone)"
    if reason == "nan_price":
        name = next(k for k in _PRICES if not math.isfinite(values[k]))
        return f"{name} is missing or not a finite number ({values[name]})"
    if reason == "nan_volume":
        return f"volume is missing or not a finite number ({v})"
    if reason == "non_positive_price":
        name = next(k for k in _PRICES if values[k] <= 0)
        return f"{name} {_num(values[name])} is not positive"
    if reason == "negative_volume":
        return f"volume {_num(v)} is negative"
    if reason == "high_below_low":
        return f"high {_num(h)} below low {_num(lo)}"
    if reason == "open_close_outside_range":
        for name, x in (("open", o), ("close", c)):
            if x < lo:
                return f"{name} {_num(x)} below low {_num(lo)}"
            if x > h:
                return f"{name} {_num(x)} above high {_num(h)}"
    # Ordering: the reported row is the first bad one, so the previous kept bar is the row just before it.
    previous = _iso(int(raw.ts[i - 1])) if i > 0 else "?"
    if reason == "out_of_order":
        return f"timestamp {_iso(int(raw.ts[i]))} is before the previous bar's {previous}"
    return f"duplicate timestamp {_iso(int(raw.ts[i]))} (same as the previous bar)"


def _num(x: float) -> str:
    # repr gives the shortest text that round-trips, so "3.5" stays "3.5" and matches the file.
    return repr(x)


def _iso(ts: int) -> str:
    return pd.Timestamp(ts, unit="ns", tz="UTC").isoformat()


def _where(source: str) -> str:
    return f"{source} " if source else ""
