"""Oscillator and band strategies: `rsi_reversion`, `bollinger_breakout`, `macd_cross`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from trading.data.bars import Bar, BarSeries
from trading.indicators import bollinger, crossover, macd, rsi
from trading.strategy import Strategy, StrategyConfig, above_field


class RsiReversionConfig(StrategyConfig):
    period: int = Field(14, ge=2, description="RSI period")
    oversold: float = Field(30.0, gt=0, lt=100, description="Buy when RSI falls below this level")
    exit_level: float = Field(50.0, gt=0, lt=100, description="Sell when RSI rises above this level")

    _exit_above_oversold = above_field("exit_level", "oversold")


class RsiReversion(Strategy[RsiReversionConfig]):
    """Mean reversion: buy an oversold RSI, sell when it has recovered to the exit level."""

    name = "rsi_reversion"
    description = "Buy when RSI < oversold, exit when RSI > exit_level"
    config_class: ClassVar[type[StrategyConfig]] = RsiReversionConfig

    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        return {"rsi": rsi(bars.close, self.config.period)}

    def signals(
        self, bars: BarSeries, values: Mapping[str, npt.NDArray[np.float64]]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        with np.errstate(invalid="ignore"):
            return values["rsi"] < self.config.oversold, values["rsi"] > self.config.exit_level

    def on_bar(self, bar: Bar) -> None:
        value = self.ind["rsi"][self.i]
        if math.isnan(value) or self.has_open_orders():
            return
        if self.is_flat():
            if value < self.config.oversold:
                self.buy()
        elif value > self.config.exit_level:
            self.close_position()


class BollingerBreakoutConfig(StrategyConfig):
    period: int = Field(20, ge=2, description="Band period")
    width: float = Field(2.0, gt=0, description="Band width in standard deviations")


class BollingerBreakout(Strategy[BollingerBreakoutConfig]):
    """Momentum: buy a close above the upper band, exit on a close below the middle band."""

    name = "bollinger_breakout"
    description = "Buy a close above the upper band, exit below the middle band"
    config_class: ClassVar[type[StrategyConfig]] = BollingerBreakoutConfig

    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        upper, middle, lower = bollinger(bars.close, self.config.period, self.config.width)
        return {"upper": upper, "middle": middle, "lower": lower}

    def signals(
        self, bars: BarSeries, values: Mapping[str, npt.NDArray[np.float64]]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        with np.errstate(invalid="ignore"):
            return bars.close > values["upper"], bars.close < values["middle"]

    def on_bar(self, bar: Bar) -> None:
        upper = self.ind["upper"][self.i]
        if math.isnan(upper) or self.has_open_orders():
            return
        if self.is_flat():
            if bar.close > upper:
                self.buy()
        elif bar.close < self.ind["middle"][self.i]:
            self.close_position()


class MacdCrossConfig(StrategyConfig):
    fast: int = Field(12, ge=2, description="Fast EMA period")
    slow: int = Field(26, ge=3, description="Slow EMA period")
    signal: int = Field(9, ge=2, description="Signal line EMA period")

    _slow_above_fast = above_field("slow", "fast")


class MacdCross(Strategy[MacdCrossConfig]):
    """Buy when the MACD line crosses above its signal line, exit when it crosses below."""

    name = "macd_cross"
    description = "MACD line crossing its signal line"
    config_class: ClassVar[type[StrategyConfig]] = MacdCrossConfig

    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        line, signal, hist = macd(bars.close, self.config.fast, self.config.slow, self.config.signal)
        return {"macd": line, "signal": signal, "hist": hist, "cross": crossover(line, signal)}

    def signals(
        self, bars: BarSeries, values: Mapping[str, npt.NDArray[np.float64]]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        return values["cross"] > 0, values["cross"] < 0

    def on_bar(self, bar: Bar) -> None:
        cross = self.ind["cross"][self.i]
        if cross == 0 or self.has_open_orders():
            return
        if cross > 0 and self.is_flat():
            self.buy()
        elif cross < 0 and self.position > 0:
            self.close_position()
