"""Process settings for the actors on the trading path (market data, strategies, order manager, brokers)."""

from __future__ import annotations

import gc

# An actor process holds everything `import ray` and the trading code built (hundreds of thousands of objects)
# plus its own long-lived state (bar history, orders, fills), and allocates a few objects per bar and per order
# event. With CPython's defaults (700, 10, 10) the collector kept rescanning all of that: in a 10-strategy replay
# it took about 40% of each strategy actor's CPU, and freezing start-up's objects and collecting young ones
# less often took the replay from ~3,100 to ~5,000 bars/s (`python -m benchmarks.runtime`). Reference cycles
# are still collected, in larger and rarer collections.
GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 20


def tune_gc() -> None:
    """Move what start-up built out of the collector's reach and collect young objects less often."""
    gc.collect()
    gc.freeze()  # modules, classes, Ray's own state: never scanned again
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
