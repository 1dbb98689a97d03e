"""The Ray side of a sweep: cells fan out through Ray Data, results stream back into Parquet parts.

The price data goes into the object store once per file (`ray.put`); each Ray Data task gets a batch of
cell descriptors plus the references, runs the core backtester on every cell and returns one flat row per
cell. A job has as few tasks as the batch cap allows (a multiple of the CPUs) and the cells are dealt to
them by estimated cost, so the CPUs finish together instead of one waiting on a costlier share. The driver
iterates the output block by block and writes each block as one part file, so memory stays bounded by a
few blocks however large the grid is. Big grids run as several Ray Data jobs of at most
`MAX_CELLS_PER_JOB` descriptors, so not even the descriptors of the whole grid are held at once.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, cast

import pyarrow as pa
import ray
from ray.data import DataContext
from threadpoolctl import threadpool_limits

from pipelines.evaluation import result_row, rows_to_table, run_cell
from pipelines.plan import SweepPlan, cell_spec
from pipelines.results import ResultStore
from strategies import resolve_strategy
from trading.backtest.runner import BacktestSpec
from trading.data.bars import BarSeries

MAX_CELLS_PER_JOB = 20_000
_DESCRIPTOR_COLUMNS = ("cell_id", "data_index", "data", "strategy", "params", "window", "start", "stop")


def run_cell_batch(
    batch: pa.Table,
    *,
    base: BacktestSpec,
    tick_sizes: Sequence[str],
    series_refs: Sequence[ray.ObjectRef[BarSeries]],
    engine: str,
) -> pa.Table:
    """Ray Data batch function: run every cell of `batch` (descriptor rows) and return their result rows."""
    node_id = ray.get_runtime_context().get_node_id()
    cells = batch.to_pylist()
    needed = sorted({int(c["data_index"]) for c in cells})
    # Zero-copy views of the shared arrays in the object store; fetched once per batch, not per cell.
    series: dict[int, BarSeries] = dict(zip(needed, ray.get([series_refs[i] for i in needed]), strict=True))
    rows = []
    # Ray gave this task one CPU: keep numeric libraries' thread pools to it, or they oversubscribe the node.
    with threadpool_limits(limits=1):
        for cell in cells:
            index = int(cell["data_index"])
            spec = cell_spec(base, tick_sizes[index], cell)
            window = series[index].slice(int(cell["start"]), int(cell["stop"]))
            rows.append(result_row(cell, spec, resolve_strategy(spec.strategy), window, engine, node_id))
    return rows_to_table(rows)


@dataclass
class Progress:
    """Cells done / total and the rate, on stderr, at most about once a second."""

    total: int
    done: int = 0
    stream: TextIO | None = sys.stderr
    started: float = 0.0
    last: float = 0.0
    ran: int = 0
    shown: int = -1

    def start(self) -> None:
        self.started = self.last = time.perf_counter()
        self.show(force=True)

    def add(self, cells: int) -> None:
        self.done += cells
        self.ran += cells
        self.show()

    def show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.stream is None or self.shown == self.done:
            return
        if not force and now - self.last < 1.0 and self.done < self.total:
            return
        self.last, self.shown = now, self.done
        rate = self.ran / (now - self.started) if now > self.started else 0.0
        pct = self.done / self.total * 100 if self.total else 100.0
        print(f"sweep: {self.done:,}/{self.total:,} cells ({pct:.0f}%), {rate:,.1f} cells/s",
              file=self.stream, flush=True)


def quiet_ray_data() -> None:
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # With reservation on, Ray Data holds back part of a small cluster's CPUs per operator; a sweep is a
    # single map over tiny descriptor blocks, so that reserve only leaves CPUs idle (measured: 1 of 2 busy).
    context.op_resource_reservation_enabled = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _chunks(cells: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(cells, size)):
        yield chunk


def cell_cost(cell: dict[str, Any]) -> int:
    """A cell's estimated cost: its bars. Both engines are linear in bars; the parameters' share of the cost
    is unknown here (for sma_cross, short windows trade more and run up to 1.4x longer)."""
    return int(cell["stop"]) - int(cell["start"])


def deal_cells(cells: list[dict[str, Any]], tasks: int) -> list[list[dict[str, Any]]]:
    """Split `cells` into `tasks` shares of near-equal cost (cell counts differ by at most one).

    The costliest cells go first, dealt in snake order (0, 1, ..., n-1, n-1, ..., 0). Cells of equal bars
    keep their grid order, where neighbours cost alike, so each share gets its part of every stretch of the
    grid. Consecutive ranges did not balance: the first half of the 100-cell benchmark grid (the short fast
    windows) costs 7% more CPU than the second, and the 2-CPU job waited on it.
    """
    shares: list[list[dict[str, Any]]] = [[] for _ in range(tasks)]
    for i, cell in enumerate(sorted(cells, key=cell_cost, reverse=True)):  # sorted() is stable
        lap, seat = divmod(i, tasks)
        shares[seat if lap % 2 == 0 else tasks - 1 - seat].append(cell)
    return shares


def task_count(cells: int, batch_size: int, cpus: int) -> int:
    """As few tasks as `batch_size` allows, rounded up to a multiple of the CPUs so that every round of
    tasks keeps every CPU busy; never more tasks than cells."""
    tasks = math.ceil(cells / batch_size)
    return min(cells, math.ceil(tasks / cpus) * cpus)


def cluster_cpus() -> int:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


def run_pending(plan: SweepPlan, store: ResultStore, done: set[str], progress: Progress) -> int:
    """Run every cell of `plan` whose id is not in `done`; returns how many cells ran."""
    quiet_ray_data()
    config = plan.config
    refs = [ray.put(d.series) for d in plan.datasets]
    run_batch = functools.partial(
        run_cell_batch,
        base=config.base,
        tick_sizes=[d.tick_size for d in plan.datasets],
        series_refs=refs,
        engine=config.engine,
    )
    cpus = cluster_cpus()
    pending = (c for c in plan.cells() if c["cell_id"] not in done)
    ran = 0
    for chunk in _chunks(pending, MAX_CELLS_PER_JOB):
        shares = deal_cells(chunk, task_count(len(chunk), config.batch_size, cpus))
        # One Arrow table per share: each becomes one block, and each block one task (batch_size=None).
        blocks = [pa.Table.from_pylist([{k: c[k] for k in _DESCRIPTOR_COLUMNS} for c in share]) for share in shares]
        dataset = ray.data.from_arrow(blocks).map_batches(
            run_batch,
            batch_size=None,
            batch_format="pyarrow",
            compute=ray.data.TaskPoolStrategy(size=min(cpus, len(blocks))),
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            table = cast(pa.Table, batch)
            if table.num_rows:
                store.write_part(table)
                ran += table.num_rows
                progress.add(table.num_rows)
    progress.show(force=True)
    return ran


@ray.remote(num_cpus=1)
def evaluate_out_of_sample(
    base: BacktestSpec, tick_size: str, cell: dict[str, Any], series: BarSeries, engine: str
) -> dict[str, Any]:
    """One walk-forward out-of-sample run, with its equity curve (one window: small) for stitching."""
    spec = cell_spec(base, tick_size, cell)
    window = series.slice(int(cell["start"]), int(cell["stop"]))
    outcome = run_cell(spec, resolve_strategy(spec.strategy), window, engine)
    return {"engine": outcome.engine, "final_value": outcome.final_value, "stats": outcome.stats.to_dict(),
            "equity": outcome.equity, "ts": window.ts}
