"""Parameter-sweep speed: `dto sweep` vs vectorbt with its Rust engine, SMA crossover on 123,556 real minute bars.

Every figure is what a user waits for, measured side by side in one run, each side in fresh processes whose
runs alternate (dto, vectorbt, vectorbt, dto, ...) so that load from elsewhere on the shared machine falls on
both alike. Close fills (both fill on the signal bar's close), size 1, no fees, 10,000 cash.

- 100 cells (fast 5..50 step 5 x slow 60..150 step 10), three runs each:
  - `dto sweep --json` in a fresh process: its own `elapsed_s` (the sweep, from plan to summary) and the
    whole process from start to exit (import, load, plan, sweep, report);
  - vectorbt (`settings["engine"] = "rust"`, i.e. vectorbt-rust): `vbt.MA.run` fast/slow (one column per
    pair), `ma_crossed_above/below` as entries/exits, `Portfolio.from_signals(..., size=1, init_cash=10000)`,
    `final_value()`; its compute time (from the moving averages to the final values) and its whole process;
  - final values compared cell by cell to the cent, and five cells against the event-driven engine.
- 10,000 cells (fast 1..100 x slow 110..1100 step 10) once: `dto sweep --json`, with the peak memory of its
  process tree (RSS of the process and every child, such as a local Ray, summed every 50 ms). vectorbt holds
  every cell's arrays at once (10,000 columns x 123,556 bars of float64 is 9.2 GiB per array), which is where
  its users run out of memory; it runs a 1,000-cell sample of the grid (every tenth cell) in chunks of 250
  columns, as they do, and the comparison is of cell-bars per second. The sample's cells are compared to
  ours to the cent.
- Ray: the same 100- and 400-cell sweeps through the Ray Data pipeline (what a cluster runs) on two local Rays,
  1 CPU and 2 CPUs, for the scaling: see `alternating_runs`.

Run: `.venv/bin/python -m benchmarks.sweep_vs_vectorbt`
"""

from __future__ import annotations

import contextlib
import json
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

from benchmarks.common import ROOT, OtherLoad, Timings, TwoCpuCeiling, header, long_minute_series
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


def sweep_argv(data: Path, out: Path | None, grid: tuple[str, str]) -> list[str]:
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
        *(["--out", str(out)] if out is not None else []),
        "--no-progress",
        "--top",
        "0",
    ]


GRID_100 = (f"fast={FASTS[0]}:{FASTS[-1]}:5", f"slow={SLOWS[0]}:{SLOWS[-1]}:10")
GRID_400 = ("fast=1:40:1", "slow=60:150:10")  # 40 x 10, for scaling with less fixed overhead per unit of work
GRID_10K = ("fast=1:100:1", "slow=110:1100:10")  # 100 x 100, every pair valid
PAIRS_10K = [(f, s) for f in range(1, 101) for s in range(110, 1101, 10)]
VBT_SAMPLE = PAIRS_10K[::10]  # 1,000 cells of the 10,000-cell grid for vectorbt
VBT_CHUNK = 250  # columns per vectorbt call: its users chunk big grids to fit memory
SIDE_BY_SIDE_RUNS = 3
SCALING_RUNS = {"100": 5, "400": 3}  # timed Ray runs of each grid on each side
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


# vectorbt in its own process, importing only what it needs: argv = data file, pairs JSON file, chunk, out file.
VECTORBT_SWEEP = """
import json, sys, time
import pandas as pd
import vectorbt as vbt
vbt.settings["engine"] = "rust"
data, pairs_file, chunk, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(pairs_file) as handle:
    pairs = json.load(handle)
close = pd.read_parquet(data)["close"]
started = time.perf_counter()
final = []
for i in range(0, len(pairs), chunk):
    part = pairs[i:i + chunk]
    fast = vbt.MA.run(close, window=[f for f, _ in part], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _, s in part], short_name="slow")
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    portfolio = vbt.Portfolio.from_signals(close, entries, exits, size=1, init_cash=10_000, fees=0, freq="1min")
    final += portfolio.final_value().to_numpy().tolist()
with open(out, "w") as handle:
    json.dump({"compute_s": time.perf_counter() - started, "final": final}, handle)
"""
# vectorbt's crossed_above needs the fast line strictly below before and strictly above now (touches reset it),
# and the first valid bar never crosses: the same cross bars as trading.indicators.crossover for a long-only
# position (a re-cross after a touch only fires while already long, where from_signals ignores it).
DTO_MAIN = "import sys; from dto.cli import main; raise SystemExit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class ProcessRun:
    """One child process as the user waits for it: start to exit, and the peak memory of its process tree."""

    wall_s: float
    peak_gib: float
    stdout: str


def run_measured(argv: list[str]) -> ProcessRun:
    """Run `argv` (from the project root), sampling the summed RSS of it and its children every 50 ms."""
    import psutil

    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryFile(mode="w+") as out:
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.DEVNULL, text=True)
        root = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += proc.memory_info().rss
            peak = max(peak, total)
            time.sleep(0.05)
        child.wait()
        wall = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
    if child.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited with {child.returncode}: {stdout[-500:]}")
    return ProcessRun(wall, peak / GiB, stdout)


@dataclass(frozen=True)
class DtoSweep:
    run: ProcessRun
    elapsed_s: float  # the sweep's own figure, `dto sweep --json`'s elapsed_s
    values: dict[tuple[int, int], float]


def run_dto_sweep(data: Path, grid: tuple[str, str]) -> DtoSweep:
    run = run_measured([sys.executable, "-c", DTO_MAIN, "sweep", *sweep_argv(data, None, grid), "--json"])
    report = json.loads(run.stdout)
    values = {(c["params"]["fast"], c["params"]["slow"]): float(c["final_value"]) for c in report["cells"]}
    return DtoSweep(run, float(report["elapsed_s"]), values)


@dataclass(frozen=True)
class VectorbtSweep:
    run: ProcessRun
    compute_s: float  # from the moving averages to the final values (the import and the load are outside)
    values: dict[tuple[int, int], float]


def run_vectorbt(data: Path, pairs: list[tuple[int, int]], chunk: int, folder: Path) -> VectorbtSweep:
    pairs_file, out = folder / "pairs.json", folder / "vectorbt.json"
    pairs_file.write_text(json.dumps(pairs))
    run = run_measured([sys.executable, "-c", VECTORBT_SWEEP, str(data), str(pairs_file), str(chunk), str(out)])
    report = json.loads(out.read_text())
    return VectorbtSweep(run, float(report["compute_s"]), dict(zip(pairs, report["final"], strict=True)))


def event_engine_values(series: BarSeries, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """Final values of the event-driven engine (exact Decimal books) for a few cells."""
    from strategies import SmaCross
    from trading.backtest.runner import BacktestSpec, run_backtest

    values = {}
    for fast, slow in pairs:
        spec = BacktestSpec(data="<memory>", strategy="sma_cross", params={"fast": fast, "slow": slow}, fill="close")
        values[(fast, slow)] = float(run_backtest(spec, SmaCross, series).final_value)
    return values


def agreeing(ours: dict[tuple[int, int], float], theirs: dict[tuple[int, int], float]) -> tuple[int, float]:
    """Cells of `theirs` whose final value is ours to the cent, and the largest difference."""
    differences = [abs(ours[pair] - value) for pair, value in theirs.items()]
    return sum(d < 0.005 for d in differences), max(differences)


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


def main() -> dict[str, float]:
    series = long_minute_series(4)
    bars = len(series)
    header(f"Sweep: SMA crossover on {bars:,} real 1-minute bars, close fills: dto sweep vs vectorbt (Rust engine)")
    with tempfile.TemporaryDirectory(prefix="dto-bench-") as scratch:
        folder = Path(scratch)
        data = write_series(series, folder)
        dto: list[DtoSweep] = []
        vbt: list[VectorbtSweep] = []
        for i in range(SIDE_BY_SIDE_RUNS):
            for side in ("dto", "vbt") if i % 2 == 0 else ("vbt", "dto"):
                if side == "dto":
                    dto.append(run_dto_sweep(data, GRID_100))
                else:
                    vbt.append(run_vectorbt(data, PAIRS, len(PAIRS), folder))
        big = run_dto_sweep(data, GRID_10K)
        big_vbt = run_vectorbt(data, VBT_SAMPLE, VBT_CHUNK, folder)
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
    event = event_engine_values(series, [PAIRS[0], PAIRS[9], PAIRS[45], PAIRS[90], PAIRS[99]])

    elapsed = Timings(tuple(r.elapsed_s for r in dto))
    compute = Timings(tuple(r.compute_s for r in vbt))
    dto_wall = Timings(tuple(r.run.wall_s for r in dto))
    vbt_wall = Timings(tuple(r.run.wall_s for r in vbt))
    cell_bars = bars * len(PAIRS)
    ratio = compute.median / elapsed.median
    agree_vbt, worst_vbt = agreeing(dto[0].values, vbt[0].values)
    agree_event, worst_event = agreeing(dto[0].values, event)
    agree_ray, _ = agreeing(dto[0].values, ray_values)
    print(f"  100 cells ({SIDE_BY_SIDE_RUNS} alternating runs each, medians, range in brackets)")
    print(f"    dto sweep elapsed_s  {cell_bars / elapsed.median:>14,.0f} cell-bars/s  ({elapsed.median:.2f} s "
          f"[{elapsed.spread()}])")
    print(f"    vectorbt (Rust)      {cell_bars / compute.median:>14,.0f} cell-bars/s  ({compute.median:.2f} s "
          f"[{compute.spread()}], its compute only)")
    print(f"    ratio                {ratio:>14.1f} x vectorbt   target >= 2x")
    print(f"    whole process        dto sweep {dto_wall.median:.2f} s [{dto_wall.spread()}], vectorbt "
          f"{vbt_wall.median:.2f} s [{vbt_wall.spread()}]   target: dto no slower")
    print(f"    agree to the cent    {agree_vbt}/{len(PAIRS)} cells with vectorbt (largest difference "
          f"{worst_vbt:.6f}), {agree_event}/{len(event)} with the event engine ({worst_event:.6f}), "
          f"{agree_ray}/{len(PAIRS)} with the Ray pipeline")

    big_rate = len(PAIRS_10K) * bars / big.elapsed_s
    sample_rate = len(VBT_SAMPLE) * bars / big_vbt.compute_s
    agree_big, worst_big = agreeing(big.values, big_vbt.values)
    print(f"  {len(PAIRS_10K):,} cells")
    print(f"    dto sweep elapsed_s  {big_rate:>14,.0f} cell-bars/s  ({big.elapsed_s:.1f} s; whole process "
          f"{big.run.wall_s:.1f} s; peak memory {big.run.peak_gib:.2f} GiB, process tree RSS summed)")
    print(f"    vectorbt (Rust)      {sample_rate:>14,.0f} cell-bars/s  ({big_vbt.compute_s:.1f} s for "
          f"{len(VBT_SAMPLE):,} of the cells in chunks of {VBT_CHUNK}; peak memory {big_vbt.run.peak_gib:.2f} GiB)")
    print(f"    ratio                {big_rate / sample_rate:>14.1f} x vectorbt   target >= 3x; memory target < 2 GiB")
    print(f"    agree to the cent    {agree_big}/{len(VBT_SAMPLE)} sampled cells (largest difference "
          f"{worst_big:.6f})")
    print("  Ray Data pipeline (what a cluster runs), 1 -> 2 CPUs")
    print(scaling.line("scaling, 100 cells"))
    print(big_scaling.line("scaling, 400 cells"))
    return {
        "sweep_100_elapsed_s": elapsed.median,
        "vectorbt_100_compute_s": compute.median,
        "ratio_vs_vectorbt": ratio,
        "whole_process_s": dto_wall.median,
        "vectorbt_whole_process_s": vbt_wall.median,
        "cells_agree": float(agree_vbt),
        "cells_agree_event": float(agree_event),
        "sweep_10k_cell_bars_per_s": big_rate,
        "vectorbt_sample_cell_bars_per_s": sample_rate,
        "ratio_10k_vs_vectorbt": big_rate / sample_rate,
        "peak_memory_gib_10k": big.run.peak_gib,
        "scaling_efficiency": scaling.efficiency,
        "scaling_efficiency_400_cells": big_scaling.efficiency,
        "max_abs_difference": worst_vbt,
    }


if __name__ == "__main__":
    main()
