"""Market data loading: every shipped format, bad-row handling, live-bar checks, tiling and resampling.

Expected values are read from the data files themselves (csv/json modules), not typed in, except for a few
facts the data README states (255 daily bars, last close 4119.94).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading.data.bars import Bar, BarSeries
from trading.data.loaders import FORMATS, detect_format, load_bars
from trading.data.transforms import WEEK_NS, resample_bars, tile_series
from trading.data.validation import REASONS, LoadReport, check_bar, validate_bars
from trading.errors import ConfigError, DataError

DATA = Path(__file__).resolve().parents[2] / "data"
DAY = DATA / "backtrader" / "2006-day-001.txt"
MIN5 = DATA / "backtrader" / "2006-min-005.txt"
MIN1_VOLUME = DATA / "backtrader" / "2006-01-02-volume-min-001.txt"
ORCL = DATA / "backtrader" / "orcl-1995-2014.txt"
SP500_MINUTE = DATA / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
SPY = DATA / "mplfinance" / "yahoofinance-SPY-20080101-20180101.csv"
BTC_JSON = DATA / "freqtrade" / "UNITTEST_BTC-1m.json"
BTC_CSV = DATA / "freqtrade" / "UNITTEST_BTC-5m.csv"
TALIB = DATA / "talib" / "talib_regtest_ref_252.csv"
AAPL = DATA / "zipline" / "AAPL_daily_2012_2014.csv"
SP500_DAILY = DATA / "arch" / "sp500_1999_2018_daily.csv"

# file, detected format, data rows (= lines - 1); SPY is clean except for the two rows tested further down.
SHIPPED = [
    (DAY, "csv", 255),
    (MIN5, "csv_date_time", 2142),
    (MIN1_VOLUME, "csv_time_unnamed", 30889),
    (ORCL, "csv", 5036),
    (SP500_MINUTE, "csv", 1563),
    (SPY, "csv", 2519),
    (BTC_JSON, "freqtrade_json", 13681),
    (BTC_CSV, "csv", 5760),
    (TALIB, "talib_idx", 252),
    (AAPL, "csv", 754),
    (SP500_DAILY, "csv", 5031),
]
# Files with one named timestamp column whose first/last rows we can check generically with csv.DictReader.
NAMED_CSV = [DAY, ORCL, SP500_MINUTE, BTC_CSV, AAPL, SP500_DAILY]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k.lower(): v for k, v in row.items()} for row in csv.DictReader(f)]


def _utc_ns(text: str, tz: str = "UTC") -> int:
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize(tz) if stamp.tzinfo is None else stamp
    return int(stamp.tz_convert("UTC").as_unit("ns").value)


def _dates(series: BarSeries) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(series.to_frame().index)


def _assert_bar_matches(bar: Bar, row: dict[str, str]) -> None:
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        float(row["open"]),
        float(row["high"]),
        float(row["low"]),
        float(row["close"]),
        float(row["volume"]),
    )


# --- every shipped format -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "fmt", "rows"), SHIPPED, ids=lambda v: getattr(v, "name", str(v)))
def test_detect_format_names_the_format_of_every_shipped_file(path: Path, fmt: str, rows: int) -> None:
    assert detect_format(path) == fmt
    assert fmt in FORMATS


@pytest.mark.parametrize(("path", "fmt", "rows"), SHIPPED, ids=lambda v: getattr(v, "name", str(v)))
def test_every_shipped_file_loads_every_row_it_has(path: Path, fmt: str, rows: int) -> None:
    series = load_bars(path, on_bad_rows="drop")
    assert series.meta["rows_read"] == rows
    assert series.meta["format"] == fmt
    dropped = series.meta["dropped"]
    assert isinstance(dropped, dict)
    assert len(series) == rows - sum(dropped.values())
    assert np.all(np.diff(series.ts) > 0)
    assert series.source == str(path)


@pytest.mark.parametrize("path", NAMED_CSV, ids=lambda p: p.name)
def test_first_and_last_bar_equal_the_first_and_last_rows_of_the_file(path: Path) -> None:
    rows = _csv_rows(path)
    series = load_bars(path)
    assert len(series) == len(rows)
    for bar, row in ((series.bar(0), rows[0]), (series.bar(len(series) - 1), rows[-1])):
        _assert_bar_matches(bar, row)
        assert bar.ts == _utc_ns(row["date"])


def test_2006_daily_file_gives_255_bars_and_last_close_4119_94() -> None:
    series = load_bars(DAY)
    assert len(series) == 255
    assert series.close[-1] == 4119.94
    assert series.ts[0] == _utc_ns("2006-01-02")


def test_load_minute_file_with_date_and_time_in_two_columns() -> None:
    rows = _csv_rows(MIN5)
    series = load_bars(MIN5)
    assert len(series) == 2142
    for bar, row in ((series.bar(0), rows[0]), (series.bar(2141), rows[-1])):
        _assert_bar_matches(bar, row)
        assert bar.ts == _utc_ns(f"{row['date']} {row['time']}")


def test_load_minute_file_with_7_named_columns_and_8_fields() -> None:
    with open(MIN1_VOLUME, newline="") as f:
        lines = list(csv.reader(f))
    assert len(lines[0]) == 7 and len(lines[1]) == 8  # the quirk this format exists for
    series = load_bars(MIN1_VOLUME)
    assert len(series) == 30889
    for bar, fields in ((series.bar(0), lines[1]), (series.bar(30888), lines[-1])):
        date, hhmmss, o, h, lo, c, v, _open_interest = fields
        assert bar.ts == _utc_ns(f"{date} {hhmmss}")
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(map(float, (o, h, lo, c, v)))
    # 41 sessions of 09:01-22:00 per the data README.
    days = _dates(series).normalize().unique()
    assert len(days) == 41
    assert series.volume.sum() > 0


def test_minute_file_with_an_unnamed_field_is_refused_as_plain_csv() -> None:
    # pandas would silently shift every column by one; we refuse instead.
    with pytest.raises(DataError, match="more fields than the header's 7 names"):
        load_bars(MIN1_VOLUME, fmt="csv")


def test_sp500_minute_columns_are_mapped_by_header_name_not_position() -> None:
    with open(SP500_MINUTE) as f:
        assert f.readline().strip() == "Date,Open,Close,High,Low,Volume"
    series = load_bars(SP500_MINUTE)
    # File row 2019-11-05 09:30:00: Open 3080.8, Close 3080.49, High 3081.47, Low 3080.3.
    first = series.bar(0)
    assert (first.open, first.high, first.low, first.close) == (3080.8, 3081.47, 3080.3, 3080.49)
    assert first.high >= max(first.open, first.close)
    assert np.all(series.high >= np.maximum(series.open, series.close))
    assert np.all(series.low <= np.minimum(series.open, series.close))


def test_naive_timestamps_are_wall_clock_in_tz_and_stored_as_utc_ns() -> None:
    series = load_bars(SP500_MINUTE, tz="America/New_York")
    # 09:30 New York in November (EST, UTC-5) is 14:30 UTC: the bar's open time as written in the file.
    assert series.ts[0] == _utc_ns("2019-11-05 14:30:00")
    assert series.ts.dtype == np.int64


def test_timestamps_with_z_suffix_ignore_tz() -> None:
    as_utc = load_bars(BTC_CSV)
    as_new_york = load_bars(BTC_CSV, tz="America/New_York")
    assert np.array_equal(as_utc.ts, as_new_york.ts)
    assert as_utc.ts[0] == _utc_ns("2018-01-10T04:55:00Z")


def test_freqtrade_json_candles_load_with_millisecond_timestamps() -> None:
    candles = json.loads(BTC_JSON.read_text())
    series = load_bars(BTC_JSON)
    assert len(series) == len(candles) == 13681
    for bar, candle in ((series.bar(0), candles[0]), (series.bar(len(series) - 1), candles[-1])):
        assert bar.ts == candle[0] * 1_000_000
        assert [bar.open, bar.high, bar.low, bar.close, bar.volume] == candle[1:6]


def test_arch_month_day_year_dates_are_read_month_first() -> None:
    series = load_bars(SP500_DAILY)
    assert series.ts[0] == _utc_ns("1999-01-04")  # file says 1/4/1999
    assert series.ts[-1] == _utc_ns("2018-12-31")


def test_zipline_file_ignores_dividend_and_split_columns() -> None:
    rows = _csv_rows(AAPL)
    split_row = next(i for i, row in enumerate(rows) if float(row["split"]) != 1.0)
    series = load_bars(AAPL)
    # Prices are as written; the split row is an ordinary bar, not adjusted by the loader.
    _assert_bar_matches(series.bar(split_row), rows[split_row])
    assert series.ts[split_row] == _utc_ns("2014-06-09")


def test_yahoo_close_is_the_file_close_not_adj_close() -> None:
    rows = _csv_rows(ORCL)
    series = load_bars(ORCL)
    assert series.close[0] == float(rows[0]["close"]) != float(rows[0]["adj close"])


def test_talib_regtest_file_gets_consecutive_business_days_from_2000_01_03() -> None:
    rows = _csv_rows(TALIB)
    series = load_bars(TALIB)
    assert len(series) == 252
    dates = _dates(series)
    assert dates[0] == pd.Timestamp("2000-01-03", tz="UTC")
    assert list(dates) == list(pd.bdate_range("2000-01-03", periods=252, tz="UTC"))
    _assert_bar_matches(series.bar(0), rows[0])
    _assert_bar_matches(series.bar(251), rows[-1])


def test_parquet_loads_from_a_datetime_index_or_a_timestamp_column(tmp_path: Path) -> None:
    series = load_bars(DAY)
    frame = series.to_frame()
    indexed, with_column = tmp_path / "indexed.parquet", tmp_path / "column.parquet"
    frame.to_parquet(indexed)
    frame.reset_index().rename(columns={"ts": "timestamp"}).to_parquet(with_column)
    for path in (indexed, with_column):
        assert detect_format(path) == "parquet"
        loaded = load_bars(path)
        assert np.array_equal(loaded.ts, series.ts)
        assert np.array_equal(loaded.close, series.close)
        assert loaded.meta["format"] == "parquet"


def test_naive_parquet_index_is_localized_with_tz(tmp_path: Path) -> None:
    frame = load_bars(DAY).to_frame()
    frame.index = _dates(load_bars(DAY)).tz_localize(None)
    path = tmp_path / "naive.parquet"
    frame.to_parquet(path)
    loaded = load_bars(path, tz="Europe/Berlin")
    assert loaded.ts[0] == _utc_ns("2006-01-02", tz="Europe/Berlin")


def test_a_120k_row_tiled_minute_file_round_trips_through_csv(tmp_path: Path) -> None:
    tiled = tile_series(load_bars(MIN1_VOLUME), 4)
    frame, dates = tiled.to_frame(), _dates(tiled)
    out = pd.DataFrame(
        {
            "Date": dates.strftime("%Y-%m-%d"),
            "Time": dates.strftime("%H:%M:%S"),
            "Open": frame["open"].to_numpy(),
            "High": frame["high"].to_numpy(),
            "Low": frame["low"].to_numpy(),
            "Close": frame["close"].to_numpy(),
            "Volume": frame["volume"].to_numpy(),
        }
    )
    path = tmp_path / "big.csv"
    out.to_csv(path, index=False)
    series = load_bars(path)
    assert len(series) == 123_556
    assert np.array_equal(series.ts, tiled.ts)
    assert np.array_equal(series.close, tiled.close)


# --- bad rows ---------------------------------------------------------------------------------------------

# Small files derived from the first real rows of 2006-day-001.txt; one line is broken per case.
DAY_LINES = DAY.read_text().splitlines()[:6]  # header + 5 rows: lines 1..6
# Line 3 is "2006-01-03,3604.08,3638.42,3601.84,3614.34,0,0".
BAD_LINE_3 = [
    ("nan_price", "2006-01-03,nan,3638.42,3601.84,3614.34,0,0", "open is missing or not a finite number"),
    ("nan_price", "2006-01-03,3604.08,,3601.84,3614.34,0,0", "high is missing or not a finite number"),
    ("nan_price", "2006-01-03,3604.08,3638.42,3601.84,inf,0,0", "close is missing or not a finite number"),
    ("nan_price", "2006-01-03,3604.08,3638.42,abc,3614.34,0,0", "low is missing or not a finite number"),
    ("nan_volume", "2006-01-03,3604.08,3638.42,3601.84,3614.34,,0", "volume is missing or not a finite"),
    ("non_positive_price", "2006-01-03,3604.08,3638.42,0,3614.34,0,0", "low 0.0 is not positive"),
    (
        "non_positive_price",
        "2006-01-03,-3604.08,3638.42,3601.84,3614.34,0,0",
        "open -3604.08 is not positive",
    ),
    ("negative_volume", "2006-01-03,3604.08,3638.42,3601.84,3614.34,-5,0", "volume -5.0 is negative"),
    ("high_below_low", "2006-01-03,3604.08,3601.84,3638.42,3614.34,0,0", "high 3601.84 below low 3638.42"),
    ("open_close_outside_range", "2006-01-03,3640.0,3638.42,3601.84,3614.34,0,0", "open 3640.0 above high"),
    ("open_close_outside_range", "2006-01-03,3604.08,3638.42,3601.84,3600.0,0,0", "close 3600.0 below low"),
    ("bad_timestamp", "2006-13-45,3604.08,3638.42,3601.84,3614.34,0,0", "unparseable timestamp '2006-13-45'"),
    ("bad_timestamp", "yesterday,3604.08,3638.42,3601.84,3614.34,0,0", "unparseable timestamp 'yesterday'"),
    ("out_of_order", "2006-01-01,3604.08,3638.42,3601.84,3614.34,0,0", "is before the previous bar's"),
    ("duplicate_ts", "2006-01-02,3604.08,3638.42,3601.84,3614.34,0,0", "duplicate timestamp 2006-01-02"),
]


def _write(tmp_path: Path, lines: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("reason", "line", "detail"), BAD_LINE_3, ids=[c[0] for c in BAD_LINE_3])
def test_bad_row_raises_data_error_naming_file_line_and_reason(
    tmp_path: Path, reason: str, line: str, detail: str
) -> None:
    path = _write(tmp_path, [*DAY_LINES[:2], line, *DAY_LINES[3:]])
    with pytest.raises(DataError) as info:
        load_bars(path)
    message = str(info.value)
    assert message.startswith(f"{path} line 3: ")
    assert detail in message
    assert "\n" not in message
    assert (info.value.source, info.value.row, info.value.reason) == (str(path), 3, reason)


@pytest.mark.parametrize(("reason", "line", "detail"), BAD_LINE_3, ids=[c[0] for c in BAD_LINE_3])
def test_bad_row_is_dropped_and_counted_by_reason(
    tmp_path: Path, reason: str, line: str, detail: str
) -> None:
    path = _write(tmp_path, [*DAY_LINES[:2], line, *DAY_LINES[3:]])
    series = load_bars(path, on_bad_rows="drop")
    assert len(series) == 4
    assert series.meta["rows_read"] == 5
    assert series.meta["dropped"] == {reason: 1}
    report = series.meta["report"]
    assert isinstance(report, LoadReport)
    assert (report.rows_read, report.rows_kept, report.rows_dropped) == (5, 4, 1)
    assert np.all(np.diff(series.ts) > 0)
    assert series.close[0] == 3604.33  # line 2 kept as is


def test_real_spy_file_has_two_rows_with_open_below_low(tmp_path: Path) -> None:
    # Yahoo's SPY data really has these: 2015-03-05 (line 1808) and 2015-03-30 (line 1825).
    with pytest.raises(DataError, match=r"SPY-20080101-20180101\.csv line 1808: open 209\.419998 below low"):
        load_bars(SPY)
    series = load_bars(SPY, on_bad_rows="drop")
    assert series.meta["dropped"] == {"open_close_outside_range": 2}
    assert len(series) == 2517
    assert _utc_ns("2015-03-05") not in set(series.ts.tolist())


def test_row_swapped_with_its_neighbour_is_out_of_order(tmp_path: Path) -> None:
    lines = [DAY_LINES[0], DAY_LINES[1], DAY_LINES[3], DAY_LINES[2], DAY_LINES[4]]
    path = _write(tmp_path, lines)
    with pytest.raises(DataError, match=r"line 4: timestamp 2006-01-03T00:00:00\+00:00 is before") as info:
        load_bars(path)
    assert info.value.reason == "out_of_order"
    series = load_bars(path, on_bad_rows="drop")
    assert series.meta["dropped"] == {"out_of_order": 1}
    assert _dates(series).strftime("%Y-%m-%d").tolist() == ["2006-01-02", "2006-01-04", "2006-01-05"]


def test_repeated_row_is_a_duplicate_timestamp_and_the_first_copy_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path, [*DAY_LINES[:3], DAY_LINES[2], *DAY_LINES[3:]])
    with pytest.raises(DataError, match="line 4: duplicate timestamp") as info:
        load_bars(path)
    assert info.value.reason == "duplicate_ts"
    series = load_bars(path, on_bad_rows="drop")
    assert len(series) == 5
    assert series.meta["dropped"] == {"duplicate_ts": 1}


def test_drop_counts_every_reason_in_one_file(tmp_path: Path) -> None:
    bad = {line: reason for reason, line, _ in BAD_LINE_3}
    lines = [DAY_LINES[0], DAY_LINES[1], *bad, *DAY_LINES[2:]]
    # The out-of-order and duplicate rows only count as such relative to line 2 (2006-01-02).
    series = load_bars(_write(tmp_path, lines), on_bad_rows="drop")
    expected: dict[str, int] = {}
    for reason in bad.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert series.meta["dropped"] == expected
    assert len(series) == 5
    assert set(expected) == set(REASONS)  # every reason code is exercised by BAD_LINE_3


def test_raise_reports_the_first_bad_line_in_file_order(tmp_path: Path) -> None:
    lines = [*DAY_LINES[:3], BAD_LINE_3[8][1].replace("2006-01-03", "2006-01-04"), BAD_LINE_3[0][1]]
    with pytest.raises(DataError) as info:
        load_bars(_write(tmp_path, lines))
    assert (info.value.row, info.value.reason) == (4, "high_below_low")


def test_blank_lines_are_skipped_without_shifting_line_numbers(tmp_path: Path) -> None:
    bad = BAD_LINE_3[8][1].replace("2006-01-03", "2006-01-09")
    path = _write(tmp_path, [*DAY_LINES, "", "", bad])
    with pytest.raises(DataError, match=r"line 9: high 3601\.84 below low 3638\.42"):
        load_bars(path)
    assert len(load_bars(_write(tmp_path, [*DAY_LINES, ""], "ok.csv"))) == 5


def test_bad_row_in_the_minute_file_format_reports_its_line(tmp_path: Path) -> None:
    lines = MIN1_VOLUME.read_text().splitlines()[:20]
    date, hhmmss, o, h, lo, c, v, oi = lines[16].split(",")
    lines[16] = ",".join([date, hhmmss, o, lo, h, c, v, oi])  # line 17: high and low swapped
    path = _write(tmp_path, lines)
    assert detect_format(path) == "csv_time_unnamed"
    with pytest.raises(DataError, match=rf"line 17: high {float(lo)!r} below low {float(h)!r}"):
        load_bars(path)


def test_bad_candle_in_freqtrade_json_is_numbered_from_1(tmp_path: Path) -> None:
    candles = json.loads(BTC_JSON.read_text())[:10]
    candles[4][4] = None  # close missing
    path = tmp_path / "candles.json"
    path.write_text(json.dumps(candles))
    with pytest.raises(DataError, match=r"candles\.json candle 5: close is missing") as info:
        load_bars(path)
    assert info.value.reason == "nan_price"
    assert load_bars(path, on_bad_rows="drop").meta["dropped"] == {"nan_price": 1}


def test_dst_gap_wall_clock_time_is_a_bad_timestamp(tmp_path: Path) -> None:
    lines = [
        "Date,Open,High,Low,Close,Volume",
        "2019-03-10 01:59:00,1,1,1,1,1",
        "2019-03-10 02:30:00,1,1,1,1,1",
    ]
    with pytest.raises(DataError, match="line 3: unparseable timestamp '2019-03-10 02:30:00'"):
        load_bars(_write(tmp_path, lines), tz="America/New_York")
    assert len(load_bars(_write(tmp_path, lines), tz="UTC")) == 2


# --- unusable files ---------------------------------------------------------------------------------------


def test_missing_file_raises_one_line_data_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        load_bars(path)
    assert str(info.value).startswith(f"{path}: cannot read file")
    assert "\n" not in str(info.value)


def test_directory_instead_of_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read file"):
        load_bars(tmp_path, fmt="csv")


def test_empty_file_raises_data_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_bars(path)


def test_header_only_file_raises_no_data_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        load_bars(_write(tmp_path, DAY_LINES[:1]))


def test_file_where_every_row_is_bad_raises_no_usable_rows_even_with_drop(tmp_path: Path) -> None:
    path = _write(tmp_path, [DAY_LINES[0], BAD_LINE_3[0][1], BAD_LINE_3[5][1]])
    with pytest.raises(DataError, match="no usable rows") as info:
        load_bars(path, on_bad_rows="drop")
    assert info.value.reason == "no_usable_rows"


def test_unknown_format_names_the_header_it_saw(tmp_path: Path) -> None:
    path = _write(tmp_path, ["symbol,price,qty", "AAPL,1,2"])
    with pytest.raises(DataError, match=r"unknown format; header was 'symbol,price,qty'"):
        load_bars(path)


def test_missing_price_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, ["Date,Open,High,Close,Volume", "2006-01-02,3578.73,3605.95,3604.33,0"])
    with pytest.raises(DataError, match="needs columns low"):
        load_bars(path)


def test_invalid_json_raises_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[[1509836520000, 0.1, 0.1")
    with pytest.raises(DataError, match="invalid JSON"):
        load_bars(path)


def test_binary_file_given_as_csv_raises_data_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"Date,Open,High,Low,Close\n\xff\xfe\x00\x81,1,1,1,1\n")
    with pytest.raises(DataError):
        load_bars(path)


def test_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_bars(DAY, tz="Mars/Olympus")


def test_unknown_fmt_and_on_bad_rows_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fmt"):
        load_bars(DAY, fmt="excel")
    with pytest.raises(ValueError, match="on_bad_rows"):
        load_bars(DAY, on_bad_rows="ignore")  # type: ignore[arg-type]


# --- live bars --------------------------------------------------------------------------------------------


def _live_bars() -> list[Bar]:
    return list(load_bars(MIN1_VOLUME).slice(0, 5).bars())


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "" and "abc" arrive as NaN from a parser too
        return float("nan")


# A live Bar always carries an int timestamp, so bad_timestamp cannot happen on the live path.
LIVE_CASES = [case for case in BAD_LINE_3 if case[0] != "bad_timestamp"]


@pytest.mark.parametrize(("reason", "line", "detail"), LIVE_CASES, ids=[c[0] for c in LIVE_CASES])
def test_check_bar_gives_the_same_reason_as_file_validation(reason: str, line: str, detail: str) -> None:
    date, o, h, lo, c, v, _open_interest = line.split(",")
    bar = Bar(_utc_ns(date), _number(o), _number(h), _number(lo), _number(c), _number(v))
    # The previous accepted bar is line 2 of the file cases: 2006-01-02.
    assert check_bar(bar, _utc_ns("2006-01-02")) == reason


def test_check_bar_accepts_real_bars_in_sequence() -> None:
    previous: int | None = None
    for bar in load_bars(MIN1_VOLUME).slice(0, 500).bars():
        assert check_bar(bar, previous) is None
        previous = bar.ts


def test_validate_bars_accepts_a_list_of_live_bars_and_numbers_them_from_1() -> None:
    bars = _live_bars()
    bars.insert(3, bars[2])
    with pytest.raises(DataError, match=r"^feed bar 4: duplicate timestamp"):
        validate_bars(bars, source="feed")
    clean = validate_bars(bars, on_bad_rows="drop")
    assert len(clean) == 5
    assert clean.meta["dropped"] == {"duplicate_ts": 1}


def test_validate_bars_rechecks_a_bar_series() -> None:
    series = load_bars(DAY)
    broken = BarSeries(
        series.ts[::-1].copy(),
        series.open,
        series.high,
        series.low,
        series.close,
        series.volume,
        source="rev",
    )
    with pytest.raises(DataError, match=r"rev bar 2: timestamp .* is before") as info:
        validate_bars(broken)
    assert info.value.row == 2
    assert len(validate_bars(series)) == 255


# --- transforms -------------------------------------------------------------------------------------------


def test_tile_series_repeats_prices_and_shifts_each_copy_by_whole_weeks() -> None:
    series = load_bars(MIN1_VOLUME)
    tiled = tile_series(series, 4)
    n = len(series)
    assert len(tiled) == 4 * n == 123_556
    assert np.all(np.diff(tiled.ts) > 0)
    for k in range(4):
        part = tiled.slice(k * n, (k + 1) * n)
        for name in ("open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(part, name), getattr(series, name))
        shift = part.ts - series.ts
        assert np.all(shift == shift[0])
        assert shift[0] % WEEK_NS == 0
    second_copy, original = _dates(tiled)[n : 2 * n], _dates(series)
    assert list(second_copy.day_of_week) == list(original.day_of_week)
    assert list(second_copy.time) == list(original.time)


def test_tile_series_with_one_copy_is_the_series_and_zero_copies_is_refused() -> None:
    series = load_bars(DAY)
    assert np.array_equal(tile_series(series, 1).ts, series.ts)
    with pytest.raises(ValueError, match="copies"):
        tile_series(series, 0)


def test_resampling_real_5_minute_bars_to_days_matches_the_real_daily_file() -> None:
    daily = resample_bars(load_bars(MIN5), "1D").to_frame()
    reference = load_bars(DAY).to_frame().loc[daily.index]
    assert len(daily) == 21  # trading days in 2006-01-02 .. 2006-01-30
    for name in ("open", "low", "close"):
        assert np.array_equal(daily[name].to_numpy(), reference[name].to_numpy())
    # The two vendors' daily highs differ on one day by 0.47 points; they agree within 0.02%.
    assert np.allclose(daily["high"], reference["high"], rtol=2e-4)


def test_resample_aggregates_ohlcv_and_leaves_out_empty_intervals() -> None:
    minute = load_bars(MIN1_VOLUME)
    hourly = resample_bars(minute, "1h")
    frame = minute.to_frame()
    first_hour = frame[frame.index < pd.Timestamp("2006-01-02 10:00", tz="UTC")]
    bar = hourly.bar(0)
    assert bar.ts == _utc_ns("2006-01-02 09:00")
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        first_hour["open"].iloc[0],
        first_hour["high"].max(),
        first_hour["low"].min(),
        first_hour["close"].iloc[-1],
        first_hour["volume"].sum(),
    )
    # No overnight or weekend bars: 41 sessions of 09:01-22:00 give at most 14 hourly bars each.
    assert len(hourly) <= 41 * 14
    assert np.all(hourly.volume > 0)
