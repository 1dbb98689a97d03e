"""`dto sweep` and `python -m pipelines.backtest`: a parameter sweep (optionally walk-forward), here or on Ray.

Where it runs (`--executor auto`): a local grid that fits one worker (a few seconds of one CPU; see
`IN_PROCESS_CELL_BARS`) runs in this process and never starts Ray, because starting Ray costs more than such
a grid's whole work; a bigger one starts a private local Ray; with `--address`, or under `ray job submit`,
it runs on that cluster:

    ray job submit --runtime-env runtime_env.yaml -- python -m pipelines.backtest --config sweeps/sma_grid.yaml

Every mistake the user can fix (unknown strategy or parameter, grid syntax, missing file, unknown config
key) is reported in one line naming the key, with exit status 2, before Ray starts or any cell runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pipelines.cluster import cluster_named, ray_session
from pipelines.config import SweepConfig, parse_config
from pipelines.in_process import out_of_sample_here, run_pending_here
from pipelines.plan import SweepPlan, plan_sweep
from pipelines.progress import Progress
from pipelines.report import top_table, walk_forward_tables
from pipelines.results import ResultStore, cell_json, top_rows
from pipelines.walk_forward import WalkForwardReport, run_walk_forward
from trading.errors import TradingError

EXIT_USAGE = 2
WALK_FORWARD_FILE = "walk_forward.json"
# The most work (cells x bars) a local sweep runs in this process: about 10 s of one CPU on the vectorized
# path (measured ~10 M cell-bars/s), which is what starting a local Ray and a Ray Data job costs, so Ray's
# other CPUs could not win it back. The event engine simulates ~50x fewer bars per second.
IN_PROCESS_CELL_BARS = 100_000_000
IN_PROCESS_EVENT_CELL_BARS = 2_000_000


def runs_in_process(plan: SweepPlan) -> bool:
    """Whether `plan` runs in this process (see the module docstring) rather than on Ray."""
    config = plan.config
    if config.executor != "auto":
        return config.executor == "process"
    if cluster_named(config.address):
        return False
    limit = IN_PROCESS_EVENT_CELL_BARS if plan.event_driven else IN_PROCESS_CELL_BARS
    return plan.cell_bars <= limit


@dataclass
class SweepOutcome:
    """What a sweep did; the rows themselves stay in the results folder."""

    out: Path
    total: int  # valid cells in the grid
    invalid: int  # combinations the strategy rejects (skipped, counted)
    resumed: int  # cells finished by an earlier run into the same folder, not run again
    ran: int
    errors: int
    elapsed_s: float
    top: list[dict[str, Any]]
    walk_forward: WalkForwardReport | None
    cell_ids: set[str]

    @property
    def cells_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def rows(self) -> Iterator[dict[str, Any]]:
        return ResultStore(self.out).iter_rows(self.cell_ids)


def run_sweep(
    plan: SweepPlan, out: Path, *, progress_stream: TextIO | None = sys.stderr, in_process: bool = False
) -> SweepOutcome:
    """Run the cells of `plan` not yet finished in `out`, then summarize: in this process, or on the
    connected Ray cluster."""
    started = time.perf_counter()
    config = plan.config
    store = ResultStore(out)
    wanted = {cell["cell_id"] for cell in plan.cells()}
    done = store.finished_ids() & wanted
    progress = Progress(total=len(wanted), done=len(done), stream=progress_stream)
    progress.start()
    if in_process:
        ran = run_pending_here(plan, store, done, progress)
    else:
        from pipelines.sweep import run_pending  # noqa: PLC0415  # loads Ray Data: only when it is used

        ran = run_pending(plan, store, done, progress)
    store.write_summary(wanted)
    errors = sum(1 for row in store.iter_rows(wanted) if row["status"] != "ok")
    top = top_rows(store.iter_rows(wanted), config.metric, config.top, minimize=config.minimize)
    walk_forward = None
    if plan.windows is not None:
        if in_process:
            walk_forward = run_walk_forward(plan, store.iter_rows(wanted), out_of_sample_here)
        else:
            from pipelines.sweep import out_of_sample_on_ray  # noqa: PLC0415

            walk_forward = run_walk_forward(plan, store.iter_rows(wanted), out_of_sample_on_ray)
        (out / WALK_FORWARD_FILE).write_text(json.dumps(walk_forward.to_dict(), indent=2))
    return SweepOutcome(
        out=out,
        total=len(wanted),
        invalid=plan.invalid_cells,
        resumed=len(done),
        ran=ran,
        errors=errors,
        elapsed_s=time.perf_counter() - started,
        top=top,
        walk_forward=walk_forward,
        cell_ids=wanted,
    )


def print_json(outcome: SweepOutcome, config: SweepConfig, stream: TextIO | None = None) -> None:
    """One JSON object; the `cells` list is streamed row by row so a big grid never sits in memory."""
    stream = stream or sys.stdout
    head = {
        "elapsed_s": round(outcome.elapsed_s, 3),
        "cells_per_s": round(outcome.cells_per_s, 3),
        "total_cells": outcome.total,
        "ran": outcome.ran,
        "resumed": outcome.resumed,
        "invalid_skipped": outcome.invalid,
        "errors": outcome.errors,
        "metric": config.metric,
        "out": str(outcome.out) if config.out is not None else None,
        "top": [cell_json(row) for row in outcome.top],
        "walk_forward": outcome.walk_forward.to_dict() if outcome.walk_forward is not None else None,
    }
    stream.write(json.dumps(head, allow_nan=False)[:-1] + ', "cells": [')
    for i, row in enumerate(outcome.rows()):
        stream.write((", " if i else "") + json.dumps(cell_json(row), allow_nan=False))
    stream.write("]}\n")
    stream.flush()


def print_text(outcome: SweepOutcome, config: SweepConfig, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print(
        f"Sweep: {outcome.total:,} cells ({outcome.ran:,} run, {outcome.resumed:,} already done, "
        f"{outcome.invalid:,} invalid combinations skipped, {outcome.errors:,} errors) in {outcome.elapsed_s:.1f} s, "
        f"{outcome.cells_per_s:,.1f} cells/s",
        file=stream,
    )
    if config.out is not None:
        print(f"Results: {outcome.out}/parts/*.parquet, summary {outcome.out}/summary.parquet", file=stream)
    if outcome.top:
        print(f"\nTop {len(outcome.top)} by {config.metric}", file=stream)
        print(top_table(outcome.top, config.metric), file=stream)
    if outcome.walk_forward is not None:
        print("\n" + walk_forward_tables(outcome.walk_forward), file=stream)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, validate, run, report. Returns the process exit status."""
    try:
        config = parse_config(argv)
        plan = plan_sweep(config)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except (TradingError, ValueError, OSError) as exc:
        print(f"dto sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with tempfile.TemporaryDirectory(prefix="dto-sweep-") as scratch:
            out = config.out if config.out is not None else Path(scratch)
            progress = sys.stderr if config.progress else None
            if runs_in_process(plan):
                outcome = run_sweep(plan, out, progress_stream=progress, in_process=True)
            else:
                with ray_session(config.address, config.num_cpus):
                    outcome = run_sweep(plan, out, progress_stream=progress)
            if config.json:
                print_json(outcome, config)
            else:
                print_text(outcome, config)
    except (TradingError, OSError) as exc:
        print(f"dto sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return 1 if outcome.total and outcome.errors == outcome.total else 0


if __name__ == "__main__":
    raise SystemExit(main())
