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
import logging
import math
from collections.abc import Sequence
from typing import Any, cast

import pyarrow as pa
import ray
from ray.data import DataContext
from threadpoolctl import threadpool_limits

from pipelines.evaluation import CellRunner, SweepData, out_of_sample
from pipelines.in_process import chunks
from pipelines.plan import SweepPlan
from pipelines.progress import Progress
from pipelines.results import ResultStore
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
    fetched = ray.get([series_refs[i] for i in needed])
    datasets = {i: SweepData(series, tick_sizes[i]) for i, series in zip(needed, fetched, strict=True)}
    # Ray gave this task one CPU: keep numeric libraries' thread pools to it, or they oversubscribe the node.
    with threadpool_limits(limits=1):
        return CellRunner(base, datasets, engine, node_id).run(cells)


def quiet_ray_data() -> None:
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # With reservation on, Ray Data holds back part of a small cluster's CPUs per operator; a sweep is a
    # single map over tiny descriptor blocks, so that reserve only leaves CPUs idle (measured: 1 of 2 busy).
    context.op_resource_reservation_enabled = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


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
    for chunk in chunks(pending, MAX_CELLS_PER_JOB):
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
    """One walk-forward out-of-sample run on Ray (see `pipelines.evaluation.out_of_sample`)."""
    return out_of_sample(base, tick_size, cell, series, engine)


def out_of_sample_on_ray(plan: SweepPlan, jobs: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Walk-forward out-of-sample runs (dataset index, cell) as Ray tasks, the data shared once per file."""
    config = plan.config
    refs = {i: ray.put(plan.datasets[i].series) for i in sorted({i for i, _ in jobs})}
    futures = [
        evaluate_out_of_sample.remote(config.base, plan.datasets[i].tick_size, cell, refs[i], config.engine)
        for i, cell in jobs
    ]
    outcomes: list[dict[str, Any]] = ray.get(futures)
    return outcomes
