"""Plain-text tables of a sweep's outcome for the terminal."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from pipelines.walk_forward import WalkForwardReport


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def top_table(rows: Sequence[dict[str, Any]], metric: str) -> str:
    columns = ["final_value", "total_return_pct", "sharpe", "max_drawdown_pct", "trades"]
    shown = columns if metric in columns else [metric, *columns]
    header = ["#", "data", "strategy", "params", *shown]
    body = [
        [
            str(i),
            os.path.basename(row["data"]),
            row["strategy"],
            ",".join(f"{k}={v}" for k, v in json.loads(row["params"]).items()),
            *(_num(row.get(name), 4 if name == metric else 2) for name in shown),
        ]
        for i, row in enumerate(rows, 1)
    ]
    return _table(header, body)


def walk_forward_tables(report: WalkForwardReport) -> str:
    metric = report.metric
    kind = "anchored" if report.anchored else "rolling"
    header = ["data", "strategy", "window", "train bars", "test bars", "best params", f"IS {metric}",
              f"OOS {metric}", "IS return %", "OOS return %"]
    body = [
        [
            os.path.basename(w.data), w.strategy, str(w.window), f"{w.train[0]}-{w.train[1]}",
            f"{w.test[0]}-{w.test[1]}", ",".join(f"{k}={v}" for k, v in w.best_params.items()),
            _num(w.is_metric, 4), _num(w.oos_metric, 4), _num(w.is_return_pct), _num(w.oos_return_pct),
        ]
        for w in report.windows
    ]
    stitched_header = ["data", "strategy", "windows", "OOS bars", "OOS return %", "OOS sharpe", "OOS max dd %",
                       f"mean IS {metric}", f"mean OOS {metric}"]
    stitched = [
        [os.path.basename(s.data), s.strategy, str(s.windows), f"{s.bars:,}", _num(s.total_return_pct),
         _num(s.sharpe), _num(s.max_drawdown_pct), _num(s.mean_is_metric, 4), _num(s.mean_oos_metric, 4)]
        for s in report.stitched
    ]
    return (f"Walk-forward ({kind}, train {report.train_bars:,} bars, test {report.test_bars:,} bars), "
            f"winner per window by {metric}\n{_table(header, body)}\n\nStitched out-of-sample\n"
            f"{_table(stitched_header, stitched)}")


def _table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.rjust(w) if c[:1].isdigit() or c[:1] == "-" else c.ljust(w)
                        for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)
