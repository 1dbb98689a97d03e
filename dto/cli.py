"""The `dto` command line. Subcommands parse arguments into core specs and print reports or JSON.

Errors the user can fix (bad file, unknown strategy or parameter) print one line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trading.errors import TradingError

ROOT = Path(__file__).resolve().parent.parent
EXIT_USAGE = 2


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """`key=value` pairs into a dict; values stay strings (the strategy config validates and converts)."""
    params: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise TradingError(f"--param {item!r} is not key=value")
        params[key.strip()] = value.strip()
    return params


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `backtest`, `sweep` and `paper`: the fields of the core's RunSettings, as flags."""
    from trading.backtest.settings import add_run_flags

    add_run_flags(parser)


def spec_from_args(args: argparse.Namespace, data: str, strategy: str, params: dict[str, Any]) -> Any:
    """The BacktestSpec of the run options in `args` (validated by the core's typed settings)."""
    from pydantic import ValidationError

    from trading.backtest.settings import BacktestSettings, given_flags, settings_error

    try:
        settings = BacktestSettings.model_validate(
            {**given_flags(args), "data": data, "strategy": strategy, "params": params}
        )
    except ValidationError as exc:
        raise settings_error(exc) from None
    return settings.to_spec()


# ------------------------------------------------------------------------------------------ commands
def cmd_backtest(args: argparse.Namespace) -> int:
    from dto.reports import backtest_report
    from strategies import resolve_strategy
    from trading.backtest.runner import run_backtest

    strategy_class = resolve_strategy(args.strategy)
    spec = spec_from_args(args, args.data, args.strategy, parse_params(args.param))
    result = run_backtest(spec, strategy_class)
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        print(backtest_report(result))
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    from strategies import all_strategies
    from trading.strategy import describe_parameters

    rows: dict[str, dict[str, Any]] = {
        name: {"description": cls.description, "parameters": describe_parameters(cls)}
        for name, cls in all_strategies().items()
    }
    if args.json:
        print(json.dumps(rows))
        return 0
    for name, info in rows.items():
        print(f"{name}: {info['description']}")
        for p in info["parameters"]:
            print(f"    {p['name']:<16} {p['type']:<8} default {p['default']!s:<10} {p['description']}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from pipelines.backtest import main as sweep_main

    return sweep_main(args.rest)


def cmd_run(args: argparse.Namespace) -> int:
    from dto.run import main as run_main

    return run_main(args.rest)


def cmd_paper(args: argparse.Namespace) -> int:
    from dto.paper import main as paper_main

    return paper_main(args.rest)


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines.train_signals import main as train_main

    return train_main(args.rest)


def cmd_keys(args: argparse.Namespace) -> int:
    from dto.keys import cmd_keys as run_keys

    return run_keys(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from dto.demo import run_demo

    return run_demo()


def cmd_risk(args: argparse.Namespace) -> int:
    from dto.risk import cmd_risk as run_risk

    return run_risk(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "backtest": cmd_backtest,
    "strategies": cmd_strategies,
    "demo": cmd_demo,
    "sweep": cmd_sweep,
    "keys": cmd_keys,
    "train": cmd_train,
    "run": cmd_run,
    "paper": cmd_paper,
    "risk": cmd_risk,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dto", description="Day Trading Orchestrator")
    sub = parser.add_subparsers(dest="command", required=True)

    backtest = sub.add_parser("backtest", help="run one backtest on a data file")
    backtest.add_argument("--data", required=True, help="bars file (CSV, freqtrade JSON, Parquet)")
    backtest.add_argument("--strategy", required=True, help="built-in name (see `dto strategies`) or module:Class")
    backtest.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    add_run_options(backtest)
    backtest.add_argument("--json", action="store_true", help="print one JSON object")

    strategies = sub.add_parser("strategies", help="list built-in strategies and their parameters")
    strategies.add_argument("--json", action="store_true")

    sub.add_parser("demo", help="backtest built-in strategies on shipped real data and print reports")

    sweep = sub.add_parser(
        "sweep",
        help="parameter sweep / walk-forward on Ray Data (see `dto sweep --help`)",
        add_help=False,
        prefix_chars="\0",  # every argument goes to the pipeline's own parser
    )
    sweep.add_argument("rest", nargs=argparse.REMAINDER)

    train = sub.add_parser(
        "train",
        help="train ML signal models on Ray (see `dto train --help`)",
        add_help=False,
        prefix_chars="\0",  # every argument goes to the training job's own parser
    )
    train.add_argument("rest", nargs=argparse.REMAINDER)

    # Commands whose own parsers own their options (every argument is passed through).
    for name, text in (
        ("run", "the whole system on embedded defaults: runtime, paper broker replay, gateway (see `dto run --help`)"),
        ("paper", "paper-trade a data file through the live runtime (see `dto paper --help`)"),
    ):
        passthrough = sub.add_parser(name, help=text, add_help=False, prefix_chars="\0")
        passthrough.add_argument("rest", nargs=argparse.REMAINDER)

    from dto.keys import add_parser as add_keys_parser

    add_keys_parser(sub)
    from dto.risk import add_parser as add_risk_parser

    add_risk_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (TradingError, ValueError, OSError) as exc:
        print(f"dto {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
