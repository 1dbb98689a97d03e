"""One sweep cell run on the core backtester, reduced to a flat result row (no equity curve, no fills).

Pure Python over core objects: the Ray batch function calls it per cell, and tests call it directly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trading.backtest.runner import BacktestSpec, run_backtest, run_vectorized
from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.stats import Statistics
from trading.strategy import StrategyType

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


def run_cell(spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries, engine: str) -> CellOutcome:
    """Run one cell: the vectorized fast path when it applies (`auto`) or is forced (`vector`), else events."""
    if engine in ("auto", "vector"):
        fast = run_vectorized(spec, strategy_class, series)
        if fast is not None:
            return CellOutcome("vector", float(fast.final_value), fast.stats, fast.equity)
        if engine == "vector":
            raise ConfigError(f"strategy {spec.strategy} with these options has no vectorized path", key="engine")
    result = run_backtest(spec, strategy_class, series)
    return CellOutcome("event", float(result.final_value), result.stats, result.equity)


def result_row(cell: dict[str, Any], spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries,
               engine: str, node_id: str) -> dict[str, Any]:
    """The output row of `cell` (a descriptor row); a cell that fails is recorded with its error."""
    started = time.perf_counter()
    row: dict[str, Any] = {key: cell[key] for key in ("cell_id", "data", "strategy", "params", "window", "start",
                                                       "stop")}
    row["node_id"] = node_id
    try:
        outcome = run_cell(spec, strategy_class, series, engine)
    except (ValueError, ArithmeticError) as exc:  # ConfigError, DataError and InvalidValue are ValueErrors
        row.update(engine=engine, status="error", error=str(exc), final_value=None)
        row.update(dict.fromkeys(STAT_FIELDS))
    else:
        row.update(engine=outcome.engine, status="ok", error="", final_value=outcome.final_value)
        row.update(outcome.stats.to_dict())
    row["elapsed_s"] = time.perf_counter() - started
    return row


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
