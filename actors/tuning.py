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

# Ray records task events (state changes and timings, for `ray list tasks` and the dashboard's timeline) for
# every call: in the caller, in the actor and in the GCS. Measured here (2 cores, an empty async method, 8 calls
# in flight, two alternating pairs): 0.59-0.63 -> 0.47-0.52 ms of the actor's CPU per call and 0.60-0.64 ->
# 0.50-0.52 ms of the caller's with them off. The trading path makes a call per bar batch, strategy step and
# order group, so the runtime's actors (`actors.actor_options`) run without them, as Ray Serve's replicas do by
# default (RAY_SERVE_ENABLE_TASK_EVENTS=0). A failed call still raises in its caller and is logged; the actors' own
# `status()` views and the gateway's metrics say what they did.
TASK_EVENTS = False


def tune_gc() -> None:
    """Move what start-up built out of the collector's reach and collect young objects less often."""
    gc.collect()
    gc.freeze()  # modules, classes, Ray's own state: never scanned again
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
