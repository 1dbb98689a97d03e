"""Trading-session calendar for bars: which bars are inside the session and which one ends it.

The rule only looks at the bar itself (its open time plus the bar interval against the session close),
never at the next bar, so the live runtime computes the same answer bar by bar as a backtest does for the
whole array at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from trading.model.instruments import Instrument

BoolArray = npt.NDArray[np.bool_]
NS_PER_MINUTE = 60_000_000_000
NS_PER_DAY = 86_400_000_000_000


def infer_bar_interval(ts: npt.NDArray[np.int64]) -> int:
    """The most common spacing between bars, in ns (1 day if there are fewer than 2 bars)."""
    if len(ts) < 2:
        return NS_PER_DAY
    gaps = np.diff(ts)
    values, counts = np.unique(gaps[gaps > 0], return_counts=True)
    return int(values[np.argmax(counts)]) if len(values) else NS_PER_DAY


def session_calendar(
    instrument: Instrument, ts: npt.NDArray[np.int64], bar_interval_ns: int
) -> tuple[BoolArray, BoolArray]:
    """(in_session, session_end) for each bar. Without sessions every bar is in session and none ends one."""
    n = len(ts)
    if not instrument.sessions:
        return np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    in_session = np.zeros(n, dtype=bool)
    session_end = np.zeros(n, dtype=bool)
    for session in instrument.sessions:
        local = pd.DatetimeIndex(pd.to_datetime(ts, unit="ns", utc=True)).tz_convert(session.timezone)
        minute_ns = (local.hour * 60 + local.minute).to_numpy(dtype=np.int64) * NS_PER_MINUTE + (
            local.second.to_numpy(dtype=np.int64) * 1_000_000_000
        )
        open_ns = (session.open.hour * 60 + session.open.minute) * NS_PER_MINUTE
        close_ns = (session.close.hour * 60 + session.close.minute) * NS_PER_MINUTE
        weekday_ok = np.isin(local.day_of_week.to_numpy(), list(session.weekdays))
        inside = weekday_ok & (minute_ns >= open_ns) & (minute_ns < close_ns)
        in_session |= inside
        session_end |= inside & (minute_ns + bar_interval_ns >= close_ns)
    return in_session, session_end


def bar_session_state(instrument: Instrument, ts: int, bar_interval_ns: int) -> tuple[bool, bool]:
    """(in_session, session_end) for one live bar; the same rule as `session_calendar`."""
    in_session, session_end = session_calendar(instrument, np.array([ts], dtype=np.int64), bar_interval_ns)
    return bool(in_session[0]), bool(session_end[0])
