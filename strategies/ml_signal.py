"""`ml_signal`: trade long-only on a registered model's probability that the price goes up.

`indicators()` computes the model's own features on the bars it is given (the whole history in a
backtest, the recent window live; see `FeatureSpec.warmup_bars` for how much history live needs) and
predicts P(up) for every bar. Features are causal and each bar is predicted on its own, so the probability
at bar i uses bars <= i only. Enter when P(up) > `enter`, exit when P(up) < `exit`.

Models load only from the configured registry (`registry_root()`: `$DTO_MODEL_REGISTRY`, else
`$DTO_HOME/models`, else `./models`): a model file is unpickled on load, so a caller's parameters never name
the folder. In-process code that owns another registry (the training pipeline) binds it with `in_registry`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from trading.data.bars import Bar, BarSeries
from trading.ml.features import FeatureSpec
from trading.ml.registry import ModelRegistry, RegisteredModel
from trading.strategy import Strategy, StrategyConfig, above_field

PROBABILITY = "p_up"


class MlSignalConfig(StrategyConfig):
    model: str = Field(description="Registered model name")
    version: str = Field("latest", description="Model version number, or 'latest'")
    exit: float = Field(0.45, gt=0, lt=1, description="Go flat when P(up) falls below this")
    enter: float = Field(0.55, gt=0, lt=1, description="Go long when P(up) rises above this")
    features: dict[str, Any] | None = Field(
        None, description="Feature spec this strategy expects; a model trained on other features is refused"
    )

    _enter_above_exit = above_field("enter", "exit")


class MlSignal(Strategy[MlSignalConfig]):
    """Long while a trained model's P(up) is high: in above `enter`, out below `exit`."""

    name = "ml_signal"
    description = "Long-only on a registered ML model's probability of an up move"
    config_class: ClassVar[type[StrategyConfig]] = MlSignalConfig
    registry: ClassVar[str | None] = None  # None: the configured registry

    def __init__(self, config: MlSignalConfig, strategy_id: str | None = None) -> None:
        super().__init__(config, strategy_id)
        expected = FeatureSpec.model_validate(config.features) if config.features is not None else None
        self.model: RegisteredModel = ModelRegistry(self.registry).load(config.model, config.version, expected)

    @classmethod
    def in_registry(cls, root: str | Path) -> type[MlSignal]:
        """This strategy loading its models from `root`: for trusted in-process callers, never from parameters."""
        return type(cls.__name__, (cls,), {"registry": str(root), "__module__": cls.__module__})

    def indicators(self, bars: BarSeries) -> Mapping[str, npt.NDArray[np.float64]]:
        return {PROBABILITY: self.model.predict(bars)}

    def signals(
        self, bars: BarSeries, values: Mapping[str, npt.NDArray[np.float64]]
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
        p = values[PROBABILITY]
        with np.errstate(invalid="ignore"):
            return p > self.config.enter, p < self.config.exit

    def on_bar(self, bar: Bar) -> None:
        p = self.ind[PROBABILITY][self.i]
        if math.isnan(p) or self.has_open_orders():  # NaN: features not defined yet
            return
        position = self.position
        if position == 0 and p > self.config.enter:
            self.buy()
        elif position > 0 and p < self.config.exit:
            self.close_position()
