"""Walk-forward optimization: per in-sample window pick the best cell, run it out of sample, stitch.

The in-sample grid runs as ordinary sweep cells (one per window). Here the winner of each (data file,
strategy, window) is chosen by the sweep's metric from the streamed results, evaluated on the following
out-of-sample window on Ray, and the out-of-sample equity curves are chained into one: each window starts
where the previous one ended. In-sample and out-of-sample figures sit side by side, so overfitting shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipelines.plan import SweepPlan
from pipelines.results import metric_value
from pipelines.windows import Window
from trading.stats import compute_statistics


@dataclass(frozen=True)
class WindowResult:
    data: str
    strategy: str
    window: int
    train: tuple[int, int]
    test: tuple[int, int]
    best_params: dict[str, Any]
    is_metric: float | None
    is_return_pct: float | None
    oos_metric: float | None
    oos_return_pct: float | None
    oos_trades: int | None
    engine: str


@dataclass(frozen=True)
class StitchedResult:
    data: str
    strategy: str
    windows: int
    bars: int
    total_return_pct: float | None
    sharpe: float | None
    max_drawdown_pct: float | None
    mean_is_metric: float | None
    mean_oos_metric: float | None


@dataclass
class WalkForwardReport:
    metric: str
    anchored: bool
    train_bars: int
    test_bars: int
    windows: list[WindowResult] = field(default_factory=list)
    stitched: list[StitchedResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_winners(
    rows: Iterable[dict[str, Any]], metric: str, *, minimize: bool
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The best finished row per (data, strategy, window) by `metric`; ties go to the smaller cell id."""
    best: dict[tuple[str, str, int], tuple[float, dict[str, Any]]] = {}
    sign = -1.0 if minimize else 1.0
    for row in rows:
        value = metric_value(row, metric)
        if value is None or row["window"] < 0:
            continue
        key = (row["data"], row["strategy"], int(row["window"]))
        score = sign * value
        held = best.get(key)
        if held is None or score > held[0] or (score == held[0] and row["cell_id"] < held[1]["cell_id"]):
            best[key] = (score, row)
    return {key: row for key, (_, row) in best.items()}


# Runs out-of-sample jobs, (dataset index, cell descriptor) each, in order: in this process or on Ray.
OutOfSample = Callable[[SweepPlan, list[tuple[int, dict[str, Any]]]], list[dict[str, Any]]]


def run_walk_forward(plan: SweepPlan, rows: Iterable[dict[str, Any]], evaluate: OutOfSample) -> WalkForwardReport:
    """Choose each window's winner from the in-sample `rows`, run it out of sample with `evaluate`, stitch the
    curves."""
    config = plan.config
    assert plan.windows is not None and config.walk_forward is not None
    windows: dict[int, Window] = {w.index: w for w in plan.windows}
    winners = pick_winners(rows, config.metric, minimize=config.minimize)
    data_index = {d.path: i for i, d in enumerate(plan.datasets)}
    keys = sorted(winners)
    jobs = []
    for data, strategy, index in keys:
        winner = winners[(data, strategy, index)]
        w = windows[index]
        cell = {"data": data, "strategy": strategy, "params": winner["params"], "start": w.test_start,
                "stop": w.test_stop}
        jobs.append((data_index[data], cell))
    outcomes = evaluate(plan, jobs)
    report = WalkForwardReport(config.metric, config.walk_forward.anchored, config.walk_forward.train,
                               config.walk_forward.test)
    curves: dict[tuple[str, str], list[tuple[dict[str, Any], WindowResult]]] = {}
    for (data, strategy, index), outcome in zip(keys, outcomes, strict=True):
        winner = winners[(data, strategy, index)]
        w = windows[index]
        result = WindowResult(
            data=data,
            strategy=strategy,
            window=index,
            train=w.train,
            test=w.test,
            best_params=json.loads(winner["params"]),
            is_metric=metric_value(winner, config.metric),
            is_return_pct=winner.get("total_return_pct"),
            oos_metric=_finite(outcome["final_value"] if config.metric == "final_value"
                               else outcome["stats"].get(config.metric)),
            oos_return_pct=_finite(outcome["stats"].get("total_return_pct")),
            oos_trades=outcome["stats"].get("trades"),
            engine=outcome["engine"],
        )
        report.windows.append(result)
        curves.setdefault((data, strategy), []).append((outcome, result))
    cash = float(config.base.cash)
    for (data, strategy), parts in sorted(curves.items()):
        report.stitched.append(stitch(data, strategy, parts, cash))
    return report


def stitch(data: str, strategy: str, parts: list[tuple[dict[str, Any], WindowResult]], cash: float) -> StitchedResult:
    """Chain the out-of-sample curves: each window's returns applied to where the previous window ended."""
    level = cash
    equities = []
    stamps = []
    for outcome, _ in sorted(parts, key=lambda p: p[1].window):
        segment = np.asarray(outcome["equity"], dtype=np.float64) / cash * level
        equities.append(segment)
        stamps.append(np.asarray(outcome["ts"], dtype=np.int64))
        level = float(segment[-1])
    equity = np.concatenate(equities)
    stats = compute_statistics(
        ts_ns=np.concatenate(stamps), equity=equity, trades=[], fees_paid=0.0,
        traded_notional=0.0, bars_in_market=0,
    )
    results = [r for _, r in parts]
    return StitchedResult(
        data=data,
        strategy=strategy,
        windows=len(parts),
        bars=len(equity),
        total_return_pct=_finite((level / cash - 1.0) * 100.0),
        sharpe=_finite(stats.sharpe),
        max_drawdown_pct=_finite(stats.max_drawdown_pct),
        mean_is_metric=_mean(r.is_metric for r in results),
        mean_oos_metric=_mean(r.oos_metric for r in results),
    )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
