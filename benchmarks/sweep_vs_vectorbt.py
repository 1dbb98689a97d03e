"""Parameter-sweep speed: this project's Ray Data sweep vs vectorbt, 100 SMA-crossover cells on ~120,000 bars.

Grid: fast 5..50 step 5 x slow 60..150 step 10 (100 pairs), close fills (both fill on the signal bar's close),
size 1, no fees, 10,000 cash. Measured in one run on this machine:

- this project through the Ray Data pipeline (`pipelines.backtest.run_sweep`, local Ray, 2 CPUs; the Ray
  start is outside the timing, a warm-up job runs first; the median of the scaling runs below), and the
  in-process vectorized core alone (1 CPU);
- vectorbt: `vbt.MA.run` fast/slow (one column per pair), `ma_crossed_above/below` as entries/exits,
  `Portfolio.from_signals(close, entries, exits, size=1, init_cash=10000, fees=0)` (warm-up for numba first);
- final values compared cell by cell to the cent;
- scaling: the same sweep on two local Rays, 1 CPU and 2 CPUs, each in its own child process and both up
  for the whole measurement. After an untimed warm-up job on each, their timed runs alternate (1, 2, 2, 1,
  1, 2, ...), so a burst of load from elsewhere on the shared machine falls on both sides alike; efficiency
  = (median t1 / median t2) / 2, shown with the range of the runs, the CPUs other processes kept busy
  meanwhile, and the machine's own ceiling measured between the rounds (the same kind of numpy work in two
  processes at once vs one alone: on this shared VM the second CPU is often not a whole one). For the
  100-cell grid and for a 400-cell grid (more work per job, so Ray Data's fixed costs weigh less);
- peak memory of a 1,000-cell sweep run in a child process: the sum of the RSS of the child and every
  process under it (its Ray: GCS, raylet, workers), sampled every 50 ms. Shared pages are counted once per
  process, so this overstates the real footprint.

Run: `.venv/bin/python -m benchmarks.sweep_vs_vectorbt`
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, OtherLoad, Timings, TwoCpuCeiling, best_of, header, long_minute_series
from trading.data.bars import BarSeries

FASTS = list(range(5, 51, 5))
SLOWS = list(range(60, 151, 10))
PAIRS = [(f, s) for f in FASTS for s in SLOWS]
GiB = 1024**3


def write_series(series: BarSeries, folder: Path) -> Path:
    path = folder / "long_minute_series.parquet"
    frame = series.to_frame()
    frame.to_parquet(path)
    return path


def sweep_argv(data: Path, out: Path, grid: tuple[str, str]) -> list[str]:
    return [
        "--data",
        str(data),
        "--strategy",
        "sma_cross",
        "--grid",
        grid[0],
        "--grid",
        grid[1],
        "--fill",
        "close",
        "--size",
        "1",
        "--cash",
        "10000",
        "--out",
        str(out),
        "--no-progress",
        "--top",
        "0",
    ]


GRID_100 = (f"fast={FASTS[0]}:{FASTS[-1]}:5", f"slow={SLOWS[0]}:{SLOWS[-1]}:10")
GRID_400 = ("fast=1:40:1", "slow=60:150:10")  # 40 x 10, for scaling with less fixed overhead per unit of work
GRID_1000 = ("fast=1:50:1", "slow=60:250:10")  # 50 x 20
SCALING_RUNS = {"100": 9, "400": 5}  # timed runs of each grid on each side
BUSY_MACHINE_CPUS = 0.2  # other processes' load above which a scaling figure says it is not representative


def run_pipeline(plan: Any, folder: Path) -> dict[tuple[int, int], float]:
    """One sweep through the Ray Data pipeline into a fresh results folder (no resume); final value per pair."""
    import json

    from pipelines.backtest import run_sweep

    out = Path(tempfile.mkdtemp(dir=folder))
    outcome = run_sweep(plan, out, progress_stream=None)
    values = {}
    for row in outcome.rows():
        params = json.loads(row["params"])
        values[(params["fast"], params["slow"])] = float(row["final_value"])
    return values


def run_core(series: BarSeries) -> dict[tuple[int, int], float]:
    """The vectorized core alone, in this process, one cell after the other."""
    from strategies import SmaCross
    from trading.backtest.runner import BacktestSpec, run_vectorized

    values = {}
    for fast, slow in PAIRS:
        spec = BacktestSpec(data="<memory>", strategy="sma_cross", params={"fast": fast, "slow": slow}, fill="close")
        result = run_vectorized(spec, SmaCross, series)
        assert result is not None
        values[(fast, slow)] = result.final_value
    return values


def run_vectorbt(series: BarSeries) -> dict[tuple[int, int], float]:
    import pandas as pd
    import vectorbt as vbt

    close = pd.Series(series.close, index=pd.to_datetime(series.ts, unit="ns", utc=True))
    fast = vbt.MA.run(close, window=[f for f, _ in PAIRS], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _, s in PAIRS], short_name="slow")
    # vectorbt's crossed_above needs the fast line strictly below before and strictly above now (touches
    # reset it), and the first valid bar never crosses: the same cross bars as trading.indicators.crossover
    # for a long-only position (a re-cross after a touch only fires while already long, where from_signals
    # ignores it). from_signals fills at `close` of the signal bar, like our `close` fill timing.
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    portfolio = vbt.Portfolio.from_signals(close, entries, exits, size=1, init_cash=10_000, fees=0, freq="1min")
    final = portfolio.final_value()
    return {pair: float(value) for pair, value in zip(PAIRS, final.to_numpy(), strict=True)}


class SweepSide:
    """A child process with its own local Ray of `num_cpus` CPUs that runs the benchmark's sweeps on request.

    The 1-CPU and the 2-CPU side are up at the same time, so that their timed runs can alternate.
    """

    def __init__(self, num_cpus: int, grids: dict[str, list[str]]) -> None:
        self.num_cpus = num_cpus
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no Ray state from this one
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=serve_sweeps, args=(num_cpus, grids, child_conn), daemon=True)
        self._process.start()
        child_conn.close()

    def wait_ready(self) -> None:
        if self._conn.recv() != "ready":
            raise RuntimeError(f"the {self.num_cpus}-CPU side failed to start")

    def run(self, grid: str) -> tuple[float, dict[tuple[int, int], float]]:
        """Seconds of one sweep of `grid` (timed in the child, around the sweep only) and its final values."""
        self._conn.send(grid)
        seconds, values = self._conn.recv()
        return float(seconds), values

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the child is already gone
            self._conn.send(None)
        self._process.join(timeout=120)
        if self._process.is_alive():
            self._process.terminate()  # our own child, by its pid
            self._process.join()


def serve_sweeps(num_cpus: int, grids: dict[str, list[str]], conn: Connection) -> None:
    """The child of a `SweepSide`: plan every grid, start Ray, warm up, then run sweeps until sent None."""
    from pipelines.cluster import ray_session
    from pipelines.config import parse_config
    from pipelines.plan import plan_sweep

    # Loading and validating the data file is outside the timing, as for vectorbt (its close is in memory).
    plans = {name: plan_sweep(parse_config(argv)) for name, argv in grids.items()}
    with tempfile.TemporaryDirectory(prefix="dto-bench-side-") as scratch, ray_session(num_cpus=num_cpus):
        for plan in plans.values():
            run_pipeline(plan, Path(scratch))  # untimed: worker processes start, import, touch the data
        conn.send("ready")
        while (name := conn.recv()) is not None:
            started = time.perf_counter()
            values = run_pipeline(plans[name], Path(scratch))
            conn.send((time.perf_counter() - started, values))


@dataclass(frozen=True)
class Scaling:
    """One grid's alternating runs: both sides' wall times, and what the machine allowed meanwhile."""

    t1: Timings
    t2: Timings
    other_cpus: float  # CPUs that processes outside this benchmark kept busy
    ceiling: float  # plain numpy work in two processes at once vs one alone, measured between the runs

    @property
    def efficiency(self) -> float:
        return (self.t1.median / self.t2.median) / 2

    def line(self, label: str) -> str:
        # Other load takes its CPUs from the 2-CPU side first (the 1-CPU side has one to spare).
        caveat = "; the machine was busy, rerun when it is quiet" if self.other_cpus > BUSY_MACHINE_CPUS else ""
        return (
            f"  {label:<22} {self.efficiency * 100:>13.0f} %  (medians of {len(self.t1.seconds)} alternating "
            f"runs: t1 {self.t1.median:.2f} s [{self.t1.spread()}], t2 {self.t2.median:.2f} s "
            f"[{self.t2.spread()}]; meanwhile other processes kept {self.other_cpus:.1f} CPUs busy and plain "
            f"numpy work scaled {self.ceiling * 100:.0f}% from 1 to 2 processes{caveat})"
        )


def alternating_runs(
    one: SweepSide, two: SweepSide, grid: str, runs: int
) -> tuple[Scaling, dict[tuple[int, int], float]]:
    """`runs` timed sweeps of `grid` on each side in the order 1, 2, 2, 1, 1, 2, ...: a drift in the machine's
    load falls on both sides alike. Between the rounds, the machine's own 1 -> 2 process ceiling."""
    seconds: tuple[list[float], list[float]] = ([], [])
    values: list[dict[tuple[int, int], float]] = [{}, {}]
    with TwoCpuCeiling() as ceiling, OtherLoad() as load:
        for i in range(runs):
            for side in (0, 1) if i % 2 == 0 else (1, 0):
                elapsed, values[side] = (one, two)[side].run(grid)
                seconds[side].append(elapsed)
            ceiling.measure()
    assert values[0] == values[1], "the 1-CPU and the 2-CPU sweeps disagree"
    return Scaling(Timings(tuple(seconds[0])), Timings(tuple(seconds[1])), load.cpus, ceiling.efficiency), values[1]


def measure_memory(data: Path, folder: Path) -> tuple[float, float, int]:
    """Peak summed RSS of a child running a 1,000-cell sweep (and its Ray processes); driver peak; cells."""
    import psutil

    out = folder / "memory-sweep"
    code = "import sys, json; from pipelines.backtest import main; raise SystemExit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, *sweep_argv(data, out, GRID_1000), "--num-cpus", "2"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    root = psutil.Process(child.pid)
    peak_total = peak_driver = 0
    while child.poll() is None:
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for proc in procs:
            try:
                rss = proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            if proc.pid == root.pid:
                peak_driver = max(peak_driver, rss)
        peak_total = max(peak_total, total)
        time.sleep(0.05)
    stdout = child.communicate()[0]
    assert child.returncode == 0, stdout
    cells = int(stdout.split("Sweep: ")[1].split(" cells")[0].replace(",", ""))
    return peak_total / GiB, peak_driver / GiB, cells


def main() -> dict[str, float]:
    series = long_minute_series(4)
    bars = len(series)
    cell_bars = bars * len(PAIRS)
    header(f"Sweep: SMA crossover, {len(PAIRS)} (fast, slow) cells x {bars:,} real 1-minute bars, close fills")
    with tempfile.TemporaryDirectory(prefix="dto-bench-") as scratch:
        folder = Path(scratch)
        data = write_series(series, folder)

        core_s, core_values = best_of(2, lambda: run_core(series))
        run_vectorbt(series)  # numba compiles on the first call
        vbt_s, vbt_values = best_of(2, lambda: run_vectorbt(series))

        grids = {
            "100": sweep_argv(data, folder / "unused", GRID_100),
            "400": sweep_argv(data, folder / "unused", GRID_400),
        }
        one, two = SweepSide(1, grids), SweepSide(2, grids)  # both start (and warm up) at once
        try:
            one.wait_ready()
            two.wait_ready()
            scaling, ray_values = alternating_runs(one, two, "100", SCALING_RUNS["100"])
            big_scaling, _ = alternating_runs(one, two, "400", SCALING_RUNS["400"])
        finally:
            one.close()
            two.close()
        peak_gib, driver_gib, memory_cells = measure_memory(data, folder)

    agree_core = sum(abs(core_values[p] - vbt_values[p]) < 0.005 for p in PAIRS)
    agree_ray = sum(abs(ray_values[p] - vbt_values[p]) < 0.005 for p in PAIRS)
    worst = max(abs(ray_values[p] - vbt_values[p]) for p in PAIRS)
    ray2_s = scaling.t2.median
    rate = {name: cell_bars / s for name, s in (("ray", ray2_s), ("core", core_s), ("vbt", vbt_s))}
    print(f"  ray pipeline (2 CPUs)  {rate['ray']:>14,.0f} cell-bars/s  ({ray2_s:.2f} s, median)")
    print(f"  vectorized core (1 CPU){rate['core']:>14,.0f} cell-bars/s  ({core_s:.2f} s, in process)")
    print(f"  vectorbt               {rate['vbt']:>14,.0f} cell-bars/s  ({vbt_s:.2f} s)")
    print(
        f"  ratio                  {rate['ray'] / rate['vbt']:>14.2f} x vectorbt (pipeline; target >= 2x), "
        f"core alone {rate['core'] / rate['vbt']:.2f} x"
    )
    print(
        f"  agree to the cent      {agree_ray}/{len(PAIRS)} cells (pipeline), {agree_core}/{len(PAIRS)} (core); "
        f"largest difference {worst:.6f}"
    )
    print(scaling.line("scaling 1 -> 2 CPUs") + "; target >= 85%")
    print(big_scaling.line("scaling, 400 cells"))
    print(
        f"  peak memory            {peak_gib:>13.2f} GiB for a {memory_cells:,}-cell sweep (driver + Ray "
        f"processes, RSS summed; driver alone {driver_gib:.2f} GiB; target < 2 GiB)"
    )
    return {
        "ray_cell_bars_per_s": rate["ray"],
        "core_cell_bars_per_s": rate["core"],
        "vectorbt_cell_bars_per_s": rate["vbt"],
        "ratio_vs_vectorbt": rate["ray"] / rate["vbt"],
        "cells_agree": float(agree_ray),
        "scaling_efficiency": scaling.efficiency,
        "scaling_efficiency_400_cells": big_scaling.efficiency,
        "scaling_other_cpus_busy": scaling.other_cpus,
        "two_process_ceiling": scaling.ceiling,
        "peak_memory_gib": peak_gib,
        "max_abs_difference": float(np.float64(worst)),
    }


if __name__ == "__main__":
    main()
