"""Properties every VaR/ES method must have, on windows of the real S&P 500 / ORCL / SPY daily returns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.data.bars import BarSeries
from trading.risk.portfolio import align_closes, value_at_risk

FAST = {"paths": 2_000}  # Monte Carlo paths per call: the properties hold for any number, same seed throughout


@pytest.fixture(scope="module")
def returns(sp500: BarSeries, orcl: BarSeries, spy: BarSeries) -> np.ndarray:
    return align_closes([sp500, orcl, spy]).returns()


methods = st.sampled_from(["historical", "parametric", "montecarlo"])
weights = st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=3, max_size=3).filter(
    lambda w: sum(abs(x) for x in w) > 0.05
)
windows = st.tuples(st.integers(0, 1200), st.integers(60, 500))


def figures(returns: np.ndarray, window: tuple[int, int], w: list[float], confidence: float, method: str):
    start, length = window
    return value_at_risk(returns[start : start + length], w, confidence=confidence, method=method, seed=7, **FAST)


@settings(max_examples=60, deadline=None)
@given(method=methods, w=weights, window=windows, confidence=st.floats(0.8, 0.995))
def test_es_is_at_least_var(returns, method, w, window, confidence) -> None:
    result = figures(returns, window, w, confidence, method)
    assert result.es >= result.var - 1e-12


@settings(max_examples=60, deadline=None)
@given(method=methods, w=weights, window=windows, low=st.floats(0.8, 0.99), step=st.floats(0.001, 0.009))
def test_var_rises_with_confidence(returns, method, w, window, low, step) -> None:
    assert figures(returns, window, w, low + step, method).var >= figures(returns, window, w, low, method).var - 1e-12


@settings(max_examples=60, deadline=None)
@given(method=methods, a=weights, b=weights, window=windows, confidence=st.floats(0.9, 0.995))
def test_es_is_subadditive_across_two_portfolios(returns, method, a, b, window, confidence) -> None:
    # Weights are per unit of capital, so the two books together are the sum of their weights.
    combined = [x + y for x, y in zip(a, b, strict=True)]
    together = figures(returns, window, combined, confidence, method).es
    apart = figures(returns, window, a, confidence, method).es + figures(returns, window, b, confidence, method).es
    assert together <= apart + 1e-12


def test_var_is_not_subadditive_in_general_so_the_es_property_is_not_vacuous() -> None:
    # Two independent bets that each lose 1.0 with probability 4%: each book's 95% VaR is 0, the pair's is 1.
    rng = np.random.default_rng(0)
    n = 100_000
    bets = np.where(rng.random((n, 2)) < 0.04, -1.0, 0.0)
    one = value_at_risk(bets, [1.0, 0.0], confidence=0.95)
    both = value_at_risk(bets, [1.0, 1.0], confidence=0.95)
    assert one.var == 0.0 and both.var == 1.0
    assert both.es <= 2 * one.es
