"""Shared pieces of the benchmarks: the long real minute series and a small timing helper."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.data.transforms import tile_series

ROOT = Path(__file__).resolve().parent.parent
MINUTE_FILE = ROOT / "data/backtrader/2006-01-02-volume-min-001.txt"
T = TypeVar("T")


def long_minute_series(copies: int = 4) -> BarSeries:
    """The real 1-minute file (30,889 bars) repeated end to end with dates shifted by whole weeks."""
    return tile_series(load_bars(MINUTE_FILE), copies)


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    """Fastest wall time of `repeats` runs (the machines are noisy; the minimum is the least disturbed)."""
    best = float("inf")
    result: T | None = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def header(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


@dataclass(frozen=True)
class Timings:
    """Wall times of repeated runs of the same work: the median is the figure, the range the spread."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def spread(self) -> str:
        return f"{min(self.seconds):.2f}-{max(self.seconds):.2f} s"


class OtherLoad:
    """How many CPUs the rest of the machine kept busy while a block of measurements ran: the machine's busy
    CPU time minus that of this process and its children (e.g. the local Ray clusters it started).

    The benchmark machines are shared, so a scaling figure means little without it.
    """

    def __init__(self) -> None:
        self.cpus = 0.0

    def __enter__(self) -> OtherLoad:
        self._start = (time.perf_counter(), _busy_cpu_s(), _tree_cpu_s())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, mine = (now - then for now, then in zip(
            (time.perf_counter(), _busy_cpu_s(), _tree_cpu_s()), self._start, strict=True))
        self.cpus = max(0.0, busy - mine) / wall if wall > 0 else 0.0


def _busy_cpu_s() -> float:
    import psutil

    # Linux: guest time is already inside user time; steal (the hypervisor's other guests) counts as busy.
    times = psutil.cpu_times()
    fields = ("user", "nice", "system", "irq", "softirq", "steal")
    return float(sum(getattr(times, name, 0.0) for name in fields))


def _tree_cpu_s() -> float:
    """CPU seconds of this process and every live process under it (a child that already exited is not
    counted: measure around long-lived children)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            cpu = proc.cpu_times()
        except psutil.Error:
            continue
        total += cpu.user + cpu.system
    return total


class TwoCpuCeiling:
    """The scaling this machine itself gives from one busy process to two: a fixed piece of numpy work timed
    in one process alone, then in two processes at the same moment (efficiency = t_alone / t_together).

    On a shared virtual machine the second CPU is not always a whole one (two busy processes have been seen
    to run at half speed each with nothing else running), so a parallel job's scaling is read against this,
    measured in between its own runs. Use as a context manager; `measure()` once per round.
    """

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conns = []
        self._processes = []
        for _ in range(2):
            conn, child_conn = context.Pipe()
            process = context.Process(target=_numpy_work_loop, args=(child_conn,), daemon=True)
            process.start()
            child_conn.close()
            self._conns.append(conn)
            self._processes.append(process)
        self.alone: list[float] = []
        self.together: list[float] = []

    def __enter__(self) -> TwoCpuCeiling:
        for conn in self._conns:
            conn.send(True)  # untimed warm-up: imports done, arrays allocated
        for conn in self._conns:
            conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        for conn, process in zip(self._conns, self._processes, strict=True):
            conn.send(False)
            process.join(timeout=30)

    def measure(self) -> None:
        self._conns[0].send(True)
        self.alone.append(self._conns[0].recv())
        for conn in self._conns:
            conn.send(True)
        self.together.append(max(conn.recv() for conn in self._conns))

    @property
    def efficiency(self) -> float:
        return statistics.median(self.alone) / statistics.median(self.together) if self.together else float("nan")


def _numpy_work_loop(conn: Any) -> None:
    """Child of TwoCpuCeiling: on each True, run the same moving-average crossover arithmetic on 120,000
    prices as a sweep cell does, 200 times (about 0.2 s), and send back the seconds."""
    import numpy as np

    prices = np.random.default_rng(7).normal(0.0, 1.0, 120_000).cumsum() + 1_000.0
    while conn.recv():
        started = time.perf_counter()
        for window in [*range(5, 45)] * 5:
            sums = np.cumsum(prices)
            fast = (sums[window:] - sums[:-window]) / window
            slow = (sums[window + 50 :] - sums[: -window - 50]) / (window + 50)
            above = fast[50:] > slow
            np.flatnonzero(above[1:] != above[:-1])
        conn.send(time.perf_counter() - started)
