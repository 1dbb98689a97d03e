"""Performance statistics for backtest and paper runs, as pure functions over numpy arrays.

Statistics are analytics, so they are floats; money is booked in Decimal by the ledger, never here.
Timestamps are int nanoseconds since the epoch, UTC (the same convention as `trading.data.bars`).

Definitions (``r`` = per-bar returns, ``ppy`` = periods per year, ``N`` = closed trades):

- Returns are per-bar simple returns of the equity curve, ``r[i] = equity[i] / equity[i-1] - 1``.
  A bar whose previous equity is <= 0 has return 0: a blown-up account earns nothing, and this
  keeps a wiped-out curve from filling the series with inf and NaN.
- ``rf_per_period = (1 + risk_free_rate) ** (1 / ppy) - 1``: the annual rate compounded down to one bar.
- ``volatility_ann_pct = std(r, ddof=1) * sqrt(ppy) * 100``.
- ``sharpe = (mean(r) - rf_per_period) / std(r, ddof=1) * sqrt(ppy)``.
- ``sortino = (mean(r) - rf_per_period) / downside * sqrt(ppy)`` with
  ``downside = sqrt(mean(min(r - rf_per_period, 0) ** 2))``.
- ``cagr_pct = ((end / start) ** (1 / years) - 1) * 100`` with ``years`` the timestamp span in
  365.25-day years.
- ``calmar = cagr_pct / |max_drawdown_pct|``.
- Drawdown is the fraction below the running peak (``drawdown_series``, always <= 0).
  ``max_drawdown_pct`` is its minimum times 100 and ``max_drawdown_value`` the deepest
  ``equity - running peak`` in money; both are <= 0 and may come from different stretches.
- A drawdown stretch runs from a peak until equity is back at or above that peak, or until the
  end of the curve. ``max_drawdown_duration_bars`` is the longest stretch counted in bars and
  ``max_drawdown_duration_days`` the longest counted in calendar days (they may be different
  stretches when the curve has gaps such as weekends).
- ``win_rate_pct`` = share of closed trades with ``pnl > 0``; ``profit_factor`` = gross profit /
  gross loss (inf with no losing trade, 0 with no winning trade); ``expectancy`` = mean trade pnl
  (money); ``sqn = sqrt(N) * mean(pnl) / std(pnl, ddof=1)`` (Van Tharp).
- ``avg_trade``, ``best_trade`` and ``worst_trade`` are trade ``return_pct`` values (percent).
- ``exposure_pct = bars_in_market / bars * 100``; ``turnover = traded_notional / mean(equity)``.

Undefined values are NaN (``to_dict`` turns every non-finite value into None): fewer than two
returns for volatility/Sharpe/Sortino, no elapsed time for CAGR, no trades for the trade
statistics, fewer than two trades for SQN. A ratio whose risk term is exactly zero (flat curve:
std 0, no downside, no drawdown, identical trade pnls) is 0 rather than inf, so rankings and
averages over many runs stay finite. Profit factor is the one exception, because "no losing
trade" is the standard meaning of an infinite profit factor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from trading.errors import InvalidValue

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365.25
TRADING_DAYS_STOCKS = 252.0
TRADING_DAYS_24_7 = 365.0

# 24/7 data has 2/7 ~ 29% of its bars on Saturday/Sunday; exchange data has none, and futures or FX
# that open on Sunday evening UTC have a few percent. 10% separates the two cases cleanly.
_WEEKEND_BAR_SHARE = 0.10
# Median spacing above this means daily-or-slower bars even with holidays and data gaps.
_SLOWER_THAN_DAILY_DAYS = 1.5
# Below this a standard deviation is floating-point noise around a constant (e.g. a curve growing
# exactly 1% per bar), not risk; treating it as risk would produce astronomically large ratios.
_ZERO_STD = 1e-14


@dataclass(slots=True, unsafe_hash=True)
class TradeSummary:
    """One closed round trip, as the engine reports it. Immutable by convention (not frozen: one per trade)."""

    pnl: float  # net of fees, in account currency
    return_pct: float  # pnl / entry notional * 100
    bars_held: int
    fees: float


@dataclass(frozen=True)
class Statistics:
    """The performance summary of one run; see the module docstring for every definition."""

    total_return_pct: float
    cagr_pct: float
    volatility_ann_pct: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_pct: float
    max_drawdown_value: float
    max_drawdown_duration_bars: int
    max_drawdown_duration_days: float
    trades: int
    win_rate_pct: float
    profit_factor: float
    expectancy: float
    sqn: float
    avg_trade: float
    best_trade: float
    worst_trade: float
    avg_bars_held: float
    exposure_pct: float
    turnover: float
    fees_paid: float
    start_value: float
    end_value: float
    periods_per_year: float

    def to_dict(self) -> dict[str, float | int | None]:
        """Every field by name; NaN and inf become None so the result is strict JSON."""
        out: dict[str, float | int | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                out[f.name] = None
            else:
                out[f.name] = value
        return out


def drawdown_series(equity: npt.ArrayLike) -> FloatArray:
    """Fraction of each point below the running peak of `equity` (0 at a peak, always <= 0)."""
    eq = np.asarray(equity, dtype=np.float64)
    return _drawdown_from_peak(eq, np.maximum.accumulate(eq) if eq.size else eq)


def _drawdown_from_peak(eq: FloatArray, peak: FloatArray) -> FloatArray:
    # The running peak never falls, so peak[0] > 0 means every peak is positive: the fast path.
    if peak.size and peak[0] > 0:
        out = eq / peak
        out -= 1.0
    else:
        # A peak <= 0 has no meaningful fraction (dead or overdrawn account): report 0 there.
        out = np.zeros_like(eq)
        np.divide(eq, peak, out=out, where=peak > 0)
        out -= 1.0
        out[peak <= 0] = 0.0
    return out


def infer_periods_per_year(ts_ns: npt.ArrayLike) -> float:
    """Estimate bars per year from sorted UTC nanosecond timestamps.

    Intraday and daily bars: the median number of bars per distinct UTC date times 252 trading
    days, or 365 when the data trades on weekends (crypto). Median rather than mean so a partial
    first or last day, or a Sunday-evening futures session, does not skew the count.

    Slower bars: 365.25 / median spacing in calendar days (weekly -> 52.18, not 252/7 = 36,
    because the weekend days are inside the spacing). Fewer than two timestamps: 252.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    if ts.size < 2:
        return TRADING_DAYS_STOCKS
    median_days = float(np.median(np.diff(ts))) / NS_PER_DAY
    if median_days > _SLOWER_THAN_DAILY_DAYS:
        return DAYS_PER_YEAR / median_days

    # The timestamps are sorted, so each UTC date is one run of equal day numbers; working on the
    # runs (one per date) instead of the bars avoids np.unique, which would sort.
    days = ts // NS_PER_DAY
    starts = np.concatenate(([0], np.flatnonzero(days[1:] != days[:-1]) + 1))
    bars_per_date = np.diff(np.append(starts, ts.size))
    # 1970-01-01 was a Thursday: with Monday = 0, weekday = (day + 3) % 7; 5 and 6 are the weekend.
    weekend = (days[starts] + 3) % 7 >= 5
    weekend_share = float(bars_per_date[weekend].sum()) / ts.size
    trading_days = TRADING_DAYS_24_7 if weekend_share > _WEEKEND_BAR_SHARE else TRADING_DAYS_STOCKS
    return float(np.median(bars_per_date)) * trading_days


def _returns(eq: FloatArray) -> FloatArray:
    prev = eq[:-1]
    # Fast path without masks for the usual all-positive curve (masks cost allocations at 100k+ bars).
    if prev.size and float(prev.min()) > 0:
        out = eq[1:] / prev
        out -= 1.0
        return out
    out = np.zeros(prev.size, dtype=np.float64)
    np.divide(eq[1:], prev, out=out, where=prev > 0)
    out -= 1.0
    out[prev <= 0] = 0.0
    return out


def _cagr_pct(start: float, end: float, years: float) -> float:
    if not (years > 0 and start > 0):
        return math.nan
    if end <= 0:
        return -100.0
    # exp/log instead of float ** so a short, strong run overflows to inf instead of raising.
    growth = math.log(end / start) / years
    if growth > 700.0:
        return math.inf
    return (math.exp(growth) - 1.0) * 100.0


def _drawdown_durations(eq: FloatArray, peak: FloatArray, ts: IntArray) -> tuple[int, float]:
    """Longest stretch from a peak until a new (or equal) peak, or the end: (bars, days)."""
    if eq.size < 2:
        return 0, 0.0
    # Bars at their running peak, in order (bar 0 always is one). A stretch runs from one of them to
    # the next when there are underwater bars in between (gap > 1), and from the last one to the end.
    at_peak = np.flatnonzero(eq >= peak)
    last = int(at_peak[-1])
    inner = np.diff(at_peak) > 1
    starts = at_peak[:-1][inner]
    ends = at_peak[1:][inner]
    if last < eq.size - 1:
        starts = np.append(starts, last)
        ends = np.append(ends, eq.size - 1)
    if starts.size == 0:
        return 0, 0.0
    bars = int(np.max(ends - starts))
    days = float(np.max(ts[ends] - ts[starts])) / NS_PER_DAY
    return bars, days


def _trade_stats(trades: Sequence[TradeSummary]) -> dict[str, float]:
    n = len(trades)
    nan = math.nan
    if n == 0:
        return {
            "win_rate_pct": nan, "profit_factor": nan, "expectancy": nan, "sqn": nan,
            "avg_trade": nan, "best_trade": nan, "worst_trade": nan, "avg_bars_held": nan,
        }  # fmt: skip
    pnl = np.fromiter((t.pnl for t in trades), dtype=np.float64, count=n)
    ret = np.fromiter((t.return_pct for t in trades), dtype=np.float64, count=n)
    held = np.fromiter((t.bars_held for t in trades), dtype=np.float64, count=n)

    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    if gross_profit == 0:
        profit_factor = 0.0
    elif gross_loss == 0:
        profit_factor = math.inf
    else:
        profit_factor = gross_profit / gross_loss

    mean_pnl = float(pnl.mean())
    sqn = nan
    if n >= 2:
        std_pnl = float(pnl.std(ddof=1))
        sqn = 0.0 if std_pnl <= _ZERO_STD * max(1.0, abs(mean_pnl)) else math.sqrt(n) * mean_pnl / std_pnl

    return {
        "win_rate_pct": float(np.count_nonzero(pnl > 0)) / n * 100.0,
        "profit_factor": profit_factor,
        "expectancy": mean_pnl,
        "sqn": sqn,
        "avg_trade": float(ret.mean()),
        "best_trade": float(ret.max()),
        "worst_trade": float(ret.min()),
        "avg_bars_held": float(held.mean()),
    }


def compute_statistics(
    *,
    ts_ns: npt.ArrayLike,
    equity: npt.ArrayLike,
    trades: Sequence[TradeSummary],
    fees_paid: float,
    traded_notional: float,
    bars_in_market: int,
    periods_per_year: float | None = None,
    risk_free_rate: float = 0.0,
) -> Statistics:
    """Compute every statistic of one run from its equity curve and closed trades.

    `ts_ns` (sorted UTC ns) and `equity` have one point per bar. `periods_per_year` defaults to
    `infer_periods_per_year(ts_ns)`; `risk_free_rate` is annual (0.02 = 2%).
    Raises InvalidValue on mismatched lengths, non-finite equity or unsorted timestamps.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    if ts.ndim != 1 or eq.ndim != 1 or ts.size != eq.size:
        raise InvalidValue(f"ts_ns and equity must be 1-D and equally long, got {ts.shape} and {eq.shape}")
    if not np.all(np.isfinite(eq)):
        raise InvalidValue("equity contains NaN or inf")
    if ts.size > 1 and bool(np.any(ts[1:] < ts[:-1])):
        raise InvalidValue("ts_ns must be sorted ascending")
    ppy = infer_periods_per_year(ts) if periods_per_year is None else float(periods_per_year)
    if not (math.isfinite(ppy) and ppy > 0):
        raise InvalidValue(f"periods_per_year must be a positive number, got {periods_per_year}")

    n = int(eq.size)
    nan = math.nan
    start = float(eq[0]) if n else nan
    end = float(eq[-1]) if n else nan
    total_return_pct = (end / start - 1.0) * 100.0 if n and start > 0 else nan
    years = float(ts[-1] - ts[0]) / NS_PER_DAY / DAYS_PER_YEAR if n else 0.0
    cagr_pct = _cagr_pct(start, end, years)

    # Return-based risk ratios need at least two returns for a sample standard deviation.
    volatility_ann_pct = sharpe = sortino = nan
    if n >= 3:
        r = _returns(eq)
        rf = math.pow(1.0 + risk_free_rate, 1.0 / ppy) - 1.0
        excess_mean = float(r.mean()) - rf
        std = float(r.std(ddof=1))
        scale = math.sqrt(ppy)
        noise = _ZERO_STD * max(1.0, abs(excess_mean))
        volatility_ann_pct = std * scale * 100.0
        sharpe = 0.0 if std <= noise else excess_mean / std * scale
        shortfall = r - rf
        np.minimum(shortfall, 0.0, out=shortfall)
        # Not np.dot: that is a BLAS call, and OpenBLAS spins extra threads on long vectors, which steals
        # the other CPU from parallel sweep workers (measured: two workers ran no faster than one).
        downside = math.sqrt(float(np.mean(np.square(shortfall))))
        sortino = 0.0 if downside <= noise else excess_mean / downside * scale

    # The running peak is computed once and shared: it is the most expensive pass here.
    peak = np.maximum.accumulate(eq) if n else eq
    if n:
        max_drawdown_pct = float(_drawdown_from_peak(eq, peak).min()) * 100.0
        max_drawdown_value = float(np.min(eq - peak))
    else:
        max_drawdown_pct = max_drawdown_value = 0.0
    dd_bars, dd_days = _drawdown_durations(eq, peak, ts)
    calmar = nan if math.isnan(cagr_pct) else 0.0 if max_drawdown_pct == 0 else cagr_pct / abs(max_drawdown_pct)

    mean_equity = float(eq.mean()) if n else nan
    turnover = float(traded_notional) / mean_equity if n and mean_equity > 0 else nan
    exposure_pct = bars_in_market / n * 100.0 if n else nan

    t = _trade_stats(trades)
    return Statistics(
        total_return_pct=total_return_pct,
        cagr_pct=cagr_pct,
        volatility_ann_pct=volatility_ann_pct,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown_pct=max_drawdown_pct,
        max_drawdown_value=max_drawdown_value,
        max_drawdown_duration_bars=dd_bars,
        max_drawdown_duration_days=dd_days,
        trades=len(trades),
        win_rate_pct=t["win_rate_pct"],
        profit_factor=t["profit_factor"],
        expectancy=t["expectancy"],
        sqn=t["sqn"],
        avg_trade=t["avg_trade"],
        best_trade=t["best_trade"],
        worst_trade=t["worst_trade"],
        avg_bars_held=t["avg_bars_held"],
        exposure_pct=exposure_pct,
        turnover=turnover,
        fees_paid=float(fees_paid),
        start_value=start,
        end_value=end,
        periods_per_year=ppy,
    )


def _fmt(value: float, kind: str) -> str:
    """Format one value; `kind` is 'money', 'pct', 'ratio', 'count' or 'days'."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "pct":
        return f"{value:,.2f} %"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "days":
        return f"{value:,.1f} d"
    return f"{value:,.2f}"


def format_report(stats: Statistics) -> str:
    """A readable, aligned plain-text block of `stats` for the CLI."""
    s = stats
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("Returns", [
            ("Start value", _fmt(s.start_value, "money")),
            ("End value", _fmt(s.end_value, "money")),
            ("Total return", _fmt(s.total_return_pct, "pct")),
            ("CAGR", _fmt(s.cagr_pct, "pct")),
            ("Volatility (ann.)", _fmt(s.volatility_ann_pct, "pct")),
            ("Sharpe", _fmt(s.sharpe, "ratio")),
            ("Sortino", _fmt(s.sortino, "ratio")),
            ("Calmar", _fmt(s.calmar, "ratio")),
        ]),
        ("Drawdown", [
            ("Max drawdown", _fmt(s.max_drawdown_pct, "pct")),
            ("Max drawdown value", _fmt(s.max_drawdown_value, "money")),
            ("Longest drawdown (bars)", _fmt(s.max_drawdown_duration_bars, "count")),
            ("Longest drawdown (time)", _fmt(s.max_drawdown_duration_days, "days")),
        ]),
        ("Trades", [
            ("Trades", _fmt(s.trades, "count")),
            ("Win rate", _fmt(s.win_rate_pct, "pct")),
            ("Profit factor", _fmt(s.profit_factor, "ratio")),
            ("Expectancy", _fmt(s.expectancy, "money")),
            ("SQN", _fmt(s.sqn, "ratio")),
            ("Avg trade", _fmt(s.avg_trade, "pct")),
            ("Best trade", _fmt(s.best_trade, "pct")),
            ("Worst trade", _fmt(s.worst_trade, "pct")),
            ("Avg bars held", _fmt(s.avg_bars_held, "ratio")),
        ]),
        ("Activity", [
            ("Exposure", _fmt(s.exposure_pct, "pct")),
            ("Turnover", _fmt(s.turnover, "ratio")),
            ("Fees paid", _fmt(s.fees_paid, "money")),
            ("Periods per year", _fmt(s.periods_per_year, "ratio")),
        ]),
    ]  # fmt: skip
    rows = [row for _, section in sections for row in section]
    label_width = max(len(label) for label, _ in rows)
    # Right-align on the number: values without a unit get two spaces so digits line up with "x %".
    texts = [text if text.endswith(("%", "d")) else text + "  " for _, text in rows]
    value_width = max(len(text) for text in texts)
    lines: list[str] = []
    i = 0
    for title, section in sections:
        if lines:
            lines.append("")
        lines.append(title)
        for label, _ in section:
            lines.append(f"  {label:<{label_width}}  {texts[i]:>{value_width}}".rstrip())
            i += 1
    return "\n".join(lines)
