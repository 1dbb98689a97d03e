"""Load OHLCV bars from the file formats in data/ (CSV flavours, freqtrade JSON, Parquet) into a `BarSeries`.

Columns are always mapped by header name (case-insensitive), never by position: the S&P minute file is
ordered Date,Open,Close,High,Low,Volume. Extra columns (Adj Close, OpenInterest, dividend, split) are
ignored; Yahoo's Close is the as-traded price, Adj Close is not used. A missing volume column reads as 0.

Timestamps mark the bar's open time as written in the file. Naive timestamps are wall-clock time in `tz`
and are converted to UTC nanoseconds; timestamps with "Z" or an offset are used as given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from trading.data.bars import BarSeries, FloatArray, IntArray
from trading.data.validation import NAT_NS, LoadReport, OnBadRows, RawBars, validate_bars
from trading.errors import ConfigError, DataError

__all__ = ["FORMATS", "LoadReport", "detect_format", "load_bars"]

FORMATS = (
    "csv",  # one timestamp column (Date, Datetime, Timestamp or Time) plus named OHLCV columns
    "csv_date_time",  # separate Date and Time columns (backtrader 2006-min-005.txt)
    "csv_time_unnamed",  # header names 7 columns, rows have 8, Time unnamed (2006-01-02-volume-min-001.txt)
    "talib_idx",  # TA-Lib regression input: idx,open,high,low,close,volume and no dates
    "freqtrade_json",  # [[ms, open, high, low, close, volume], ...]
    "parquet",  # a DatetimeIndex or a timestamp column, plus named OHLCV columns
)

_TS_NAMES = ("date", "datetime", "timestamp", "time", "ts")
_PRICES = ("open", "high", "low", "close")
_UNNAMED_TIME_COLUMNS = ("date", "time", "open", "high", "low", "close", "volume", "openinterest")
# TA-Lib's regression data has no dates; we give row idx the idx-th business day from this Monday.
TALIB_FIRST_DAY = "2000-01-03"
_TIME_FIELD = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_US_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}")
_HAS_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def load_bars(
    path: str | Path,
    *,
    fmt: str | None = None,
    tz: str = "UTC",
    on_bad_rows: OnBadRows = "raise",
) -> BarSeries:
    """Load and validate one instrument's bars from `path`; `fmt` is one of `FORMATS` or None to detect.

    With ``on_bad_rows="raise"`` the first bad row raises `DataError` ("<path> line 17: high 3.5 below low
    3.9"); with ``"drop"`` bad rows are dropped and counted in ``series.meta["dropped"]`` (reason -> count),
    next to ``series.meta["rows_read"]`` and the full ``series.meta["report"]`` (`LoadReport`).
    Format "talib_idx" has no dates: row idx=k is dated the k-th business day after Monday 2000-01-03
    (midnight in `tz`), so the 252 rows span 2000-01-03 .. 2000-12-19.
    Any unreadable, empty or unrecognised file raises `DataError` with a one-line message.
    """
    source = str(path)
    _check_tz(tz)
    fmt = detect_format(path) if fmt is None else fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown fmt {fmt!r}; expected one of {', '.join(FORMATS)}")
    try:
        if fmt == "freqtrade_json":
            raw = _read_freqtrade_json(source)
        elif fmt == "parquet":
            raw = _read_parquet(source, tz)
        else:
            raw = _read_csv(source, fmt, tz)
    except OSError as exc:
        raise DataError(f"{source}: cannot read file: {exc.strerror or exc}", source=source) from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not a text file ({exc.reason})", source=source) from exc
    raw.meta["format"] = fmt
    return validate_bars(raw, on_bad_rows=on_bad_rows)


def detect_format(path: str | Path) -> str:
    """Name the format of `path` (one of `FORMATS`) from its first bytes and header line."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise DataError(f"{source}: cannot read file: {exc.strerror or exc}", source=source) from exc
    if not head.strip():
        raise DataError(f"{source}: empty file", source=source, reason="empty")
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith("["):
        return "freqtrade_json"

    lines = [line for line in text.splitlines() if line.strip()]
    header = _split(lines[0])
    names = [_norm(h) for h in header]
    first_row = _split(lines[1]) if len(lines) > 1 else []
    if "idx" in names and not set(names) & set(_TS_NAMES):
        return "talib_idx"
    # backtrader's volume file: "Date,Open,...,OpenInterest" over rows "2006-01-02,09:01:00,3602.00,...".
    if (
        len(first_row) == len(header) + 1
        and names[:1] == ["date"]
        and len(first_row) > 1
        and _TIME_FIELD.match(first_row[1])
    ):
        return "csv_time_unnamed"
    if "date" in names and "time" in names:
        return "csv_date_time"
    if set(names) & set(_TS_NAMES):
        return "csv"
    raise DataError(
        f"{source}: unknown format; header was {lines[0].strip()[:200]!r}",
        source=source,
        reason="unknown_format",
    )


def _read_csv(source: str, fmt: str, tz: str) -> RawBars:
    frame = _read_csv_frame(source, unnamed_time=fmt == "csv_time_unnamed")
    if frame.empty:
        raise DataError(f"{source}: no data rows", source=source, reason="empty")

    # Keep exact line numbers: blank lines were read as all-NaN rows, so drop them only now.
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame = frame.loc[~blank]
        lines = lines[~blank]
    if frame.empty:
        raise DataError(f"{source}: no data rows", source=source, reason="empty")

    _require_columns(source, frame, fmt)
    if fmt in ("csv_date_time", "csv_time_unnamed"):
        date, time = frame["date"].astype(str), frame["time"].astype(str)
        ts = _parse_timestamps(source, date + " " + time, tz)
        ts_text: tuple[npt.NDArray[np.object_], ...] = (_texts(frame["date"]), _texts(frame["time"]))
    elif fmt == "talib_idx":
        ts = _talib_dates(source, frame["idx"], tz)
        ts_text = (_texts(frame["idx"]),)
    else:
        column = next(name for name in _TS_NAMES if name in frame.columns)
        ts = _parse_timestamps(source, frame[column], tz)
        ts_text = (_texts(frame[column]),)
    return _raw(source, frame, ts, lines, row_label="line", ts_text=ts_text)


def _read_csv_frame(source: str, *, unnamed_time: bool) -> pd.DataFrame:
    """Read with the C parser; timestamp columns stay text so we parse (and quote) them ourselves."""
    # skip_blank_lines=False keeps frame row i on file line i + 2, for exact line numbers in messages.
    try:
        if unnamed_time:
            # The header names 7 columns over 8-field rows: skip it and name all 8 fields ourselves.
            return pd.read_csv(
                source,
                header=None,
                skiprows=1,
                names=list(_UNNAMED_TIME_COLUMNS),
                dtype={"date": str, "time": str},
                skip_blank_lines=False,
            )
        header = _split(_first_line(source))
        frame = pd.read_csv(source, dtype={h: str for h in header if _norm(h) in _TS_NAMES}, skip_blank_lines=False)
        if not isinstance(frame.index, pd.RangeIndex):
            # pandas silently turns the first field into the index when every row has one field too many.
            raise DataError(
                f"{source}: rows have more fields than the header's {len(header)} names "
                "(fmt='csv_time_unnamed' reads Date,Time,... under a header without Time)",
                source=source,
                reason="unknown_format",
            )
        frame.columns = pd.Index([_norm(str(c)) for c in frame.columns])
        return frame
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{source}: empty file", source=source, reason="empty") from exc
    except pd.errors.ParserError as exc:
        # pandas says e.g. "Expected 6 fields in line 17, saw 7"; keep its words, on one line.
        detail = str(exc).replace("\n", " ").strip()
        raise DataError(f"{source}: malformed CSV: {detail}", source=source, reason="malformed") from exc


def _read_freqtrade_json(source: str) -> RawBars:
    with open(source, encoding="utf-8") as f:
        try:
            candles = json.load(f)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: invalid JSON: {exc}", source=source, reason="malformed") from exc
    if not isinstance(candles, list) or not candles:
        raise DataError(f"{source}: no candles", source=source, reason="empty")
    try:
        # None becomes NaN here and is then reported as nan_price by validation.
        array = np.asarray(candles, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{source}: expected a list of [ms, open, high, low, close, volume] candles",
            source=source,
            reason="malformed",
        ) from exc
    if array.ndim != 2 or array.shape[1] < 6:
        raise DataError(
            f"{source}: expected [ms, open, high, low, close, volume] candles, got shape {array.shape}",
            source=source,
            reason="malformed",
        )
    ms = array[:, 0]
    readable = np.isfinite(ms)
    ts = np.full(len(ms), NAT_NS, dtype=np.int64)
    ts[readable] = ms[readable].astype(np.int64) * 1_000_000
    return RawBars(
        ts=ts,
        open=array[:, 1].copy(),
        high=array[:, 2].copy(),
        low=array[:, 3].copy(),
        close=array[:, 4].copy(),
        volume=array[:, 5].copy(),
        rows=np.arange(1, len(array) + 1, dtype=np.int64),
        row_label="candle",
        ts_text=(ms.astype(object),),
        source=source,
    )


def _read_parquet(source: str, tz: str) -> RawBars:
    try:
        frame = pd.read_parquet(source)
    except OSError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise DataError(f"{source}: cannot read Parquet: {exc}", source=source, reason="malformed") from exc
    frame.columns = pd.Index([_norm(str(c)) for c in frame.columns])
    if frame.empty:
        raise DataError(f"{source}: no data rows", source=source, reason="empty")
    if isinstance(frame.index, pd.DatetimeIndex):
        stamps: pd.Series | pd.DatetimeIndex = frame.index
        text = frame.index.astype(str).to_numpy(dtype=object)
    else:
        column = next((name for name in _TS_NAMES if name in frame.columns), None)
        if column is None:
            raise DataError(
                f"{source}: no DatetimeIndex and no timestamp column; columns were {list(frame.columns)}",
                source=source,
                reason="unknown_format",
            )
        stamps = frame[column]
        text = _texts(frame[column])
    _require_columns(source, frame, "parquet")
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    ts = _parse_timestamps(source, stamps, tz)
    return _raw(source, frame, ts, rows, row_label="row", ts_text=(text,))


def _raw(
    source: str,
    frame: pd.DataFrame,
    ts: IntArray,
    rows: IntArray,
    *,
    row_label: str,
    ts_text: tuple[npt.NDArray[np.object_], ...],
) -> RawBars:
    volume = _numbers(frame["volume"]) if "volume" in frame.columns else np.zeros(len(frame))
    return RawBars(
        ts=ts,
        open=_numbers(frame["open"]),
        high=_numbers(frame["high"]),
        low=_numbers(frame["low"]),
        close=_numbers(frame["close"]),
        volume=volume,
        rows=rows,
        row_label=row_label,
        ts_text=ts_text,
        source=source,
    )


def _parse_timestamps(source: str, values: pd.Series | pd.DatetimeIndex, tz: str) -> IntArray:
    """UTC ns per row, NAT_NS where unreadable. Vectorized: one pandas call for the whole column."""
    if isinstance(values, pd.DatetimeIndex) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.DatetimeIndex(values)
    else:
        text = values.astype(str)
        sample = _first_text(text)
        has_offset = bool(_HAS_OFFSET.search(sample))
        if _US_DATE.match(sample):
            # arch's files: M/D/YYYY, optionally followed by a time.
            fmt = {0: "%m/%d/%Y", 1: "%m/%d/%Y %H:%M"}.get(sample.count(":"), "%m/%d/%Y %H:%M:%S")
        else:
            fmt = "ISO8601"
        try:
            stamps = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce", utc=has_offset))
        except ValueError as exc:  # e.g. naive and offset-carrying timestamps mixed in one column
            raise DataError(f"{source}: cannot parse timestamps: {exc}", source=source, reason="bad_timestamp") from exc
    if stamps.tz is None:
        # Invalid wall-clock times (DST gaps and repeats) become NaT and are reported as bad_timestamp.
        stamps = stamps.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    ns = stamps.tz_convert("UTC").as_unit("ns").asi8
    return np.asarray(ns, dtype=np.int64)


def _talib_dates(source: str, idx: pd.Series, tz: str) -> IntArray:
    numbers = pd.to_numeric(idx, errors="coerce").to_numpy(dtype=np.float64)
    whole = np.isfinite(numbers) & (numbers == np.round(numbers))
    days = np.full(len(numbers), np.datetime64("NaT"), dtype="datetime64[D]")
    days[whole] = np.busday_offset(TALIB_FIRST_DAY, numbers[whole].astype(np.int64), roll="forward")
    return _parse_timestamps(source, pd.Series(days.astype("datetime64[ns]")), tz)


def _numbers(column: pd.Series) -> FloatArray:
    # The C parser already gave floats for clean columns; anything else ("abc", "") becomes NaN.
    if not pd.api.types.is_numeric_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _require_columns(source: str, frame: pd.DataFrame, fmt: str) -> None:
    missing = [name for name in _PRICES if name not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: format {fmt} needs columns {', '.join(missing)}; columns were {list(frame.columns)}",
            source=source,
            reason="unknown_format",
        )


def _check_tz(tz: str) -> None:
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except Exception as exc:  # zoneinfo and pytz raise different types for unknown zones
        raise ConfigError(f"unknown time zone {tz!r}", key="tz") from exc


def _first_line(source: str) -> str:
    with open(source, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                return line
    return ""


def _first_text(text: pd.Series) -> str:
    for value in text.head(100):
        stripped = str(value).strip()
        if stripped and stripped.lower() != "nan":
            return stripped
    return ""


def _texts(column: pd.Series) -> npt.NDArray[np.object_]:
    return np.asarray(column.to_numpy(dtype=object), dtype=object)


def _split(line: str) -> list[str]:
    return [field.strip().strip('"') for field in line.strip().split(",")]


def _norm(name: str) -> str:
    return name.strip().strip('"').lower()
