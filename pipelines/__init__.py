"""Research jobs: parameter sweeps and walk-forward optimization over the core backtester, here or on Ray Data.

Modules, each with one job:

- `backtest`: the entry point (`dto sweep`, `python -m pipelines.backtest`): parse, plan, choose where to run,
  run, report.
- `config`: the command line and YAML config (same keys) into the core's `SweepSettings`, then a validated
  `SweepConfig`.
- `grid`: `key=v1,v2` / `key=start:stop:step` parameter axes, expanded lazily.
- `plan`: datasets x strategies x grid x windows as validated cells with stable ids.
- `windows`: walk-forward window arithmetic (rolling or anchored, in bars).
- `evaluation`: one cell on the core backtester (vectorized fast path or event engine) into a result row.
- `in_process`: a sweep that fits one worker, run in this process (no Ray).
- `sweep`: the Ray Data fan-out; results stream into Parquet parts.
- `progress`: the progress line on stderr.
- `results`: the results folder (atomic parts, finished cell ids, summary, top N).
- `walk_forward`: per-window winners, out-of-sample runs, the stitched out-of-sample curve.
- `cluster`: start or join Ray; `report`: terminal tables.

Only `sweep` imports Ray when it is imported (`cluster` when it starts or joins a cluster), so a sweep that runs
in process never loads it.
"""

from __future__ import annotations

__all__: list[str] = []
