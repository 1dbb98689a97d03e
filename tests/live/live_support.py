"""Shared set-up for the live tests: the built-in runs, and one function that runs a spec through `LiveLoop`."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading.backtest.engine import BacktestResult
from trading.backtest.runner import BacktestSpec, build_instrument, run_backtest
from trading.brokers.protocol import ReconciliationReport
from trading.data.bars import Bar, BarSeries
from trading.data.loaders import load_bars
from trading.execution.paper import PaperExecutionClient
from trading.live import StrategyHost
from trading.live.loop import LiveLoop
from trading.model.fills import Fill
from trading.sim.sessions import infer_bar_interval
from trading.strategy import StrategyType, build_config

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
DAY = DATA / "backtrader" / "2006-day-001.txt"
MIN5 = DATA / "backtrader" / "2006-min-005.txt"
SP500_MINUTE = DATA / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
NEW_YORK = "America/New_York"

ORB_PARAMS: dict[str, Any] = {"timezone": NEW_YORK, "allow_short": True, "exit_time": "15:30"}
ORB_SPEC: dict[str, Any] = {"timezone": NEW_YORK, "session": "09:30-16:00"}

_SERIES: dict[tuple[Path, str], BarSeries] = {}


def series_for(path: Path, tz: str = "UTC") -> BarSeries:
    key = (path, tz)
    if key not in _SERIES:
        _SERIES[key] = load_bars(path, tz=tz)
    return _SERIES[key]


def fill_key(fill: Fill) -> tuple[object, ...]:
    return (fill.ts, fill.side.value, fill.quantity, fill.price, fill.commission, fill.client_order_id)


def build_live(
    spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries, **host_options: Any
) -> tuple[LiveLoop, StrategyHost]:
    instrument = build_instrument(spec, series)
    config = build_config(strategy_class, {"instrument_id": str(instrument.id), "size": spec.size, **spec.params})
    venue = PaperExecutionClient(
        "paper",
        [instrument],
        starting_cash=Decimal(spec.cash),
        currency=instrument.currency,
        sim=spec.sim_config(),
        bar_interval_ns=infer_bar_interval(series.ts),
    )
    loop = LiveLoop(venue)
    host = StrategyHost(strategy_class(config), instrument, **host_options)
    loop.add_strategy(host)
    return loop, host


def run_live(spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries) -> tuple[LiveLoop, StrategyHost]:
    """Replays `series` through a `LiveLoop` bar by bar; returns the loop and its host at the end."""
    loop, host = build_live(spec, strategy_class, series)
    asyncio.run(loop.run((host.instrument_id, bar) for bar in series.bars()))
    loop.stop()
    return loop, host


def backtest(spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries) -> BacktestResult:
    return run_backtest(spec, strategy_class, series)


def feed(loop: LiveLoop, host: StrategyHost, bars: list[Bar]) -> None:
    """Hand `bars` of the host's instrument to the loop, one at a time on the replay clock."""
    asyncio.run(loop.run((host.instrument_id, bar) for bar in bars))


def reconciliation(loop: LiveLoop) -> ReconciliationReport:
    return asyncio.run(loop.venue.reconcile(0))
