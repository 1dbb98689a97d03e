"""The report of a training run: model choice, in-sample vs out-of-sample scores and backtests side by side."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from trading.ml.registry import TrainingWindow, iso
from trading.ml.scoring import jsonable

BACKTEST_ROWS = (
    ("total_return_pct", "total return %", "{:.2f}"),
    ("sharpe", "sharpe", "{:.2f}"),
    ("max_drawdown_pct", "max drawdown %", "{:.2f}"),
    ("trades", "trades", "{:.0f}"),
    ("win_rate_pct", "win rate %", "{:.1f}"),
    ("exposure_pct", "exposure %", "{:.1f}"),
)
SCORE_ROWS = (("accuracy", "accuracy", "{:.4f}"), ("auc", "AUC", "{:.4f}"), ("log_loss", "log loss", "{:.4f}"),
              ("base_rate", "share of +1 labels", "{:.3f}"), ("samples", "samples", "{:,.0f}"))


@dataclass(frozen=True)
class BacktestRun:
    """One backtest of the trained strategy on one instrument over one period."""

    instrument: str
    period: str  # "in_sample" or "out_of_sample"
    first_ts: int
    last_ts: int
    bars: int
    stats: dict[str, Any]


@dataclass
class TrainingReport:
    name: str
    version: int
    kind: str
    params: dict[str, Any]
    metric: str
    registry: str
    training_window: TrainingWindow
    holdout_first_ts: int
    candidates: list[dict[str, Any]]
    folds: list[dict[str, Any]]
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]
    backtests: list[BacktestRun] = field(default_factory=list)
    warning: str = ""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["training_window"] = self.training_window.model_dump()
        data["holdout_first"] = iso(self.holdout_first_ts)
        data["in_sample"] = jsonable(self.in_sample)
        data["out_of_sample"] = jsonable(self.out_of_sample)
        data["candidates"] = [{**c, "mean": _finite(c["mean"]), "folds": [jsonable(f) for f in c["folds"]]}
                              for c in self.candidates]
        data["backtests"] = [{**asdict(b), "stats": jsonable(b.stats)} for b in self.backtests]
        return data


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def format_report(report: TrainingReport) -> str:
    window = report.training_window
    lines = [
        f"Model {report.name} version {report.version} in {report.registry}: {report.kind} {report.params}",
        f"Training window {window.first} .. {window.last}; out of sample from {iso(report.holdout_first_ts)}",
        "",
        f"Cross-validation ({len(report.folds)} purged walk-forward folds), mean {report.metric} per candidate:",
    ]
    for c in report.candidates:
        marker = "*" if c["chosen"] else " "
        lines.append(f" {marker} {c['model']:<60} {_cell(c['mean'], '{:.4f}'):>8}   fit {c['fit_s']:.2f} s")
    lines += ["", f"{'':<24}{'in-sample':>14}{'out-of-sample':>16}"]
    for key, title, fmt in SCORE_ROWS:
        left, right = _cell(report.in_sample.get(key), fmt), _cell(report.out_of_sample.get(key), fmt)
        lines.append(f"{title:<24}{left:>14}{right:>16}")
    instruments = sorted({b.instrument for b in report.backtests})
    for instrument in instruments:
        runs = {b.period: b for b in report.backtests if b.instrument == instrument}
        ins, oos = runs.get("in_sample"), runs.get("out_of_sample")
        lines.append(f"backtest {instrument}")
        for key, title, fmt in BACKTEST_ROWS:
            left = _cell(ins.stats.get(key), fmt) if ins else "-"
            right = _cell(oos.stats.get(key), fmt) if oos else "-"
            lines.append(f"  {title:<22}{left:>14}{right:>16}")
        if oos is not None:
            lines.append(f"  out-of-sample bars {oos.bars:,}: {iso(oos.first_ts)} .. {iso(oos.last_ts)}")
    if report.warning:
        lines += ["", report.warning]
    lines.append(f"\nTrained in {report.elapsed_s:.1f} s")
    return "\n".join(lines)
