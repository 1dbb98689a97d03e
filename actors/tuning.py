"""Collector settings for the gateway's replica (and its uvicorn peer in the benchmark).

A replica holds everything `import ray`, FastAPI and Serve built (hundreds of thousands of objects) and
allocates a few objects per request. With CPython's defaults (700, 10, 10) the collector kept rescanning all of
that: uvicorn's p99 was 100-220 ms before, most of it collector pauses (`python -m benchmarks.gateway`, 2026-12-05).
Freezing start-up's objects and collecting young ones less often removed them; reference cycles are still
collected, in larger and rarer collections. The trading actors run with Python's defaults: this was measured
for the gateway, not for them.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 20


def tune_gc() -> None:
    """Move what start-up built out of the collector's reach and collect young objects less often."""
    gc.collect()
    gc.freeze()  # modules, classes, Ray's own state: never scanned again
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
