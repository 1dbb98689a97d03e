"""Shared pieces of the benchmarks: the long real minute series and a small timing helper."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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
