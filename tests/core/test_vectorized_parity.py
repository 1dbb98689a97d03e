"""The vectorized fast path gives the same fills and final value as the event-driven engine on every cell
where both apply (long-only signal strategies, both fill timings, fees)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from strategies import BUILTIN
from trading.backtest.runner import BacktestSpec, run_backtest, run_vectorized, vector_compatible
from trading.data.loaders import load_bars

ROOT = Path(__file__).resolve().parents[2]
MINUTES = load_bars(ROOT / "data/backtrader/2006-01-02-volume-min-001.txt")
SIGNAL_STRATEGIES = ["sma_cross", "ema_cross", "rsi_reversion", "bollinger_breakout", "macd_cross"]


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("name", SIGNAL_STRATEGIES)
def test_vectorized_and_event_engine_agree_fill_for_fill(name: str, fill: str) -> None:
    spec = BacktestSpec(data="minutes", strategy=name, fill=fill, commission_per_unit=Decimal("0.5"))
    event = run_backtest(spec, BUILTIN[name], MINUTES)
    fast = run_vectorized(spec, BUILTIN[name], MINUTES)
    assert fast is not None
    assert len(event.fills) > 50  # a real comparison, not two empty runs
    assert [float(f.price) for f in event.fills] == fast.fill_price.tolist()
    assert [1 if f.side.value == "buy" else -1 for f in event.fills] == fast.fill_side.tolist()
    assert round(Decimal(fast.final_value), 6) == event.final_value
    assert fast.stats.trades == event.stats.trades


@pytest.mark.parametrize(("fast", "slow"), [(1, 15), (5, 20), (10, 60)])
def test_sma_grid_cells_agree_with_the_event_engine(fast: int, slow: int) -> None:
    spec = BacktestSpec(data="minutes", strategy="sma_cross", params={"fast": fast, "slow": slow}, fill="close")
    event = run_backtest(spec, BUILTIN["sma_cross"], MINUTES)
    vector = run_vectorized(spec, BUILTIN["sma_cross"], MINUTES)
    assert vector is not None
    assert round(Decimal(vector.final_value), 6) == event.final_value


def test_strategies_without_signal_rules_use_the_event_engine() -> None:
    spec = BacktestSpec(data="minutes", strategy="opening_range_breakout")
    assert run_vectorized(spec, BUILTIN["opening_range_breakout"], MINUTES) is None
    short = BacktestSpec(data="minutes", strategy="sma_cross", params={"allow_short": True})
    assert run_vectorized(short, BUILTIN["sma_cross"], MINUTES) is None


def test_options_the_fast_path_cannot_model_are_named() -> None:
    assert vector_compatible(BacktestSpec(data="x", strategy="sma_cross", slippage_ticks=1)) == "slippage"
    assert vector_compatible(BacktestSpec(data="x", strategy="sma_cross", volume_cap=0.1)) == "volume cap"
    assert vector_compatible(BacktestSpec(data="x", strategy="sma_cross")) == ""


def test_a_signal_on_the_last_bar_has_no_next_open_to_fill_on_and_an_exit_wins_a_tie() -> None:
    import numpy as np

    from trading.backtest.vectorized import simulate_long_only

    entries = np.array([False, True, False, True, True, False])
    exits = np.array([True, False, True, True, False, True])  # bar 3: both while flat, so no entry
    opens = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    closes = opens + 0.5
    index, side, price, _, equity, cash, in_market = simulate_long_only(
        entries, exits, opens, closes, True, 1.0, 1.0, 0.0, 0.0, 100.0
    )
    # Long on bar 1 (filled at bar 2's open), out on bar 2 (bar 3's open), long on bar 4 (bar 5's open), and
    # the exit on bar 5, the last bar, has no bar to fill on.
    assert index.tolist() == [2, 3, 5] and side.tolist() == [1, -1, 1] and price.tolist() == [12.0, 13.0, 15.0]
    assert in_market == 2 and cash == 100.0 - 12.0 + 13.0 - 15.0
    assert equity.tolist() == [100.0, 100.0, 100.5, 101.0, 101.0, 101.5]


def test_periods_per_year_given_once_gives_the_same_statistics_as_inferring_it() -> None:
    from trading.stats import infer_periods_per_year

    spec = BacktestSpec(data="minutes", strategy="sma_cross", params={"fast": 5, "slow": 20}, fill="close")
    inferred = run_vectorized(spec, BUILTIN["sma_cross"], MINUTES)
    given = run_vectorized(spec, BUILTIN["sma_cross"], MINUTES, infer_periods_per_year(MINUTES.ts))
    assert inferred is not None and given is not None
    assert inferred.stats == given.stats and inferred.stats.trades > 10
