"""Our VaR/ES/beta against independent implementations on the shipped real daily data, to 1e-9.

Reference: empyrical-reloaded 0.7.1 (`empyrical.value_at_risk`: numpy's interpolated percentile of returns;
`empyrical.conditional_value_at_risk`: the mean of the returns at or below it; `empyrical.beta`). Its figures are
returns (negative for a loss), ours positive losses. empyrical has no parametric VaR, so the parametric figures
are checked against scipy.stats.norm (ppf, and ES by numerical integration with `norm.expect`) on pandas' sample
standard deviation. The weighted portfolio's returns are rebuilt here with pandas (inner join on dates,
pct_change, dot with the weights), independently of `align_closes` / `portfolio_returns`.
"""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trading.data.bars import BarSeries
from trading.risk.portfolio import align_closes, beta, correlation_matrix, simple_returns, value_at_risk

TOL = 1e-9
WEIGHTS = [0.5, 0.3, 0.2]


def closes(series: BarSeries, name: str) -> pd.Series:
    return pd.Series(series.close, index=pd.to_datetime(series.ts, unit="ns", utc=True), name=name)


@pytest.fixture(scope="module")
def frame(sp500: BarSeries, orcl: BarSeries, spy: BarSeries) -> pd.DataFrame:
    joined = pd.concat([closes(sp500, "sp"), closes(orcl, "orcl"), closes(spy, "spy")], axis=1, join="inner")
    return joined.pct_change().dropna()


def test_empyrical_reloaded_is_the_pinned_reference() -> None:
    assert empyrical.__version__ == "0.7.1"


@pytest.mark.parametrize("confidence", [0.95, 0.975, 0.99])
def test_historical_var_es_of_one_asset_match_empyrical(sp500: BarSeries, confidence: float) -> None:
    reference = closes(sp500, "sp").pct_change().dropna()
    ours = value_at_risk(simple_returns(sp500.close), confidence=confidence, method="historical")
    assert ours.scenarios == len(reference) == 5030
    assert ours.var == pytest.approx(-empyrical.value_at_risk(reference, 1 - confidence), abs=TOL)
    assert ours.es == pytest.approx(-empyrical.conditional_value_at_risk(reference, 1 - confidence), abs=TOL)


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_historical_var_es_of_a_daily_rebalanced_portfolio_match_empyrical(
    sp500: BarSeries, orcl: BarSeries, spy: BarSeries, frame: pd.DataFrame, confidence: float
) -> None:
    reference = frame.to_numpy() @ np.array(WEIGHTS)
    aligned = align_closes([sp500, orcl, spy], ["sp", "orcl", "spy"])
    ours = value_at_risk(aligned.returns(), WEIGHTS, confidence=confidence, method="historical")
    assert len(reference) == ours.scenarios == 1763  # the dates all three share, 2008-01-02 .. 2014-12-31
    assert ours.var == pytest.approx(-empyrical.value_at_risk(reference, 1 - confidence), abs=TOL)
    assert ours.es == pytest.approx(-empyrical.conditional_value_at_risk(reference, 1 - confidence), abs=TOL)
    # Euler: the one-day tail contributions add up to the portfolio's figures.
    assert sum(ours.component_var) == pytest.approx(ours.var, abs=TOL)
    assert sum(ours.component_es) == pytest.approx(ours.es, abs=TOL)


def test_ten_day_historical_var_uses_overlapping_compounded_returns(frame: pd.DataFrame) -> None:
    daily = pd.Series(frame.to_numpy() @ np.array(WEIGHTS))
    ten_day = ((1 + daily).rolling(10).apply(np.prod, raw=True) - 1).dropna()
    ours = value_at_risk(frame.to_numpy(), WEIGHTS, confidence=0.99, method="historical", horizon=10)
    assert ours.scenarios == len(ten_day)
    assert ours.var == pytest.approx(-empyrical.value_at_risk(ten_day, 0.01), abs=TOL)
    assert ours.es == pytest.approx(-empyrical.conditional_value_at_risk(ten_day, 0.01), abs=TOL)


@pytest.mark.parametrize(("confidence", "horizon"), [(0.99, 1), (0.95, 1), (0.99, 10)])
def test_parametric_var_es_match_scipy_normal_with_sample_std(
    frame: pd.DataFrame, confidence: float, horizon: int
) -> None:
    for returns, weights in ((frame["sp"], [1.0]), (frame.to_numpy() @ np.array(WEIGHTS), None)):
        series = pd.Series(returns)
        mu, sigma = series.mean() * horizon, series.std() * np.sqrt(horizon)  # pandas' std is ddof=1
        expected_var = -stats.norm.ppf(1 - confidence, loc=mu, scale=sigma)
        cut = stats.norm.ppf(1 - confidence, loc=mu, scale=sigma)
        expected_es = -stats.norm.expect(lambda x: x, loc=mu, scale=sigma, ub=cut, conditional=True)
        data = frame.to_numpy() if weights is None else frame[["sp"]].to_numpy()
        ours = value_at_risk(
            data, WEIGHTS if weights is None else weights, confidence=confidence, method="parametric",
            horizon=horizon,
        )
        assert ours.var == pytest.approx(expected_var, abs=TOL)
        assert ours.es == pytest.approx(expected_es, abs=TOL)
        assert sum(ours.component_var) == pytest.approx(ours.var, abs=TOL)
        assert sum(ours.component_es) == pytest.approx(ours.es, abs=TOL)


def test_beta_and_correlation_match_empyrical_and_pandas(frame: pd.DataFrame) -> None:
    for name in ("orcl", "spy"):
        expected = empyrical.beta(frame[name].to_numpy(), frame["sp"].to_numpy())
        assert beta(frame[name].to_numpy(), frame["sp"].to_numpy()) == pytest.approx(expected, abs=TOL)
    np.testing.assert_allclose(correlation_matrix(frame.to_numpy()), frame.corr().to_numpy(), rtol=0, atol=TOL)


def test_monte_carlo_normal_is_near_parametric_and_seeded(frame: pd.DataFrame) -> None:
    data = frame.to_numpy()
    mc = value_at_risk(data, WEIGHTS, confidence=0.99, method="montecarlo", paths=100_000, seed=3)
    again = value_at_risk(data, WEIGHTS, confidence=0.99, method="montecarlo", paths=100_000, seed=3)
    parametric = value_at_risk(data, WEIGHTS, confidence=0.99, method="parametric")
    assert mc == again
    assert mc.var == pytest.approx(parametric.var, rel=0.02)  # sampling error of the 1% quantile at 100k paths
    assert mc.es == pytest.approx(parametric.es, rel=0.02)
    t = value_at_risk(data, WEIGHTS, confidence=0.99, method="montecarlo", distribution="t", dof=4, seed=3)
    assert t.es / t.var > parametric.es / parametric.var  # fatter tail: ES further beyond VaR
