"""Market data: bad bars never reach a strategy, are counted by reason and reported; replay speeds."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from strategies import SmaCross
from trading.backtest.runner import BacktestSpec
from trading.data.bars import Bar, BarSeries
from trading.errors import ConfigError
from trading.live import MarketDataFeed, parse_speed
from trading.messages import MarketDataRejected
from trading.model.identifiers import InstrumentId

from .live_support import DAY, backtest, build_live, fill_key

IID = InstrumentId("DATA", "SIM")


def test_feed_rejects_nan_negative_out_of_order_and_duplicate_bars() -> None:
    feed = MarketDataFeed()
    bars = [
        Bar(100, 10, 11, 9, 10, 5),
        Bar(200, math.nan, 11, 9, 10, 5),
        Bar(300, 10, 11, 9, -1, 5),
        Bar(50, 10, 11, 9, 10, 5),
        Bar(100, 10, 11, 9, 10, 5),
        Bar(400, 10, 11, 9, 10, 5),
    ]
    good, bad = feed.validate(IID, bars)
    assert [b.ts for b in good] == [100, 400]
    assert [e.reason for e in bad] == ["nan_price", "non_positive_price", "out_of_order", "duplicate_ts"]
    assert all(isinstance(e, MarketDataRejected) for e in bad)
    assert feed.rejected_by_reason(IID) == {
        "nan_price": 1,
        "non_positive_price": 1,
        "out_of_order": 1,
        "duplicate_ts": 1,
    }
    # The next batch is checked against the last accepted bar of the previous one.
    good, bad = feed.validate(IID, [Bar(400, 10, 11, 9, 10, 5)])
    assert good == [] and bad[0].reason == "duplicate_ts"


def test_bad_bars_injected_into_a_replay_never_reach_the_strategy_and_fills_are_unchanged(
    day_series: BarSeries,
) -> None:
    spec = BacktestSpec(data=str(DAY), strategy="sma_cross")
    expected = backtest(spec, SmaCross, day_series)
    clean = list(day_series.bars())
    dirty: list[Bar] = []
    injected = 0
    for k, bar in enumerate(clean):
        dirty.append(Bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume))
        if k % 25 == 10:
            dirty.append(Bar(bar.ts + 1, math.nan, bar.high, bar.low, bar.close, 0))  # NaN
            dirty.append(Bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume))  # duplicate
            dirty.append(Bar(bar.ts - 10, bar.open, bar.high, bar.low, bar.close, bar.volume))  # out of order
            dirty.append(Bar(bar.ts + 2, bar.open, bar.high, bar.low, bar.close, -5))  # negative volume
            injected += 4
    loop, host = build_live(spec, SmaCross, day_series)
    seen: list[int] = []
    original = host.strategy.on_bar

    def spy(bar: Bar) -> None:
        seen.append(bar.ts)
        original(bar)

    host.strategy.on_bar = spy  # type: ignore[method-assign]
    asyncio.run(loop.run((IID, bar) for bar in dirty))
    assert seen == [b.ts for b in clean]
    assert sum(loop.feed.rejected_by_reason().values()) == injected
    assert loop.feed.rejected_by_reason() == {
        "nan_price": injected // 4,
        "duplicate_ts": injected // 4,
        "out_of_order": injected // 4,
        "negative_volume": injected // 4,
    }
    assert sum(isinstance(e, MarketDataRejected) for e in loop.events) == injected
    assert [fill_key(f) for f in loop.venue.fills] == [fill_key(f) for f in expected.fills]
    assert asyncio.run(loop.venue.account_report()).equity == expected.final_value


@pytest.mark.parametrize(("speed", "factor"), [("max", None), (None, None), ("realtime", 1.0), ("10x", 10.0), (4, 4.0)])
def test_parse_speed(speed: Any, factor: float | None) -> None:
    assert parse_speed(speed) == factor


@pytest.mark.parametrize("speed", ["fast", "0x", "-2x"])
def test_parse_speed_rejects_nonsense(speed: str) -> None:
    with pytest.raises(ConfigError):
        parse_speed(speed)
