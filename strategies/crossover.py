"""Moving-average crossover strategies: `sma_cross` and `ema_cross`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from trading.data.bars import Bar, BarSeries
from trading.indicators import crossover, ema, sma
from trading.strategy import Strategy, StrategyConfig, above_field


class CrossoverConfig(StrategyConfig):
    fast: int = Field(10, ge=1, description="Fast average period; 1 means the price itself")
    slow: int = Field(30, ge=2, description="Slow average period")
    allow_short: bool = Field(False, description="Go short on a downward cross instead of only exiting")

    _slow_above_fast = above_field("slow", "fast")


class MovingAverageCross(Strategy[CrossoverConfig]):
    """Long when the fast average crosses above the slow one, out (or short) when it crosses below.

    One order at a time: no new order while one is pending (backtrader's classic example does the same).
    """

    config_class: ClassVar[type[StrategyConfig]] = CrossoverConfig

    def average(self, close: npt.NDArray[np.float64], period: int) -> npt.NDArray[np.float64]:
        raise NotImplementedError

    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        fast = self.average(bars.close, self.config.fast)
        slow = self.average(bars.close, self.config.slow)
        return {"fast": fast, "slow": slow, "cross": crossover(fast, slow)}

    def signals(
        self, bars: BarSeries, values: Mapping[str, npt.NDArray[np.float64]]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        if self.config.allow_short:
            return None
        return values["cross"] > 0, values["cross"] < 0

    def on_bar(self, bar: Bar) -> None:
        cross = self.value("cross")
        if cross == 0 or self.has_open_orders():
            return
        position = self.position
        size = self.config.size
        if cross > 0 and position <= 0:
            if position < 0:
                self.buy(-position + size)
            else:
                self.buy()
        elif cross < 0 and position >= 0:
            if self.config.allow_short:
                self.sell(position + size)
            elif position > 0:
                self.close_position()


class SmaCross(MovingAverageCross):
    name = "sma_cross"
    description = "Fast SMA crossing the slow SMA (fast=1: the price crossing its SMA)"

    def average(self, close: npt.NDArray[np.float64], period: int) -> npt.NDArray[np.float64]:
        return sma(close, period)


class EmaCross(MovingAverageCross):
    name = "ema_cross"
    description = "Fast EMA crossing the slow EMA"

    def average(self, close: npt.NDArray[np.float64], period: int) -> npt.NDArray[np.float64]:
        return ema(close, period)
