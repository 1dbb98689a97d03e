"""Parameter grids: `key=v1,v2,...` lists and `key=start:stop:step` ranges (inclusive stop), expanded lazily.

A key may be scoped to one strategy (`sma_cross.fast=5:50:5`); an unscoped key applies to every strategy in
the sweep. Values stay text until the strategy config validates them, exactly like `dto backtest --param`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from trading.errors import ConfigError

# Keys the run options own: a grid over them would silently fight `--size`.
RESERVED_KEYS = frozenset({"instrument_id", "size"})
MAX_RANGE_VALUES = 100_000


@dataclass(frozen=True)
class GridAxis:
    """One swept parameter: its name, the strategy it is scoped to ('' = all) and its values (text)."""

    key: str
    values: tuple[str, ...]
    strategy: str = ""

    def applies_to(self, strategy: str) -> bool:
        return not self.strategy or self.strategy == strategy


def parse_axis(item: str) -> GridAxis:
    """Parse one `--grid` argument; raises ConfigError naming the key on any syntax error."""
    key, eq, text = item.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ConfigError(f"--grid {item!r} is not key=v1,v2,... or key=start:stop:step", key=key or item)
    strategy, dot, name = key.rpartition(".")
    if dot and (not strategy or not name):
        raise ConfigError(f"--grid key {key!r} is not param or strategy.param", key=key)
    if name in RESERVED_KEYS:
        raise ConfigError(f"--grid {name!r} is a run option (use --{name.replace('_', '-')}), not a parameter", key=key)
    return GridAxis(key=name, values=parse_values(name, text), strategy=strategy)


def axis_from_value(key: str, value: Any) -> GridAxis:
    """One grid entry from a YAML mapping: a list of values or the same text the CLI takes."""
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(f"grid {key!r} has no values", key=key)
        return parse_axis(f"{key}=" + ",".join(_text(v, key) for v in value))
    return parse_axis(f"{key}={_text(value, key)}")


def _text(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str | Decimal):
        return str(value)
    raise ConfigError(f"grid {key!r}: value {value!r} is not a number, text or boolean", key=key)


def parse_values(key: str, text: str) -> tuple[str, ...]:
    text = text.strip()
    if not text:
        raise ConfigError(f"--grid {key!r} has no values", key=key)
    if ":" in text and "," not in text:
        return _range(key, text)
    values = tuple(v.strip() for v in text.split(","))
    if any(not v for v in values):
        raise ConfigError(f"--grid {key!r} has an empty value in {text!r}", key=key)
    if len(set(values)) != len(values):
        raise ConfigError(f"--grid {key!r} repeats a value in {text!r}", key=key)
    return values


def _range(key: str, text: str) -> tuple[str, ...]:
    parts = text.split(":")
    if len(parts) != 3:
        raise ConfigError(f"--grid {key!r}: range {text!r} is not start:stop:step", key=key)
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise ConfigError(f"--grid {key!r}: range {text!r} has a non-number", key=key) from None
    if not all(v.is_finite() for v in (start, stop, step)):
        raise ConfigError(f"--grid {key!r}: range {text!r} must be finite", key=key)
    if step <= 0:
        raise ConfigError(f"--grid {key!r}: range step must be positive, got {step}", key=key)
    if stop < start:
        raise ConfigError(f"--grid {key!r}: range stop {stop} is below start {start}", key=key)
    count = int((stop - start) / step) + 1
    if count > MAX_RANGE_VALUES:
        raise ConfigError(f"--grid {key!r}: range {text!r} has {count:,} values (max {MAX_RANGE_VALUES:,})", key=key)
    # Decimal steps keep 0.1:0.3:0.1 at exactly three values (floats would drift past the stop).
    return tuple(_plain(start + i * step) for i in range(count))


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def axes_for(strategy: str, axes: Sequence[GridAxis]) -> list[GridAxis]:
    """The axes that apply to `strategy`; a scoped axis overrides an unscoped one of the same key."""
    chosen: dict[str, GridAxis] = {}
    for axis in axes:
        if axis.strategy == strategy or (not axis.strategy and axis.key not in chosen):
            chosen[axis.key] = axis
    return list(chosen.values())


def expand(axes: Sequence[GridAxis]) -> Iterator[dict[str, str]]:
    """Every combination, lazily, in a stable order (the first axis varies slowest)."""
    keys = [a.key for a in axes]
    for combo in itertools.product(*(a.values for a in axes)):
        yield dict(zip(keys, combo, strict=True))


def grid_size(axes: Sequence[GridAxis]) -> int:
    size = 1
    for axis in axes:
        size *= len(axis.values)
    return size


def check_duplicates(axes: Sequence[GridAxis]) -> None:
    seen: set[tuple[str, str]] = set()
    for axis in axes:
        ident = (axis.strategy, axis.key)
        if ident in seen:
            name = f"{axis.strategy}.{axis.key}" if axis.strategy else axis.key
            raise ConfigError(f"--grid {name!r} is given twice", key=name)
        seen.add(ident)


def describe(axes: Sequence[GridAxis]) -> Mapping[str, tuple[str, ...]]:
    return {(f"{a.strategy}.{a.key}" if a.strategy else a.key): a.values for a in axes}
