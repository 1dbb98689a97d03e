"""Latency histograms kept inside an actor and exported by the gateway's /metrics at scrape time (the actors
run in their own processes, so they cannot share a prometheus-client registry with the gateway)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Seconds; the gateway's own request-latency histogram uses the same bounds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class LatencyHistogram:
    """Counts per bucket (not cumulative; the last counts everything above the largest bound), sum and count."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float, times: int = 1) -> None:
        """Record `times` events that each took `seconds`."""
        i = next((k for k, bound in enumerate(self.bounds) if seconds <= bound), len(self.bounds))
        self.counts[i] += times
        self.total += seconds * times
        self.count += times

    def to_dict(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.total, "count": self.count}


def merged(histograms: list[dict[str, Any]]) -> LatencyHistogram | None:
    """One histogram from several actors' `to_dict()`s with the same bounds (None if there are none)."""
    if not histograms:
        return None
    out = LatencyHistogram(tuple(histograms[0]["bounds"]))
    for h in histograms:
        if tuple(h["bounds"]) != out.bounds:
            raise ValueError(f"histograms with different bounds: {h['bounds']} and {list(out.bounds)}")
        out.counts = [a + b for a, b in zip(out.counts, h["counts"], strict=True)]
        out.total += h["sum"]
        out.count += h["count"]
    return out
