"""Kupiec's proportion-of-failures backtest of one-day 99% VaR on the real S&P 500, 1999-2018.

Each day's loss is compared with the VaR estimated from the 250 daily returns before it. The counts are
recomputed here with a plain loop (historical) and pandas rolling windows (parametric), and the p-values from
the binomial log-likelihood ratio with scipy.stats (binom.logpmf, chi2.sf): independent of
`trading.risk.portfolio.kupiec_pof`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trading.data.bars import BarSeries
from trading.risk.portfolio import backtest_var, kupiec_pof, simple_returns

WINDOW = 250


def reference_p_value(exceptions: int, days: int, confidence: float) -> float:
    # The binomial coefficients cancel in the ratio, so logpmf gives the same statistic as the textbook form.
    observed = stats.binom.logpmf(exceptions, days, exceptions / days)
    lr = 2 * (observed - stats.binom.logpmf(exceptions, days, 1 - confidence))
    return float(stats.chi2.sf(lr, df=1))


@pytest.fixture(scope="module")
def returns(sp500: BarSeries) -> tuple[np.ndarray, np.ndarray]:
    return simple_returns(sp500.close), sp500.ts[1:]


def test_historical_count_and_p_value(returns) -> None:
    r, ts = returns
    expected = sum(
        int(-r[t] > np.percentile(-r[t - WINDOW : t], 99.0)) for t in range(WINDOW, len(r))
    )
    result = backtest_var(r, ts, confidence=0.99, method="historical", window=WINDOW)
    k = result.kupiec
    assert (k.observations, k.exceptions) == (len(r) - WINDOW, expected) == (4780, 81)
    assert k.p_value == pytest.approx(reference_p_value(81, 4780, 0.99), rel=1e-9)
    assert k.p_value == pytest.approx(1.1311e-05, rel=1e-3)  # the figure docs/risk.md reports
    years = (pd.Timestamp(result.first_ts, unit="ns").year, pd.Timestamp(result.last_ts, unit="ns").year)
    assert years == (1999, 2018)


def test_parametric_count_and_p_value(returns) -> None:
    r, ts = returns
    s = pd.Series(r)
    z = stats.norm.ppf(0.99)
    var = (-s.rolling(WINDOW).mean() + z * s.rolling(WINDOW).std()).shift(1)
    expected = int((-s > var)[WINDOW:].sum())
    k = backtest_var(r, ts, confidence=0.99, method="parametric", window=WINDOW).kupiec
    assert (k.observations, k.exceptions) == (4780, expected) == (4780, 116)
    assert k.p_value == pytest.approx(reference_p_value(116, 4780, 0.99), rel=1e-9)


def test_monte_carlo_normal_count_and_p_value(returns) -> None:
    r, ts = returns
    k = backtest_var(r, ts, confidence=0.99, method="montecarlo", window=WINDOW, seed=0).kupiec
    assert (k.observations, k.exceptions) == (4780, 116)  # seeded: the same on every machine
    assert k.p_value == pytest.approx(reference_p_value(116, 4780, 0.99), rel=1e-9)


@pytest.mark.parametrize(("exceptions", "days"), [(0, 500), (7, 500), (48, 4780), (500, 500)])
def test_kupiec_matches_scipy_at_the_edges(exceptions: int, days: int) -> None:
    result = kupiec_pof(exceptions, days, 0.99)
    assert result.p_value == pytest.approx(reference_p_value(exceptions, days, 0.99), rel=1e-9, abs=1e-300)


def test_a_well_calibrated_rate_is_not_rejected_and_a_bad_one_is() -> None:
    assert kupiec_pof(48, 4780, 0.99).p_value > 0.9
    assert kupiec_pof(81, 4780, 0.99).p_value < 0.001
