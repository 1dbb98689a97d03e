"""Live market data: validation (bad bars never reach a strategy) and replay speeds.

`MarketDataFeed.validate` checks each bar with `trading.data.validation.check_bar` against the last accepted
bar of its instrument; a rejected bar becomes a `MarketDataRejected` event and is counted by reason.
`parse_speed` reads a replay speed: "max" (no waiting), "realtime" (the bars' own spacing) or "Nx".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from trading.data.bars import Bar
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
