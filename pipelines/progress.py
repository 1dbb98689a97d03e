"""A sweep's progress line on stderr: cells done / total and the rate."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


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
