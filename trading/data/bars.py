"""Bars in memory: one immutable `Bar` for the live path and a columnar `BarSeries` for research.

Market data is float (signals and features); money is booked in Decimal by the ledger, never here.
Timestamps are int nanoseconds since the epoch, UTC, and mark the bar's *open* time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BAR_COLUMNS = ("open", "high", "low", "close", "volume")


class Bar:
    """One OHLCV bar. Immutable by convention; `__slots__` keeps the per-bar cost low on hot paths."""

    __slots__ = ("close", "high", "index", "low", "open", "ts", "volume")

    def __init__(
        self, ts: int, open: float, high: float, low: float, close: float, volume: float, index: int = -1
    ) -> None:
        self.ts = ts
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.index = index

    def __repr__(self) -> str:
        when = pd.Timestamp(self.ts, unit="ns", tz="UTC").isoformat()
        return f"Bar({when} o={self.open} h={self.high} l={self.low} c={self.close} v={self.volume})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bar):
            return NotImplemented
        return (self.ts, self.open, self.high, self.low, self.close, self.volume) == (
            other.ts,
            other.open,
            other.high,
            other.low,
            other.close,
            other.volume,
        )

    def __hash__(self) -> int:
        return hash((self.ts, self.open, self.high, self.low, self.close, self.volume))

    def __reduce__(self) -> tuple[type[Bar], tuple[int, float, float, float, float, float, int]]:
        # Positional: about half the cost of the default slots-state pickle (bars cross actors in batches).
        return Bar, (self.ts, self.open, self.high, self.low, self.close, self.volume, self.index)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "ts": self.ts,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }


@dataclass(frozen=True)
class BarSeries:
    """Validated OHLCV columns for one instrument, sorted by strictly increasing timestamp."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in BAR_COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"BarSeries column {name!r} has {len(getattr(self, name))} rows, ts has {n}")

    def __len__(self) -> int:
        return len(self.ts)

    def bar(self, i: int) -> Bar:
        return Bar(
            int(self.ts[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
            i,
        )

    def bars(self) -> Iterator[Bar]:
        """Yield `Bar` objects; built from Python lists because numpy scalar access is slow per element."""
        columns = zip(
            self.ts.tolist(),
            self.open.tolist(),
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            self.volume.tolist(),
            strict=True,
        )
        for i, (ts, o, h, lo, c, v) in enumerate(columns):
            yield Bar(ts, o, h, lo, c, v, i)

    def slice(self, start: int, stop: int) -> BarSeries:
        return BarSeries(
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
            source=self.source,
            meta=dict(self.meta),
        )

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame indexed by UTC timestamps with open/high/low/close/volume columns."""
        index = pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True), name="ts")
        return pd.DataFrame(
            {name: getattr(self, name) for name in BAR_COLUMNS},
            index=index,
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "") -> BarSeries:
        """Build from a frame with a DatetimeIndex (naive = UTC) and open/high/low/close[/volume] columns."""
        index = pd.DatetimeIndex(frame.index)
        if index.tz is None:
            index = index.tz_localize("UTC")
        ts = index.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)
        volume = (
            frame["volume"].to_numpy(dtype=np.float64) if "volume" in frame else np.zeros(len(frame), dtype=np.float64)
        )
        return cls(
            ts=ts,
            open=frame["open"].to_numpy(dtype=np.float64),
            high=frame["high"].to_numpy(dtype=np.float64),
            low=frame["low"].to_numpy(dtype=np.float64),
            close=frame["close"].to_numpy(dtype=np.float64),
            volume=volume,
            source=source,
        )

    @classmethod
    def from_bars(cls, bars: list[Bar], source: str = "") -> BarSeries:
        return cls(
            ts=np.array([b.ts for b in bars], dtype=np.int64),
            open=np.array([b.open for b in bars], dtype=np.float64),
            high=np.array([b.high for b in bars], dtype=np.float64),
            low=np.array([b.low for b in bars], dtype=np.float64),
            close=np.array([b.close for b in bars], dtype=np.float64),
            volume=np.array([b.volume for b in bars], dtype=np.float64),
            source=source,
        )
