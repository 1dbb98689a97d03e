"""The sweep's command line and YAML config: one parser, so every YAML key is exactly a CLI flag.

`dto sweep` and `python -m pipelines.backtest` share this parser, and the run options (`--cash`, `--size`,
fees, `--fill`, ...) come from `dto.cli.add_run_options`, so they mean what they mean for `dto backtest`.
A YAML config is turned into the same flags (`commission_pct: 0.1` -> `--commission-pct 0.1`); flags on the
command line come after it, so they override its single values and extend its lists.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from dto.cli import add_run_options, spec_from_args
from pipelines.evaluation import ENGINES, STAT_FIELDS
from pipelines.grid import GridAxis, check_duplicates, parse_axis
from trading.backtest.runner import BacktestSpec, vector_compatible
from trading.errors import ConfigError

METRICS: tuple[str, ...] = ("final_value", *STAT_FIELDS)
# Metrics where smaller is better; every other metric ranks the largest first.
MINIMIZED = frozenset(
    {"volatility_ann_pct", "max_drawdown_duration_bars", "max_drawdown_duration_days", "fees_paid", "turnover"}
)
# Most cells per Ray task. A sweep is cut into as few tasks as this allows (then rounded up to a multiple of
# the CPUs): each Ray Data task costs 0.1-0.2 s of scheduling on a small machine, far more than a vectorized
# cell (~15 ms), so small batches left CPUs idle (measured 1->2 CPU scaling: 58% at 16 cells a task, 87% here).
DEFAULT_BATCH = 1000
EXECUTORS: tuple[str, ...] = ("auto", "process", "ray")


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
    parser = _Parser(
        prog=prog,
        description="Sweep data files x strategies x a parameter grid (x walk-forward windows) on Ray.",
    )
    parser.add_argument("--config", help="YAML file whose keys are these flags (data, strategy, grid, fill, ...)")
    parser.add_argument("--data", nargs="+", action="extend", default=[], metavar="FILE", help="bars file(s)")
    parser.add_argument("--strategy", action="append", default=[], help="strategy name or module:Class (repeatable)")
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        help="swept parameter: key=v1,v2,... or key=start:stop:step (inclusive); strategy.key scopes it",
    )
    add_run_options(parser)
    parser.add_argument("--engine", choices=ENGINES, default="auto", help="vector fast path, event engine, or auto")
    parser.add_argument(
        "--metric", default="sharpe", help=f"rank cells by this statistic (one of: {', '.join(METRICS)})"
    )
    parser.add_argument("--top", type=int, default=10, help="print the best N cells (default 10)")
    parser.add_argument("--out", default=None, help="results folder (Parquet parts + summary); re-run to resume")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--address", default=None, help="join this Ray cluster instead of starting a local one")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray started here")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help=f"most cells per Ray task (default {DEFAULT_BATCH})"
    )
    parser.add_argument("--wf-train", type=int, default=None, help="walk-forward: in-sample window in bars")
    parser.add_argument("--wf-test", type=int, default=None, help="walk-forward: out-of-sample window in bars")
    parser.add_argument("--wf-anchored", action="store_true", help="walk-forward: in-sample always starts at bar 0")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="auto",
        help="run in this process, on Ray, or auto: here when the grid fits one CPU for a few seconds and no "
        "cluster is named",
    )
    return parser


def yaml_to_argv(path: str | Path, parser: argparse.ArgumentParser) -> list[str]:
    """The flags a YAML config stands for; an unknown key raises ConfigError naming it."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}", key="config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}", key="config") from None
    if loaded is None:
        return []
    if not isinstance(loaded, dict):
        raise ConfigError(f"config {path} must be a mapping of option: value", key="config")
    actions = {a.dest: a for a in parser._actions if a.option_strings}  # argparse has no public API for this
    argv: list[str] = []
    for raw_key, value in loaded.items():
        key = str(raw_key).replace("-", "_")
        action = actions.get(key)
        if action is None or key in ("config", "help"):
            raise ConfigError(f"config {path}: unknown key {raw_key!r}", key=str(raw_key))
        flag = action.option_strings[0]
        if key == "grid":
            argv += [item for axis in _grid_items(value) for item in ("--grid", axis)]
        elif isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError(f"config {path}: {raw_key!r} must be true or false", key=str(raw_key))
            if value:
                argv.append(flag)
        elif isinstance(value, list):
            if action.nargs in ("+", "*"):
                argv += [flag, *(str(v) for v in value)]
            elif isinstance(action, argparse._AppendAction):
                argv += [item for v in value for item in (flag, str(v))]
            else:
                raise ConfigError(f"config {path}: {raw_key!r} takes one value, not a list", key=str(raw_key))
        elif value is None:
            continue
        else:
            argv += [flag, str(value)]
    return argv


def _grid_items(value: Any) -> list[str]:
    if isinstance(value, dict):
        items = []
        for key, values in value.items():
            if isinstance(values, list):
                items.append(f"{key}=" + ",".join(_scalar(v) for v in values))
            else:
                items.append(f"{key}={_scalar(values)}")
        return items
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConfigError("config key 'grid' must map parameter names to values (or list key=values texts)", key="grid")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_config(argv: Sequence[str] | None = None, prog: str = "dto sweep") -> SweepConfig:
    """Parse flags (and the YAML they point at) into a SweepConfig; ConfigError names any bad key."""
    parser = build_parser(prog)
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = parser.parse_args(args_list)
    args = parser.parse_args([*yaml_to_argv(first.config, parser), *args_list]) if first.config else first
    if not args.data:
        raise ConfigError("give at least one --data file", key="data")
    if not args.strategy:
        raise ConfigError("give at least one --strategy", key="strategy")
    axes = tuple(parse_axis(item) for item in args.grid)
    check_duplicates(axes)
    if args.metric not in METRICS:
        raise ConfigError(f"unknown --metric {args.metric!r} (one of: {', '.join(METRICS)})", key="metric")
    if args.top < 0:
        raise ConfigError(f"--top must be 0 or more, got {args.top}", key="top")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}", key="batch_size")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise ConfigError(f"--num-cpus must be at least 1, got {args.num_cpus}", key="num_cpus")
    walk_forward = None
    if args.wf_train is not None or args.wf_test is not None:
        if args.wf_train is None or args.wf_test is None:
            missing = "wf_train" if args.wf_train is None else "wf_test"
            raise ConfigError("walk-forward needs both --wf-train and --wf-test", key=missing)
        walk_forward = WalkForward(args.wf_train, args.wf_test, args.wf_anchored)
    elif args.wf_anchored:
        raise ConfigError("--wf-anchored needs --wf-train and --wf-test", key="wf_anchored")
    if args.executor == "process" and args.address:
        raise ConfigError("--executor process runs here; it cannot join --address", key="executor")
    base: BacktestSpec = spec_from_args(args, "", "", {})
    base.sim_config()  # fill timing and fee options fail here, before any work
    if args.engine == "vector" and (reason := vector_compatible(base)):
        raise ConfigError(f"--engine vector cannot run with {reason}; use --engine auto or event", key="engine")
    return SweepConfig(
        data=tuple(args.data),
        strategies=tuple(dict.fromkeys(args.strategy)),
        axes=axes,
        base=replace(base),
        engine=args.engine,
        metric=args.metric,
        top=args.top,
        out=Path(args.out) if args.out else None,
        json=args.json,
        address=args.address,
        num_cpus=args.num_cpus,
        batch_size=args.batch_size,
        walk_forward=walk_forward,
        progress=not args.no_progress,
        executor=args.executor,
    )
