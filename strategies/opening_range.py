"""`opening_range_breakout`: the classic intraday day-trading setup."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, field_validator

from trading.data.bars import Bar, BarSeries
from trading.model.orders import OrderSide
from trading.strategy import Strategy, StrategyConfig


class OpeningRangeConfig(StrategyConfig):
    range_bars: int = Field(6, ge=1, description="Bars at the start of each day that form the opening range")
    timezone: str = Field("UTC", description="Time zone that defines the trading day, e.g. America/New_York")
    exit_time: str = Field("", description="Local HH:MM after which positions are closed; empty = never")
    target_multiple: float = Field(2.0, gt=0, description="Take profit at this many range heights from entry")
    allow_short: bool = Field(False, description="Also sell a break below the range")

    @field_validator("exit_time")
    @classmethod
    def _valid_time(cls, value: str) -> str:
        if value:
            dt.time.fromisoformat(value)
        return value


class OpeningRangeBreakout(Strategy[OpeningRangeConfig]):
    """Trade the first close outside the day's opening range, once per day, with a bracket:
    stop-loss at the other side of the range and take-profit at `target_multiple` range heights."""

    name = "opening_range_breakout"
    description = "Intraday breakout of the first N bars' range, bracket exits, one trade a day"
    config_class: ClassVar[type[StrategyConfig]] = OpeningRangeConfig

    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        local = pd.DatetimeIndex(pd.to_datetime(bars.ts, unit="ns", utc=True)).tz_convert(self.config.timezone)
        day = pd.Series((local.year * 10_000 + local.month * 100 + local.day).to_numpy())
        bar_of_day = day.groupby(day).cumcount().to_numpy()
        in_range = bar_of_day < self.config.range_bars
        frame = pd.DataFrame(
            {
                "day": day,
                "high": np.where(in_range, bars.high, np.nan),
                "low": np.where(in_range, bars.low, np.nan),
            }
        )
        running_high = frame.groupby("day")["high"].cummax()
        running_low = frame.groupby("day")["low"].cummin()
        # Keep the completed range for the rest of the day (forward fill within the day only).
        high = running_high.groupby(frame["day"]).ffill().to_numpy(dtype=np.float64)
        low = running_low.groupby(frame["day"]).ffill().to_numpy(dtype=np.float64)
        ready = bar_of_day >= self.config.range_bars - 1
        minutes = (local.hour * 60 + local.minute).to_numpy()
        if self.config.exit_time:
            exit_at = dt.time.fromisoformat(self.config.exit_time)
            exit_flag = minutes >= exit_at.hour * 60 + exit_at.minute
        else:
            exit_flag = np.zeros(len(bars), dtype=bool)
        return {
            "range_high": np.where(ready, high, np.nan),
            "range_low": np.where(ready, low, np.nan),
            "day": day.to_numpy(dtype=np.float64),
            "exit": exit_flag.astype(np.float64),
            "in_range": in_range.astype(np.float64),
        }

    def on_start(self) -> None:
        self._traded_day = -1.0

    def on_bar(self, bar: Bar) -> None:
        i = self.i
        if self.ind["exit"][i]:
            if not self.is_flat() or self.has_open_orders():
                self.cancel_all()
                self.close_position()
            return
        high = self.ind["range_high"][i]
        low = self.ind["range_low"][i]
        day = self.ind["day"][i]
        if math.isnan(high) or self.ind["in_range"][i] or day == self._traded_day:
            return
        if not self.is_flat() or self.has_open_orders():
            return
        instrument = self.ctx.instrument(self.instrument_id)
        height = high - low
        if height <= 0:
            return
        if bar.close > high:
            side = OrderSide.BUY
            stop, target = low, bar.close + self.config.target_multiple * height
        elif self.config.allow_short and bar.close < low:
            side = OrderSide.SELL
            stop, target = high, bar.close - self.config.target_multiple * height
        else:
            return
        self._traded_day = day
        self.bracket(
            side,
            stop_loss=instrument.make_price(stop),
            take_profit=instrument.make_price(target),
            quantity=Decimal(self.config.size),
        )
