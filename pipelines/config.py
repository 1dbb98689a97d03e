"""The sweep's command line and YAML config, both into the core's typed `SweepSettings`, then a `SweepConfig`.

`dto sweep` and `python -m pipelines.backtest` share this parser. Its flags are the settings' fields (the run
options come from `trading.backtest.settings.add_run_flags`, so they mean what they mean for `dto backtest`),
and a YAML config's keys are the same names (dashes or underscores). Flags on the command line override the
YAML's single values and extend its lists (data files, strategies, grid axes). The HTTP API builds the same
`SweepSettings` from a request body (`actors/research.py`); `sweep_config` is the one way on from there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from pydantic import ValidationError

from pipelines.evaluation import ENGINES
from pipelines.grid import GridAxis, axis_from_value, check_duplicates
from trading.backtest.runner import BacktestSpec, vector_compatible
from trading.backtest.settings import DEFAULT_BATCH, SweepSettings, add_run_flags, settings_error
from trading.errors import ConfigError

# Metrics where smaller is better; every other metric ranks the largest first.
MINIMIZED = frozenset(
    {"volatility_ann_pct", "max_drawdown_duration_bars", "max_drawdown_duration_days", "fees_paid", "turnover"}
)
EXECUTORS: tuple[str, ...] = ("auto", "process", "ray")
_LISTS = ("data", "strategies")  # flags that extend the YAML's list instead of replacing it
_ALIASES = {"strategy": "strategies", "tz": "timezone"}


class UsageError(ConfigError):
    """A command-line syntax problem (argparse's complaint), reported in one line like every ConfigError."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


@dataclass(frozen=True)
class WalkForward:
    train: int
    test: int
    anchored: bool = False


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep: what to run (data x strategies x grid [x windows]) and how."""

    data: tuple[str, ...]
    strategies: tuple[str, ...]
    axes: tuple[GridAxis, ...]
    base: BacktestSpec  # the run options; data, strategy and params are filled in per cell
    engine: str = "auto"
    metric: str = "sharpe"
    top: int = 10
    out: Path | None = None
    json: bool = False
    address: str | None = None
    num_cpus: int | None = None
    batch_size: int = DEFAULT_BATCH
    walk_forward: WalkForward | None = None
    progress: bool = True
    executor: str = "auto"  # auto, process or ray: see pipelines.backtest

    @property
    def minimize(self) -> bool:
        return self.metric in MINIMIZED


def build_parser(prog: str = "dto sweep") -> argparse.ArgumentParser:
    """The sweep's flags. An absent flag is absent from the parsed namespace: the settings hold the defaults."""
    parser = _Parser(
        prog=prog,
        description="Sweep data files x strategies x a parameter grid (x walk-forward windows), here or on Ray.",
        argument_default=argparse.SUPPRESS,
    )
    fields = SweepSettings.model_fields

    def described(name: str) -> str | None:
        return fields[name].description

    parser.add_argument("--config", help="YAML file whose keys are these flags (data, strategy, grid, fill, ...)")
    parser.add_argument("--data", nargs="+", action="extend", metavar="FILE", help=described("data"))
    parser.add_argument("--strategy", dest="strategies", action="append", metavar="NAME",
                        help="strategy name or module:Class (repeatable)")
    parser.add_argument(
        "--grid",
        action="append",
        metavar="KEY=VALUES",
        help="swept parameter: key=v1,v2,... or key=start:stop:step (inclusive); strategy.key scopes it",
    )
    add_run_flags(parser)
    parser.add_argument("--engine", choices=ENGINES, help=described("engine"))
    parser.add_argument("--metric", help=described("metric"))
    parser.add_argument("--top", help=described("top"))
    parser.add_argument("--out", help=described("out"))
    parser.add_argument("--json", action="store_true", help=described("print_json"))
    parser.add_argument("--address", help=described("address"))
    parser.add_argument("--num-cpus", help=described("num_cpus"))
    parser.add_argument("--batch-size", help=described("batch_size"))
    parser.add_argument("--wf-train", help=described("wf_train"))
    parser.add_argument("--wf-test", help=described("wf_test"))
    parser.add_argument("--wf-anchored", action="store_true", help=described("wf_anchored"))
    parser.add_argument("--no-progress", action="store_true", help=described("no_progress"))
    parser.add_argument("--executor", choices=EXECUTORS, help=described("executor"))
    return parser


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config as settings values (keys with underscores); unreadable or non-mapping files raise."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}", key="config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}", key="config") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config {path} must be a mapping of option: value", key="config")
    values: dict[str, Any] = {}
    for raw_key, value in loaded.items():
        key = str(raw_key).replace("-", "_")
        if key in ("config", "help"):
            raise ConfigError(f"config {path}: unknown key {raw_key!r}", key=str(raw_key))
        key = _ALIASES.get(key, key)
        if value is not None:
            values[key] = _grid_mapping(value) if key == "grid" else value
    return values


def _grid_mapping(value: Any) -> dict[str, Any]:
    """A YAML grid: a mapping of key -> values, or a list of the command line's key=values texts."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return grid_texts([str(v) for v in value])
    raise ConfigError("config key 'grid' must map parameter names to values (or list key=values texts)", key="grid")


def grid_texts(items: Sequence[str], into: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`--grid key=values` texts added to a grid mapping; a key given twice raises ConfigError naming it."""
    grid = dict(into or {})
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"--grid {item!r} is not key=v1,v2,... or key=start:stop:step", key=key or item)
        if key in grid:
            raise ConfigError(f"--grid {key!r} is given twice", key=key)
        grid[key] = text
    return grid


def parse_settings(argv: Sequence[str] | None = None, prog: str = "dto sweep") -> SweepSettings:
    """Flags (and the YAML they point at) into the typed settings; ConfigError names any bad key."""
    given = vars(build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv)))
    config_path = given.pop("config", None)
    values = load_yaml(config_path) if config_path else {}
    for key, value in given.items():
        if key == "grid":
            values["grid"] = grid_texts(value, values.get("grid"))
        elif key in _LISTS and key in values:
            old = values[key]
            values[key] = [*([old] if isinstance(old, str) else old), *value]
        else:
            values[key] = value
    try:
        return SweepSettings.model_validate(values)
    except ValidationError as exc:
        raise settings_error(exc, f"config {config_path}" if config_path else "") from None


def parse_config(argv: Sequence[str] | None = None, prog: str = "dto sweep") -> SweepConfig:
    """Parse flags (and the YAML they point at) into a SweepConfig; ConfigError names any bad key."""
    return sweep_config(parse_settings(argv, prog))


def sweep_config(settings: SweepSettings) -> SweepConfig:
    """The validated sweep of `settings`: grid axes parsed, run options checked, before any work."""
    axes = tuple(axis_from_value(key, value) for key, value in settings.grid.items())
    check_duplicates(axes)
    walk_forward = None
    if settings.wf_train is not None or settings.wf_test is not None:
        if settings.wf_train is None or settings.wf_test is None:
            missing = "wf_train" if settings.wf_train is None else "wf_test"
            raise ConfigError("walk-forward needs both --wf-train and --wf-test", key=missing)
        walk_forward = WalkForward(settings.wf_train, settings.wf_test, settings.wf_anchored)
    elif settings.wf_anchored:
        raise ConfigError("--wf-anchored needs --wf-train and --wf-test", key="wf_anchored")
    if settings.executor == "process" and settings.address:
        raise ConfigError("--executor process runs here; it cannot join --address", key="executor")
    base = settings.spec("", "", {})
    base.sim_config()  # fill timing and fee options fail here, before any work
    if settings.engine == "vector" and (reason := vector_compatible(base)):
        raise ConfigError(f"--engine vector cannot run with {reason}; use --engine auto or event", key="engine")
    return SweepConfig(
        data=tuple(settings.data),
        strategies=tuple(dict.fromkeys(settings.strategies)),
        axes=axes,
        base=base,
        engine=settings.engine,
        metric=settings.metric,
        top=settings.top,
        out=Path(settings.out) if settings.out else None,
        json=settings.print_json,
        address=settings.address,
        num_cpus=settings.num_cpus,
        batch_size=settings.batch_size,
        walk_forward=walk_forward,
        progress=not settings.no_progress,
        executor=settings.executor,
    )
