"""Paper trading through the actors equals the backtest fill for fill: the replay clock, not prediction."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import ray

from strategies import BUILTIN
from trading.backtest.runner import BacktestSpec, run_backtest
from trading.data.loaders import load_bars
from trading.model.fills import Fill

from .runtime_support import paper_config, start

pytestmark = [pytest.mark.ray, pytest.mark.slow]
DAY = Path(__file__).resolve().parents[2] / "data" / "backtrader" / "2006-day-001.txt"


def fill_key(fill: Fill) -> tuple[object, ...]:
    return (fill.ts, fill.side.value, fill.quantity, fill.price, fill.commission)


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_a_replay_through_the_actors_gives_the_backtests_fills(ray_session: None, fill: str) -> None:
    spec = BacktestSpec(data=str(DAY), strategy="sma_cross", params={"fast": 1, "slow": 15}, fill=fill)
    expected = run_backtest(spec, BUILTIN["sma_cross"], load_bars(DAY))
    assert len(expected.fills) > 10
    runtime = start(paper_config(
        [{"id": "cross", "strategy": "sma_cross", "params": {"fast": 1, "slow": 15}, "instrument": "DATA.SIM",
          "broker": "paper"}],
        data=str(DAY), fill=fill,
    ))
    try:
        ray.get(runtime.handle.wait_replay.remote(), timeout=120)
        venue_fills = ray.get(runtime.broker("paper").fills.remote())
        assert [fill_key(f) for f in venue_fills] == [fill_key(f) for f in expected.fills]
        account = ray.get(runtime.broker("paper").account.remote())
        assert account.equity == expected.final_value
        snapshot = ray.get(runtime.oms.snapshot.remote())
        assert snapshot["fills"] == len(expected.fills)
        status = ray.get(runtime.strategy("cross").status.remote())
        assert Decimal(status["position"]) == expected.position
        assert status["fills"] == len(expected.fills)
    finally:
        runtime.stop()
