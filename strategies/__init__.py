"""Built-in strategies, written only against the core's Strategy API (`trading.strategy`).

`resolve_strategy("sma_cross")` finds a built-in by name; `resolve_strategy("pkg.module:Class")` loads a
user strategy by import path, which is how the live runtime builds one from a config.
"""

from __future__ import annotations

from typing import Any

from strategies.crossover import EmaCross, SmaCross
from strategies.opening_range import OpeningRangeBreakout
from strategies.oscillators import BollingerBreakout, MacdCross, RsiReversion
from trading.errors import ConfigError
from trading.strategy import Strategy, StrategyType, load_strategy_class

BUILTIN: dict[str, StrategyType] = {
    cls.name: cls for cls in (SmaCross, EmaCross, RsiReversion, BollingerBreakout, MacdCross, OpeningRangeBreakout)
}
# Strategies that need a trained model from the registry before they can run (`dto train` makes one). Loaded
# on first use: they pull in scikit-learn and torch, which every process importing `strategies` (each Ray
# worker among them) would otherwise pay for in start time and memory.
MODEL_BASED: dict[str, str] = {"ml_signal": "strategies.ml_signal:MlSignal"}


def all_strategies() -> dict[str, StrategyType]:
    """Every strategy by name: the built-ins and the model-based ones (this imports the latter)."""
    return {**BUILTIN, **{name: load_strategy_class(path) for name, path in MODEL_BASED.items()}}


def resolve_strategy(name: str) -> StrategyType:
    """A built-in strategy by name, or any Strategy class by `module:Class` import path."""
    if name in BUILTIN:
        return BUILTIN[name]
    if name in MODEL_BASED:
        return load_strategy_class(MODEL_BASED[name])
    if ":" in name:
        return load_strategy_class(name)
    known = ", ".join(sorted([*BUILTIN, *MODEL_BASED]))
    raise ConfigError(f"unknown strategy {name!r} (built-in: {known}; or give module:Class)", key="strategy")


def import_path(cls: type[Strategy[Any]]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


__all__ = [
    "BUILTIN",
    "MODEL_BASED",
    "BollingerBreakout",
    "EmaCross",
    "MacdCross",
    "OpeningRangeBreakout",
    "RsiReversion",
    "SmaCross",
    "all_strategies",
    "import_path",
    "resolve_strategy",
]
