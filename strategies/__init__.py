"""Built-in strategies, written only against the core's Strategy API (`trading.strategy`).

`resolve_strategy("sma_cross")` finds a built-in by name; `resolve_strategy("pkg.module:Class")` loads a
user strategy by import path, which is how the live runtime builds one from a config.
"""

from __future__ import annotations

from typing import Any

from strategies.crossover import EmaCross, SmaCross
from strategies.ml_signal import MlSignal
from strategies.opening_range import OpeningRangeBreakout
from strategies.oscillators import BollingerBreakout, MacdCross, RsiReversion
from trading.errors import ConfigError
from trading.strategy import Strategy, StrategyType, load_strategy_class

BUILTIN: dict[str, StrategyType] = {
    cls.name: cls for cls in (SmaCross, EmaCross, RsiReversion, BollingerBreakout, MacdCross, OpeningRangeBreakout)
}
# Strategies that need a trained model from the registry before they can run (`dto train` makes one).
MODEL_BASED: dict[str, StrategyType] = {MlSignal.name: MlSignal}
ALL_STRATEGIES: dict[str, StrategyType] = {**BUILTIN, **MODEL_BASED}


def resolve_strategy(name: str) -> StrategyType:
    """A built-in strategy by name, or any Strategy class by `module:Class` import path."""
    if name in ALL_STRATEGIES:
        return ALL_STRATEGIES[name]
    if ":" in name:
        return load_strategy_class(name)
    known = ", ".join(sorted(ALL_STRATEGIES))
    raise ConfigError(f"unknown strategy {name!r} (built-in: {known}; or give module:Class)", key="strategy")


def import_path(cls: type[Strategy[Any]]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


__all__ = [
    "ALL_STRATEGIES",
    "BUILTIN",
    "MODEL_BASED",
    "BollingerBreakout",
    "EmaCross",
    "MacdCross",
    "MlSignal",
    "OpeningRangeBreakout",
    "RsiReversion",
    "SmaCross",
    "import_path",
    "resolve_strategy",
]
