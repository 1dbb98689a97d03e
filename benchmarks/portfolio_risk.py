"""Portfolio VaR/ES recomputation for 50 positions over 2,500 days, beside empyrical-reloaded on the same inputs.

The 50 return series are real but not simultaneous: 25 windows of 2,500 daily returns of the S&P 500 (1999-2018)
and 25 of ORCL (1995-2014), each window starting 100 trading days after the previous one, stacked side by side
as if they were 50 instruments on the same 2,500 days. No price is made up; the cross-correlations are those
of shifted windows (low), which does not change the amount of arithmetic.

Timed: our full recomputation (portfolio returns, VaR, ES and the per-position contributions) against
empyrical's `value_at_risk` + `conditional_value_at_risk` on the portfolio returns (empyrical has no portfolio
aggregation or contributions, so its side is given the portfolio returns already computed). empyrical has no
Monte Carlo either: for Monte Carlo it computes VaR/ES on our 10,000 simulated paths, and the figures are
compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.common import best_of, header
from trading.data.loaders import load_bars
from trading.risk.portfolio import simple_returns, simulate_portfolio_returns, value_at_risk

ROOT = Path(__file__).resolve().parent.parent
POSITIONS, DAYS, STEP = 50, 2_500, 100
CONFIDENCE = 0.99
PATHS = 10_000


def real_return_panel() -> np.ndarray:
    """DAYS x POSITIONS daily returns: shifted windows of the real S&P 500 and ORCL series (see module doc)."""
    sources = [
        simple_returns(load_bars(ROOT / "data/arch/sp500_1999_2018_daily.csv").close),
        simple_returns(load_bars(ROOT / "data/backtrader/orcl-1995-2014.txt").close),
    ]
    per_source = POSITIONS // len(sources)
    columns = [r[k * STEP : k * STEP + DAYS] for r in sources for k in range(per_source)]
    assert all(len(c) == DAYS for c in columns)
    return np.column_stack(columns)


def main() -> dict[str, float]:
    import empyrical

    returns = real_return_panel()
    weights = np.full(POSITIONS, 1.0 / POSITIONS)
    header(f"Portfolio risk: {POSITIONS} positions x {DAYS:,} real daily returns, {CONFIDENCE:.0%} one-day VaR/ES")

    hist_s, ours = best_of(20, lambda: value_at_risk(returns, weights, confidence=CONFIDENCE))
    port = returns @ weights
    emp_s, (emp_var, emp_es) = best_of(20, lambda: (
        -empyrical.value_at_risk(port, 1 - CONFIDENCE), -empyrical.conditional_value_at_risk(port, 1 - CONFIDENCE)))
    print(f"  historical, ours        {hist_s * 1e3:8.2f} ms  VaR {ours.var:.6%}  ES {ours.es:.6%}  "
          f"(with {POSITIONS} component VaR/ES; target < 50 ms)")
    print(f"  historical, empyrical   {emp_s * 1e3:8.2f} ms  VaR {emp_var:.6%}  ES {emp_es:.6%}  "
          f"(portfolio figures only, returns given)")
    print(f"  agreement               |dVaR| {abs(ours.var - emp_var):.1e}  |dES| {abs(ours.es - emp_es):.1e}")

    mc_s, mc = best_of(5, lambda: value_at_risk(
        returns, weights, confidence=CONFIDENCE, method="montecarlo", paths=PATHS, seed=0))
    paths = simulate_portfolio_returns(returns, weights, paths=PATHS, seed=0)
    mce_s, (mce_var, mce_es) = best_of(5, lambda: (
        -empyrical.value_at_risk(paths, 1 - CONFIDENCE), -empyrical.conditional_value_at_risk(paths, 1 - CONFIDENCE)))
    t_s, t = best_of(5, lambda: value_at_risk(
        returns, weights, confidence=CONFIDENCE, method="montecarlo", paths=PATHS, seed=0, distribution="t"))
    print(f"  Monte Carlo normal, ours {mc_s * 1e3:7.2f} ms  VaR {mc.var:.6%}  ES {mc.es:.6%}  "
          f"({PATHS:,} correlated paths, with contributions; target < 500 ms)")
    print(f"  Monte Carlo t(5), ours  {t_s * 1e3:8.2f} ms  VaR {t.var:.6%}  ES {t.es:.6%}")
    print(f"  empyrical on our paths  {mce_s * 1e3:8.2f} ms  VaR {mce_var:.6%}  ES {mce_es:.6%}  "
          f"(|dVaR| {abs(mc.var - mce_var):.1e}  |dES| {abs(mc.es - mce_es):.1e})")
    return {
        "historical_ms": hist_s * 1e3,
        "empyrical_historical_ms": emp_s * 1e3,
        "montecarlo_ms": mc_s * 1e3,
        "montecarlo_t_ms": t_s * 1e3,
        "historical_max_diff": max(abs(ours.var - emp_var), abs(ours.es - emp_es)),
        "montecarlo_max_diff": max(abs(mc.var - mce_var), abs(mc.es - mce_es)),
    }


if __name__ == "__main__":
    main()
