"""IB's 5-second real-time bars folded into closed 1-minute bars (the runtime's live bar)."""

from __future__ import annotations

from trading.data.bars import Bar

NS_PER_SECOND = 1_000_000_000
MINUTE_NS = 60 * NS_PER_SECOND
LAST_SLICE_NS = 55 * NS_PER_SECOND  # the 5-second bar that starts at :55 closes the minute


class MinuteBars:
    """One instrument's minute being built from 5-second bars (`ts` = bar open, ns).

    A minute is closed, and returned, when its :55 slice arrives, or when a slice of a later minute arrives
    first (a slice IB did not send: the minute is still over, so it goes out with what it has). A slice
    older than the minute being built is dropped: its minute already went out."""

    def __init__(self) -> None:
        self._minute: int | None = None
        self._ohlcv: list[float] = []
        self._last_closed = -1

    def add(self, ts: int, open_: float, high: float, low: float, close: float, volume: float) -> list[Bar]:
        minute = ts - ts % MINUTE_NS
        closed: list[Bar] = []
        if minute <= self._last_closed or (self._minute is not None and minute < self._minute):
            return closed
        if self._minute is not None and minute > self._minute:
            closed.append(self._close())
        if self._minute is None:
            self._minute, self._ohlcv = minute, [open_, high, low, close, volume]
        else:
            o, h, lo, _, v = self._ohlcv
            self._ohlcv = [o, max(h, high), min(lo, low), close, v + volume]
        if ts - minute >= LAST_SLICE_NS:
            closed.append(self._close())
        return closed

    def _close(self) -> Bar:
        assert self._minute is not None
        o, h, lo, c, v = self._ohlcv
        bar = Bar(self._minute, o, h, lo, c, v)
        self._last_closed, self._minute = self._minute, None
        return bar
