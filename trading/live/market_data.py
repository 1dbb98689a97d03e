"""Live market data: validation (bad bars never reach a strategy), batching, and a replay source.

`MarketDataFeed.validate` checks each bar with `trading.data.validation.check_bar` against the last accepted
bar of its instrument; a rejected bar becomes a `MarketDataRejected` event and is counted by reason.
`ReplaySource` plays a `BarSeries` (or any list of bars, bad ones included) in batches at a chosen speed:
"max" (no waiting), "realtime" (the bars' own spacing) or "Nx" (N times faster than real time).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from trading.data.bars import Bar, BarSeries
from trading.data.validation import check_bar
from trading.errors import ConfigError
from trading.messages import MarketDataRejected
from trading.model.identifiers import InstrumentId

NS_PER_SECOND = 1_000_000_000


@dataclass
class MarketDataFeed:
    """Validates bars per instrument and keeps rejection counts (by instrument and reason)."""

    last_ts: dict[InstrumentId, int] = field(default_factory=dict)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)

    def validate(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> tuple[list[Bar], list[MarketDataRejected]]:
        """(good bars in order, one `MarketDataRejected` per bad bar)."""
        good: list[Bar] = []
        bad: list[MarketDataRejected] = []
        previous = self.last_ts.get(instrument_id)
        for bar in bars:
            reason = check_bar(bar, previous)
            if reason is None:
                good.append(bar)
                previous = bar.ts
                continue
            self.rejected[(str(instrument_id), reason)] += 1
            detail = {k: repr(v) for k, v in bar.to_dict().items()}
            bad.append(MarketDataRejected(instrument_id, reason, bar.ts, detail))
        if previous is not None:
            self.last_ts[instrument_id] = previous
        self.accepted[str(instrument_id)] += len(good)
        return good, bad

    def rejected_by_reason(self, instrument_id: InstrumentId | None = None) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (instrument, reason), n in self.rejected.items():
            if instrument_id is None or instrument == str(instrument_id):
                counts[reason] += n
        return dict(counts)

    def status(self) -> dict[str, object]:
        return {
            "accepted": dict(self.accepted),
            "rejected": {f"{i}:{r}": n for (i, r), n in self.rejected.items()},
            "last_ts": {str(i): ts for i, ts in self.last_ts.items()},
        }


def parse_speed(speed: str | float | None) -> float | None:
    """ "max" (or None) -> None (no waiting); "realtime" -> 1.0; "10x" or 10 -> 10.0."""
    if speed is None or speed == "max":
        return None
    if speed == "realtime":
        return 1.0
    try:
        factor = float(speed[:-1]) if isinstance(speed, str) and speed.endswith("x") else float(speed)
    except ValueError:
        raise ConfigError(f"speed must be max, realtime or Nx (e.g. 10x), got {speed!r}", key="speed") from None
    if factor <= 0:
        raise ConfigError(f"speed must be positive, got {speed!r}", key="speed")
    return factor


@dataclass
class ReplaySource:
    """Plays bars of one instrument in batches of `batch_size`, waiting between batches per `speed`."""

    instrument_id: InstrumentId
    bars: BarSeries | Sequence[Bar]
    batch_size: int = 100
    speed: str | float | None = "max"
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}", key="batch_size")
        self._factor = parse_speed(self.speed)

    def _all(self) -> list[Bar]:
        return list(self.bars.bars()) if isinstance(self.bars, BarSeries) else list(self.bars)

    def batches(self) -> Iterator[tuple[InstrumentId, list[Bar]]]:
        for batch, wait in self._plan():
            if wait > 0:
                self.sleep(wait)
            yield self.instrument_id, batch

    def __iter__(self) -> Iterator[tuple[InstrumentId, list[Bar]]]:
        return self.batches()

    def _plan(self) -> Iterator[tuple[list[Bar], float]]:
        bars = self._all()
        previous_ts: int | None = None
        for start in range(0, len(bars), self.batch_size):
            batch = bars[start : start + self.batch_size]
            yield batch, _wait_s(previous_ts, batch, self._factor)
            previous_ts = batch[-1].ts


@dataclass
class MergedReplay:
    """Plays several instruments' bars as one market: each cut into batches of `batch_size`, the batches
    interleaved in time order (by their last bar), waiting between them per `speed`."""

    bars: Mapping[InstrumentId, BarSeries | Sequence[Bar]]
    batch_size: int = 100
    speed: str | float | None = "max"

    def __post_init__(self) -> None:
        self._sources = [ReplaySource(iid, bars, self.batch_size, "max") for iid, bars in self.bars.items()]
        self._factor = parse_speed(self.speed)

    async def abatches(self) -> AsyncIterator[tuple[InstrumentId, list[Bar]]]:
        merged = heapq.merge(*(iter(source) for source in self._sources), key=lambda item: item[1][-1].ts)
        previous_ts: int | None = None
        for instrument_id, batch in merged:
            wait = _wait_s(previous_ts, batch, self._factor)
            if wait > 0:
                await asyncio.sleep(wait)
            previous_ts = batch[-1].ts
            yield instrument_id, batch


def _wait_s(previous_ts: int | None, batch: list[Bar], factor: float | None) -> float:
    """Seconds to wait before playing `batch`: the market time since the previous batch, sped up by `factor`."""
    if factor is None or previous_ts is None:
        return 0.0
    return max(0, batch[-1].ts - previous_ts) / NS_PER_SECOND / factor
