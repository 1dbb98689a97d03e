"""One sweep cell run on the core backtester, reduced to a flat result row (no equity curve, no fills).

Pure Python over core objects: the Ray batch function and the in-process runner call it per cell (through
`CellRunner`, which works out what every cell on the same bars shares once), and tests call it directly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from strategies import resolve_strategy
from trading.backtest.runner import BacktestSpec, run_backtest, run_vectorized
from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.stats import Statistics, infer_periods_per_year
from trading.strategy import Strategy, StrategyType

Engine = Literal["auto", "vector", "event"]
FloatArray = npt.NDArray[np.float64]
ENGINES: tuple[str, ...] = ("auto", "vector", "event")

STAT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Statistics))
_INT_STATS = frozenset({"max_drawdown_duration_bars", "trades"})

# Every part file has exactly this schema, so a sweep's parts read back as one table.
RESULT_SCHEMA = pa.schema(
    [
        pa.field("cell_id", pa.string()),
        pa.field("data", pa.string()),
        pa.field("strategy", pa.string()),
        pa.field("params", pa.string()),  # JSON object, sorted keys, typed values
        pa.field("window", pa.int32()),  # walk-forward window index, -1 for the whole series
        pa.field("start", pa.int64()),
        pa.field("stop", pa.int64()),
        pa.field("engine", pa.string()),  # the engine that actually ran: vector or event
        pa.field("status", pa.string()),  # ok or error
        pa.field("error", pa.string()),
        pa.field("final_value", pa.float64()),
        pa.field("node_id", pa.string()),
        pa.field("elapsed_s", pa.float64()),
    ]
    + [pa.field(name, pa.int64() if name in _INT_STATS else pa.float64()) for name in STAT_FIELDS]
)


@dataclass(frozen=True)
class CellOutcome:
    engine: str  # the engine that ran: vector or event
    final_value: float
    stats: Statistics
    equity: FloatArray  # dropped before results leave a worker, except for walk-forward out-of-sample runs


def run_cell(
    spec: BacktestSpec,
    strategy_class: StrategyType,
    series: BarSeries,
    engine: str,
    periods_per_year: float | None = None,
) -> CellOutcome:
    """Run one cell: the vectorized fast path when it applies (`auto`) or is forced (`vector`), else events.

    `periods_per_year`: the bars' own figure (inferred when None), so that cells on the same bars share it."""
    if engine in ("auto", "vector"):
        fast = run_vectorized(spec, strategy_class, series, periods_per_year)
        if fast is not None:
            return CellOutcome("vector", float(fast.final_value), fast.stats, fast.equity)
        if engine == "vector":
            raise ConfigError(f"strategy {spec.strategy} with these options has no vectorized path", key="engine")
    result = run_backtest(spec, strategy_class, series)
    return CellOutcome("event", float(result.final_value), result.stats, result.equity)


def has_signal_rules(strategy_class: StrategyType) -> bool:
    """Whether the strategy class offers long-only signals for the fast path (a config may still decline)."""
    return strategy_class.signals is not Strategy.signals


def result_row(cell: dict[str, Any], spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries,
               engine: str, node_id: str, periods_per_year: float | None = None) -> dict[str, Any]:
    """The output row of `cell` (a descriptor row); a cell that fails is recorded with its error."""
    started = time.perf_counter()
    row: dict[str, Any] = {key: cell[key] for key in ("cell_id", "data", "strategy", "params", "window", "start",
                                                       "stop")}
    row["node_id"] = node_id
    try:
        outcome = run_cell(spec, strategy_class, series, engine, periods_per_year)
    except (ValueError, ArithmeticError) as exc:  # ConfigError, DataError and InvalidValue are ValueErrors
        row.update(engine=engine, status="error", error=str(exc), final_value=None)
        row.update(dict.fromkeys(STAT_FIELDS))
    else:
        row.update(engine=outcome.engine, status="ok", error="", final_value=outcome.final_value)
        row.update(outcome.stats.to_dict())
    row["elapsed_s"] = time.perf_counter() - started
    return row


def cell_spec(base: BacktestSpec, tick_size: str, cell: Mapping[str, Any]) -> BacktestSpec:
    """The BacktestSpec of one cell descriptor, from the sweep's run options and the dataset's tick size."""
    return replace(
        base,
        data=str(cell["data"]),
        strategy=str(cell["strategy"]),
        params=json.loads(str(cell["params"])),
        tick_size=base.tick_size if base.tick_size is not None else Decimal(tick_size),
    )


@dataclass(frozen=True)
class SweepData:
    """One dataset of a sweep as a worker sees it: its bars and the tick size inferred once at planning."""

    series: BarSeries
    tick_size: str


class CellRunner:
    """Runs sweep cells (descriptor rows) against their datasets, in whatever process holds the data.

    What every cell on the same bars shares is worked out once per (dataset, window) and reused: the window
    itself and its periods per year (inferring that reads every timestamp, which cost more than simulating a
    cell). The strategies' indicators are per cell: a TA-Lib average over 120,000 bars costs 0.3 ms.
    """

    def __init__(self, base: BacktestSpec, datasets: Mapping[int, SweepData], engine: str, node_id: str = "") -> None:
        self.base = base
        self.datasets = datasets
        self.engine = engine
        self.node_id = node_id
        self._windows: dict[tuple[int, int, int], tuple[BarSeries, float]] = {}

    def window(self, data_index: int, start: int, stop: int) -> tuple[BarSeries, float]:
        """The bars of one cell's window and their periods per year."""
        key = (data_index, start, stop)
        known = self._windows.get(key)
        if known is None:
            series = self.datasets[data_index].series.slice(start, stop)
            known = self._windows[key] = (series, infer_periods_per_year(series.ts))
        return known

    def spec(self, cell: dict[str, Any]) -> BacktestSpec:
        """The BacktestSpec of one cell descriptor, from the sweep's run options and the dataset's tick size."""
        return cell_spec(self.base, self.datasets[int(cell["data_index"])].tick_size, cell)

    def run(self, cells: Iterable[dict[str, Any]]) -> pa.Table:
        """The result rows of `cells`, as one table in the results schema."""
        rows = []
        for cell in cells:
            spec = self.spec(cell)
            series, periods = self.window(int(cell["data_index"]), int(cell["start"]), int(cell["stop"]))
            rows.append(result_row(cell, spec, resolve_strategy(spec.strategy), series, self.engine, self.node_id,
                                   periods))
        return rows_to_table(rows)


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def out_of_sample(base: BacktestSpec, tick_size: str, cell: dict[str, Any], series: BarSeries,
                  engine: str) -> dict[str, Any]:
    """One walk-forward out-of-sample run, with its equity curve (one window: small) for stitching."""
    spec = cell_spec(base, tick_size, cell)
    window = series.slice(int(cell["start"]), int(cell["stop"]))
    outcome = run_cell(spec, resolve_strategy(spec.strategy), window, engine)
    return {"engine": outcome.engine, "final_value": outcome.final_value, "stats": outcome.stats.to_dict(),
            "equity": outcome.equity, "ts": window.ts}
