"""Ray Data research jobs: parameter sweeps and walk-forward optimization over the core backtester.

Modules, each with one job:

- `backtest`: the entry point (`dto sweep`, `python -m pipelines.backtest`): parse, plan, run, report.
- `config`: the command line and YAML config (same keys) into a validated `SweepConfig`.
- `grid`: `key=v1,v2` / `key=start:stop:step` parameter axes, expanded lazily.
- `plan`: datasets x strategies x grid x windows as validated cells with stable ids.
- `windows`: walk-forward window arithmetic (rolling or anchored, in bars).
- `evaluation`: one cell on the core backtester (vectorized fast path or event engine) into a result row.
- `sweep`: the Ray Data fan-out; results stream into Parquet parts.
- `results`: the results folder (atomic parts, finished cell ids, summary, top N).
- `walk_forward`: per-window winners, out-of-sample runs, the stitched out-of-sample curve.
- `cluster`: start or join Ray; `report`: terminal tables.

Only `sweep`, `walk_forward`, `cluster` (and `backtest` through them) import Ray.
"""

from __future__ import annotations

__all__: list[str] = []
