"""Performance statistics: hand-computed curves, independent reference computations, edge cases."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from trading.errors import InvalidValue
from trading.stats import (
    Statistics,
    TradeSummary,
    compute_statistics,
    drawdown_series,
    format_report,
    infer_periods_per_year,
)

NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_MIN = 60 * 1_000_000_000
MONDAY = np.datetime64("2024-01-01", "ns").astype(np.int64)  # 2024-01-01 was a Monday


def days_ts(*days: float) -> np.ndarray:
    """Timestamps at the given day offsets from a Monday."""
    return MONDAY + (np.asarray(days, dtype=np.float64) * NS_PER_DAY).astype(np.int64)


def stats_for(
    equity: list[float],
    ts: np.ndarray | None = None,
    trades: list[TradeSummary] | None = None,
    periods_per_year: float | None = 252.0,
    **kwargs: float,
) -> Statistics:
    """compute_statistics with daily timestamps and no trading unless given."""
    if ts is None:
        ts = days_ts(*range(len(equity)))
    return compute_statistics(
        ts_ns=ts,
        equity=np.asarray(equity, dtype=np.float64),
        trades=trades or [],
        fees_paid=float(kwargs.pop("fees_paid", 0.0)),
        traded_notional=float(kwargs.pop("traded_notional", 0.0)),
        bars_in_market=int(kwargs.pop("bars_in_market", 0)),
        periods_per_year=periods_per_year,
        **kwargs,
    )


# ---------------------------------------------------------------- drawdown


def test_drawdown_series_is_fraction_below_running_peak() -> None:
    # peaks: 100, 120, 120, 120, 130, 130, 140
    # 90/120 - 1 = -0.25; 110/120 - 1 = -1/12; 117/130 - 1 = -0.1; every peak is 0
    dd = drawdown_series(np.array([100.0, 120.0, 90.0, 110.0, 130.0, 117.0, 140.0]))
    assert dd == pytest.approx([0.0, 0.0, -0.25, -1 / 12, 0.0, -0.1, 0.0], abs=1e-15)
    assert np.all(dd <= 0)


def test_drawdown_series_of_empty_curve_is_empty() -> None:
    assert drawdown_series(np.array([], dtype=np.float64)).shape == (0,)


def test_drawdown_series_is_zero_while_the_peak_is_not_positive() -> None:
    # Peaks 0, 0, 10, 10: no fraction of a zero peak exists (reported 0); then 5/10 - 1 = -0.5.
    assert drawdown_series(np.array([0.0, 0.0, 10.0, 5.0])) == pytest.approx([0.0, 0.0, 0.0, -0.5])


def test_max_drawdown_depth_and_duration_on_known_curve() -> None:
    # Same curve; timestamps (days) 0,1,2,3,4,5,15 so the second stretch is long in calendar time.
    # Depth: worst point 90 under peak 120 -> -25 %, and -30 in money.
    # Stretch 1: peak at bar 1 (day 1) until the new peak at bar 4 (day 4) -> 3 bars, 3 days.
    # Stretch 2: peak at bar 4 (day 4) until the new peak at bar 6 (day 15) -> 2 bars, 11 days.
    # Longest in bars is stretch 1 (3), longest in days is stretch 2 (11).
    s = stats_for([100, 120, 90, 110, 130, 117, 140], ts=days_ts(0, 1, 2, 3, 4, 5, 15))
    assert s.max_drawdown_pct == pytest.approx(-25.0)
    assert s.max_drawdown_value == pytest.approx(-30.0)
    assert s.max_drawdown_duration_bars == 3
    assert s.max_drawdown_duration_days == pytest.approx(11.0)


def test_drawdown_still_open_at_the_end_runs_to_the_last_bar() -> None:
    # Peak 100 at bar 0, never regained: the stretch is bars 0..2 -> 2 bars, 2 days; depth 80/100 - 1.
    s = stats_for([100, 80, 90])
    assert s.max_drawdown_duration_bars == 2
    assert s.max_drawdown_duration_days == pytest.approx(2.0)
    assert s.max_drawdown_pct == pytest.approx(-20.0)


def test_returning_to_the_old_peak_ends_a_drawdown_stretch() -> None:
    # 100 -> 90 -> 99.99 (still under) -> 100 (back at the peak: 3-bar stretch ends) -> 95 (1 bar).
    # If only a strictly higher peak ended a stretch, it would be bars 0..4 = 4 bars; if "nearly
    # back" counted, 99.99 would end it after 2 bars.
    s = stats_for([100, 90, 99.99, 100, 95])
    assert s.max_drawdown_duration_bars == 3


def test_max_drawdown_value_is_the_deepest_money_drawdown_even_from_another_stretch() -> None:
    # 100 -> 50 is -50 % but only -50 in money; 1000 -> 800 is -20 % but -200 in money.
    s = stats_for([100, 50, 100, 1000, 800])
    assert s.max_drawdown_pct == pytest.approx(-50.0)
    assert s.max_drawdown_value == pytest.approx(-200.0)


# ---------------------------------------------------------------- returns and ratios


def test_total_return_and_cagr_over_exactly_two_years() -> None:
    # 100 -> 121 over 2 * 365.25 days: total +21 %, CAGR = sqrt(1.21) - 1 = 10 %.
    s = stats_for([100, 130, 121], ts=days_ts(0, 365.25, 730.5))
    assert s.total_return_pct == pytest.approx(21.0)
    assert s.cagr_pct == pytest.approx(10.0)
    assert s.start_value == 100.0
    assert s.end_value == 121.0


def test_calmar_is_cagr_over_absolute_max_drawdown() -> None:
    # Same curve: drawdown 121/130 - 1 = -9/130 -> -900/130 %; Calmar = 10 / (900/130) = 13/9.
    s = stats_for([100, 130, 121], ts=days_ts(0, 365.25, 730.5))
    assert s.max_drawdown_pct == pytest.approx(-900 / 130)
    assert s.calmar == pytest.approx(13 / 9)


def test_volatility_sharpe_sortino_on_hand_computed_curve() -> None:
    # 100 -> 110 -> 99 -> 108.9: returns +0.1, -0.1, +0.1; ppy = 4 so sqrt(ppy) = 2.
    # mean = 0.1/3; deviations 0.2/3, -0.4/3, 0.2/3; var(ddof=1) = (0.04+0.16+0.04)/9/2 = 0.04/3
    # std = 0.2/sqrt(3) -> volatility = 0.2/sqrt(3) * 2 * 100 = 40/sqrt(3) %
    # Sharpe = (0.1/3) / (0.2/sqrt(3)) * 2 = 1/sqrt(3)
    # downside = sqrt((0 + 0.01 + 0) / 3) = 0.1/sqrt(3) -> Sortino = (0.1/3) / (0.1/sqrt(3)) * 2 = 2/sqrt(3)
    s = stats_for([100, 110, 99, 108.9], periods_per_year=4.0)
    assert s.volatility_ann_pct == pytest.approx(40 / math.sqrt(3))
    assert s.sharpe == pytest.approx(1 / math.sqrt(3))
    assert s.sortino == pytest.approx(2 / math.sqrt(3))
    assert s.periods_per_year == 4.0


def test_sharpe_and_sortino_match_an_explicit_loop_on_a_random_curve() -> None:
    rng = np.random.default_rng(7)
    equity = 10_000 * np.cumprod(1 + rng.normal(0.0004, 0.012, 2_000))
    ppy, rf_annual = 252.0, 0.03

    # Reference written with plain Python loops, independent of the vectorised implementation.
    returns = [equity[i] / equity[i - 1] - 1 for i in range(1, len(equity))]
    rf = (1 + rf_annual) ** (1 / ppy) - 1
    mean = sum(returns) / len(returns)
    var = sum((x - mean) ** 2 for x in returns) / (len(returns) - 1)
    down = sum(min(x - rf, 0.0) ** 2 for x in returns) / len(returns)
    expected_sharpe = (mean - rf) / math.sqrt(var) * math.sqrt(ppy)
    expected_sortino = (mean - rf) / math.sqrt(down) * math.sqrt(ppy)

    s = stats_for(list(equity), periods_per_year=ppy, risk_free_rate=rf_annual)
    assert s.sharpe == pytest.approx(expected_sharpe, rel=1e-9)
    assert s.sortino == pytest.approx(expected_sortino, rel=1e-9)
    assert s.volatility_ann_pct == pytest.approx(math.sqrt(var) * math.sqrt(ppy) * 100, rel=1e-9)


def test_risk_free_rate_lowers_sharpe() -> None:
    curve = [100, 101, 100.5, 102, 101.7, 103]
    assert stats_for(curve, risk_free_rate=0.05).sharpe < stats_for(curve).sharpe


def test_flat_curve_has_zero_volatility_and_zero_ratios() -> None:
    s = stats_for([100.0] * 10)
    assert s.total_return_pct == 0.0
    assert s.volatility_ann_pct == 0.0
    assert s.sharpe == 0.0
    assert s.sortino == 0.0
    assert s.calmar == 0.0
    assert s.max_drawdown_pct == 0.0
    assert s.max_drawdown_duration_bars == 0
    assert s.max_drawdown_duration_days == 0.0


def test_floating_point_noise_in_std_counts_as_zero_risk() -> None:
    # Exactly 1 % per bar: std is ~1e-17 of rounding noise; dividing by it would give Sharpe ~1e15.
    s = stats_for([100 * 1.01**k for k in range(50)])
    assert s.sharpe == 0.0
    assert s.sortino == 0.0


def test_equity_wiped_out_to_zero_does_not_crash() -> None:
    # 100 -> 50 -> 0 -> 0: returns -0.5, -1, and 0 after a zero balance (defined, not 0/0).
    # mean -0.5; deviations 0, -0.5, 0.5 -> var(ddof=1) = 0.25, std 0.5 -> Sharpe = -1 * sqrt(252).
    s = stats_for([100, 50, 0, 0], ts=days_ts(0, 365.25, 730.5, 1095.75))
    assert s.total_return_pct == -100.0
    assert s.cagr_pct == -100.0
    assert s.max_drawdown_pct == -100.0
    assert s.sharpe == pytest.approx(-math.sqrt(252))
    assert math.isfinite(s.sortino)


def test_cagr_of_a_huge_gain_in_one_minute_is_inf_not_an_overflow_error() -> None:
    # 100 -> 1,000,000 in one minute compounds to far beyond float range over a year.
    s = stats_for([100.0, 1_000_000.0], ts=MONDAY + np.array([0, NS_PER_MIN], dtype=np.int64))
    assert s.cagr_pct == math.inf
    assert s.to_dict()["cagr_pct"] is None


# ---------------------------------------------------------------- trades


KNOWN_TRADES = [
    TradeSummary(pnl=100.0, return_pct=1.0, bars_held=2, fees=1.0),
    TradeSummary(pnl=-50.0, return_pct=-0.5, bars_held=4, fees=1.0),
    TradeSummary(pnl=200.0, return_pct=2.0, bars_held=6, fees=1.0),
    TradeSummary(pnl=-25.0, return_pct=-0.25, bars_held=8, fees=1.0),
    TradeSummary(pnl=0.0, return_pct=0.0, bars_held=10, fees=1.0),
]


def test_profit_factor_win_rate_expectancy_sqn_on_known_trade_list() -> None:
    # Winners (pnl > 0): 100, 200 -> 2 of 5 = 40 % (the break-even trade is not a win).
    # Gross profit 300, gross loss 75 -> profit factor 4.
    # Expectancy = (100 - 50 + 200 - 25 + 0) / 5 = 45.
    # Deviations from 45: 55, -95, 155, -70, -45 -> squares sum 43000 -> var(ddof=1) = 10750.
    # SQN = sqrt(5) * 45 / sqrt(10750).
    s = stats_for([100.0, 101.0], trades=KNOWN_TRADES)
    assert s.trades == 5
    assert s.win_rate_pct == pytest.approx(40.0)
    assert s.profit_factor == pytest.approx(4.0)
    assert s.expectancy == pytest.approx(45.0)
    assert s.sqn == pytest.approx(math.sqrt(5) * 45 / math.sqrt(10750))
    # return_pct: mean (1 - 0.5 + 2 - 0.25 + 0) / 5 = 0.45, best 2, worst -0.5; bars held mean 6.
    assert s.avg_trade == pytest.approx(0.45)
    assert s.best_trade == 2.0
    assert s.worst_trade == -0.5
    assert s.avg_bars_held == pytest.approx(6.0)


def test_profit_factor_is_inf_without_losses_and_zero_without_profits() -> None:
    winners = [TradeSummary(10.0, 1.0, 1, 0.1), TradeSummary(20.0, 2.0, 1, 0.1)]
    losers = [TradeSummary(-10.0, -1.0, 1, 0.1), TradeSummary(0.0, 0.0, 1, 0.1)]
    break_even = [TradeSummary(0.0, 0.0, 1, 0.1), TradeSummary(0.0, 0.0, 1, 0.1)]
    assert stats_for([100.0, 100.0], trades=winners).profit_factor == math.inf
    assert stats_for([100.0, 100.0], trades=losers).profit_factor == 0.0
    # Neither profit nor loss: no profit, so 0 (not 0/0, not inf).
    assert stats_for([100.0, 100.0], trades=break_even).profit_factor == 0.0


def test_sqn_is_nan_with_fewer_than_two_trades() -> None:
    s = stats_for([100.0, 100.0], trades=[TradeSummary(10.0, 1.0, 3, 0.1)])
    assert math.isnan(s.sqn)
    assert s.win_rate_pct == 100.0


def test_no_trades_gives_nan_trade_statistics_and_none_in_to_dict() -> None:
    s = stats_for([100.0, 101.0, 102.0])
    assert s.trades == 0
    for name in ("win_rate_pct", "profit_factor", "expectancy", "sqn", "avg_trade", "avg_bars_held"):
        assert math.isnan(getattr(s, name)), name
        assert s.to_dict()[name] is None, name


# ---------------------------------------------------------------- activity


def test_exposure_turnover_and_fees() -> None:
    # 1 of 4 bars in the market -> 25 %; mean equity (100+200+300+400)/4 = 250 -> turnover 1000/250 = 4.
    s = stats_for([100, 200, 300, 400], bars_in_market=1, traded_notional=1000.0, fees_paid=3.5)
    assert s.exposure_pct == pytest.approx(25.0)
    assert s.turnover == pytest.approx(4.0)
    assert s.fees_paid == 3.5


# ---------------------------------------------------------------- edge cases and validation


def test_empty_curve_does_not_crash() -> None:
    s = stats_for([], ts=np.array([], dtype=np.int64), periods_per_year=None)
    assert s.trades == 0
    assert math.isnan(s.total_return_pct)
    assert math.isnan(s.sharpe)
    assert s.max_drawdown_pct == 0.0
    assert s.max_drawdown_duration_bars == 0
    json.dumps(s.to_dict(), allow_nan=False)
    assert "n/a" in format_report(s)


def test_single_point_curve_does_not_crash() -> None:
    s = stats_for([100.0], periods_per_year=None)
    assert s.total_return_pct == 0.0
    assert math.isnan(s.cagr_pct)  # no elapsed time
    assert math.isnan(s.volatility_ann_pct)
    assert math.isnan(s.sharpe)
    assert s.exposure_pct == 0.0
    assert s.turnover == 0.0


def test_two_point_curve_has_one_return_so_no_sample_std() -> None:
    s = stats_for([100.0, 110.0])
    assert s.total_return_pct == pytest.approx(10.0)
    assert math.isnan(s.volatility_ann_pct)
    assert math.isnan(s.sharpe)


@pytest.mark.parametrize(
    ("ts", "equity", "ppy"),
    [
        (days_ts(0, 1), [100.0], 252.0),  # lengths differ
        (days_ts(0, 1), [100.0, math.nan], 252.0),  # NaN equity
        (days_ts(1, 0), [100.0, 101.0], 252.0),  # unsorted timestamps
        (days_ts(0, 1), [100.0, 101.0], 0.0),  # non-positive periods per year
    ],
)
def test_invalid_inputs_raise_invalid_value(ts: np.ndarray, equity: list[float], ppy: float) -> None:
    with pytest.raises(InvalidValue):
        stats_for(equity, ts=ts, periods_per_year=ppy)


def test_compute_statistics_infers_periods_per_year_when_not_given() -> None:
    ts = MONDAY + np.arange(14 * 1440, dtype=np.int64) * NS_PER_MIN  # two weeks of 24/7 minutes
    s = stats_for(list(np.linspace(100, 110, ts.size)), ts=ts, periods_per_year=None)
    assert s.periods_per_year == 1440 * 365


# ---------------------------------------------------------------- infer_periods_per_year


def weekdays(n_days: int) -> np.ndarray:
    """Day numbers (from MONDAY) of the weekdays among the first n_days calendar days."""
    d = np.arange(n_days)
    return d[d % 7 < 5]


def test_infer_daily_weekday_bars_is_252() -> None:
    assert infer_periods_per_year(days_ts(*weekdays(730))) == 252.0


def test_infer_daily_bars_with_weekends_is_365() -> None:
    assert infer_periods_per_year(days_ts(*range(730))) == 365.0


def test_infer_weekly_bars_is_about_52() -> None:
    # 365.25 / 7 = 52.18; not 252 / 7 = 36, because the weekend is inside the 7-day spacing.
    ppy = infer_periods_per_year(days_ts(*range(0, 3 * 364, 7)))
    assert ppy == pytest.approx(365.25 / 7)


def test_infer_monthly_bars_is_about_12() -> None:
    ts = np.array([np.datetime64(f"{2020 + m // 12}-{m % 12 + 1:02d}-01", "ns") for m in range(48)])
    assert 11.5 < infer_periods_per_year(ts.astype(np.int64)) < 12.5


def test_infer_one_minute_stock_bars_390_per_day() -> None:
    # Regular US session 13:30-20:00 UTC, 390 one-minute bars per weekday, 20 weeks.
    session = 13 * 60 + 30 + np.arange(390)
    ts = (weekdays(140)[:, None] * 1440 + session[None, :]).ravel() * NS_PER_MIN + MONDAY
    assert infer_periods_per_year(ts) == 390 * 252


def test_infer_crypto_24_7_minute_bars() -> None:
    ts = MONDAY + np.arange(21 * 1440, dtype=np.int64) * NS_PER_MIN
    assert infer_periods_per_year(ts) == 1440 * 365


def test_infer_ignores_a_partial_first_and_last_day() -> None:
    # 24/7 minutes starting at 17:00 on day 0 and stopping at 06:00 on day 10.
    ts = MONDAY + np.arange(17 * 60, 10 * 1440 + 6 * 60, dtype=np.int64) * NS_PER_MIN
    assert infer_periods_per_year(ts) == 1440 * 365


def test_infer_sunday_evening_futures_session_is_not_mistaken_for_24_7() -> None:
    # Hourly bars: 23 per weekday (00:00-22:00 UTC) plus a 2-bar Sunday 22:00-23:00 open.
    # Sunday bars are 2 / (5*23 + 2) = 1.7 % of all bars, far below the 29 % of real 24/7 data.
    hours = [d * 24 + h for d in weekdays(70) for h in range(23)]
    hours += [d * 24 + h for d in range(6, 70, 7) for h in (22, 23)]
    ts = MONDAY + np.sort(np.array(hours, dtype=np.int64)) * 3600 * 1_000_000_000
    assert infer_periods_per_year(ts) == 23 * 252


def test_infer_with_fewer_than_two_points_defaults_to_252() -> None:
    assert infer_periods_per_year(np.array([], dtype=np.int64)) == 252.0
    assert infer_periods_per_year(days_ts(0)) == 252.0


# ---------------------------------------------------------------- output


def test_to_dict_is_strict_json_serializable() -> None:
    # inf profit factor (no losses) and NaN SQN (one trade) must both become null.
    s = stats_for([100.0, 105.0, 103.0], trades=[TradeSummary(5.0, 5.0, 2, 0.5)])
    d = s.to_dict()
    assert list(d) == [f.name for f in dataclasses.fields(Statistics)]
    assert d["profit_factor"] is None
    assert d["sqn"] is None
    assert d["trades"] == 1
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_format_report_shows_every_section_with_aligned_numbers() -> None:
    s = stats_for([100, 120, 90, 110, 130, 117, 140], trades=KNOWN_TRADES)
    report = format_report(s)
    for heading in ("Returns", "Drawdown", "Trades", "Activity"):
        assert heading in report.splitlines()
    assert "-25.00 %" in report
    assert "40.00 %" in report
    rows = [line for line in report.splitlines() if line.startswith("  ")]
    assert len(rows) == 25  # one row per statistic
    # Numbers end in the same column whether or not they carry a unit (" %", " d").
    number_ends = {len(row.removesuffix(" %").removesuffix(" d")) for row in rows}
    assert len(number_ends) == 1


def test_format_report_shows_nan_as_na_and_inf_as_inf() -> None:
    winners = [TradeSummary(10.0, 1.0, 1, 0.1)]
    report = format_report(stats_for([100.0, 101.0], trades=winners))
    assert "n/a" in report  # SQN with one trade
    assert "inf" in report  # profit factor without a loss
