"""`dto risk var|stress|backtest`: portfolio risk of daily data files from the command line.

Every position is one data file (its name is the file's stem); `--weights` are fractions of portfolio value
(default: equal weights summing to 1). Values are parsed here, not by argparse, so a bad one prints one line
and exits 2 like every other subcommand.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading.errors import TradingError

if TYPE_CHECKING:
    from trading.data.bars import BarSeries

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = ROOT / "data" / "arch" / "sp500_1999_2018_daily.csv"


# ------------------------------------------------------------------------------------------ parsing
def _float(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TradingError(f"{option} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TradingError(f"{option} {text!r} is not a finite number")
    return value


def _int(text: str, option: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise TradingError(f"{option} {text!r} is not a whole number") from None
    if value < minimum:
        raise TradingError(f"{option} must be at least {minimum}, got {value}")
    return value


def _weights(text: str | None, count: int) -> list[float]:
    if text is None:
        return [1.0 / count] * count
    values = [_float(part.strip(), "--weights") for part in text.split(",")]
    if len(values) != count:
        raise TradingError(f"--weights has {len(values)} values for {count} --data files")
    return values


def _names(files: Sequence[str]) -> list[str]:
    names = [Path(f).stem for f in files]
    # The same file twice (or two files with one stem) still needs two distinct position names.
    return [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]


def _load(files: Sequence[str], drop_bad_rows: bool) -> list[BarSeries]:
    from trading.data.loaders import load_bars

    return [load_bars(f, on_bad_rows="drop" if drop_bad_rows else "raise") for f in files]


def _date(ts: int) -> str:
    import pandas as pd

    return pd.Timestamp(ts, unit="ns", tz="UTC").strftime("%Y-%m-%d")


# ------------------------------------------------------------------------------------------ commands
def cmd_var(args: argparse.Namespace) -> int:
    from trading.risk.portfolio import align_closes, value_at_risk

    confidence = _float(args.confidence, "--confidence")
    horizon = _int(args.horizon, "--horizon", 1)
    paths = _int(args.paths, "--paths", 2)
    seed = _int(args.seed, "--seed", 0)
    dof = _float(args.dof, "--dof")
    names = _names(args.data)
    weights = _weights(args.weights, len(args.data))
    aligned = align_closes(_load(args.data, args.drop_bad_rows), names)
    result = value_at_risk(
        aligned.returns(), weights, confidence=confidence, method=args.method, horizon=horizon, names=names,
        paths=paths, seed=seed, distribution=args.distribution, dof=dof,
    )
    payload: dict[str, Any] = {
        **result.to_dict(),
        "files": list(args.data),
        "first_date": _date(int(aligned.ts[0])),
        "last_date": _date(int(aligned.ts[-1])),
    }
    if args.json:
        print(json.dumps(payload, allow_nan=False))
        return 0
    how = result.method if result.method != "montecarlo" else f"montecarlo ({result.distribution}, {paths} paths)"
    print(
        f"{confidence:.4g} VaR, {horizon}-day, {how}: {result.var:.4%} of portfolio value, "
        f"ES {result.es:.4%}  ({result.scenarios:,} scenarios, {payload['first_date']} .. {payload['last_date']})"
    )
    print(f"    {'position':<36} {'weight':>8} {'marginal VaR':>13} {'component VaR':>14} {'component ES':>13}")
    for row in payload["positions"]:
        print(
            f"    {row['name']:<36} {row['weight']:>8.4f} {row['marginal_var']:>13.4%} "
            f"{row['component_var']:>14.4%} {row['component_es']:>13.4%}"
        )
    return 0


def cmd_stress(args: argparse.Namespace) -> int:
    from trading.risk.portfolio import Holding
    from trading.risk.stress import historical_scenarios, hypothetical_shock, run_stress

    value = _decimal(args.value, "--value")
    names = _names(args.data)
    weights = _weights(args.weights, len(args.data))
    classes = _per_position(args.classes, "--classes", len(names), "equity")
    strategies = _per_position(args.strategies, "--strategies", len(names), "portfolio")
    series = _load(args.data, args.drop_bad_rows)
    reference = _load([args.reference], args.drop_bad_rows)[0]
    holdings = [
        Holding(
            instrument=name,
            # Today's position: the weight's share of --value at the file's last close.
            quantity=Decimal(repr(w)) * value / Decimal(repr(float(s.close[-1]))),
            price=Decimal(repr(float(s.close[-1]))),
            strategy=strategy,
            asset_class=cls,
        )
        for name, w, s, cls, strategy in zip(names, weights, series, classes, strategies, strict=True)
    ]
    count = _int(args.scenarios, "--scenarios", 0)
    scenarios = historical_scenarios(reference, dict(zip(names, series, strict=True)), days=count, weeks=count)
    shocks = _shocks(args.shock)
    scenarios.append(hypothetical_shock(shocks))
    results = [run_stress(s, holdings, equity=value, betas=_betas(names, series, reference)) for s in scenarios]
    if args.json:
        print(json.dumps({"value": str(value), "reference": args.reference,
                          "results": [r.to_dict() for r in results]}, allow_nan=False))
        return 0
    print(f"Stress of {len(holdings)} positions worth {value:,} (scenarios from {Path(args.reference).name})")
    for r in results:
        dates = f" {r.scenario.start}..{r.scenario.end}" if r.scenario.start else ""
        share = f"{r.account_return:+.2%}" if r.account_return is not None else "n/a"
        strategies_text = "  ".join(f"{k} {v:,}" for k, v in r.by_strategy.items())
        print(f"  {r.scenario.key:<40}{dates:<24} account {r.account_pnl:>14,} ({share})   {strategies_text}")
        for p in r.positions:
            print(f"      {p.instrument:<28} {p.shock:>+8.2%} ({p.source:<5}) {p.pnl:>14,}")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from trading.risk.portfolio import align_closes, backtest_var

    confidence = _float(args.confidence, "--confidence")
    window = _int(args.window, "--window", 2)
    paths = _int(args.paths, "--paths", 2)
    names = _names(args.data)
    weights = _weights(args.weights, len(args.data))
    aligned = align_closes(_load(args.data, args.drop_bad_rows), names)
    returns = aligned.returns()
    runs = [("historical", "normal"), ("parametric", "normal"), ("montecarlo", "normal"), ("montecarlo", "t")]
    if args.method is not None:
        runs = [(m, d) for m, d in runs if m == args.method] or [(args.method, "normal")]
    results = [
        backtest_var(returns, aligned.ts[1:], weights, confidence=confidence, method=m, window=window,
                     paths=paths, distribution=d)
        for m, d in runs
    ]
    if args.json:
        print(json.dumps([{**r.to_dict(), "first_date": _date(r.first_ts), "last_date": _date(r.last_ts)}
                          for r in results], allow_nan=False))
        return 0
    first = results[0]
    print(
        f"VaR backtest at {confidence:.4g}: each day's loss against the VaR of the {window} days before it, "
        f"{_date(first.first_ts)} .. {_date(first.last_ts)} ({first.kupiec.observations:,} days, "
        f"{first.kupiec.expected_rate * first.kupiec.observations:.1f} exceptions expected)"
    )
    for r in results:
        label = r.method if r.distribution is None else f"{r.method} ({r.distribution})"
        k = r.kupiec
        print(f"    {label:<24} {k.exceptions:>5} exceptions ({k.observed_rate:.2%})  Kupiec LR {k.lr:8.3f}  "
              f"p-value {k.p_value:.3g}")
    return 0


def _betas(names: Sequence[str], series: Sequence[BarSeries], reference: BarSeries) -> dict[str, float]:
    """Each position's beta to the reference on their shared dates: the proxy shock for dates it has no data."""
    from trading.risk.portfolio import align_closes, beta

    out: dict[str, float] = {}
    for name, s in zip(names, series, strict=True):
        try:
            joint = align_closes([s, reference]).returns()
        except TradingError:
            continue  # no shared dates: the proxy stays the reference's own move (beta 1)
        if len(joint) >= 20:
            out[name] = beta(joint[:, 0], joint[:, 1])
    return out


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise TradingError(f"{option} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise TradingError(f"{option} must be a positive number, got {text!r}")
    return value


def _per_position(text: str | None, option: str, count: int, default: str) -> list[str]:
    if text is None:
        return [default] * count
    values = [part.strip() for part in text.split(",")]
    if len(values) != count or not all(values):
        raise TradingError(f"{option} needs {count} non-empty comma-separated names, got {text!r}")
    return values


def _shocks(items: Sequence[str]) -> dict[str, float]:
    """`class=return` pairs; with none given, a standard shock: equities -20%, crypto -40%, volatility +50%."""
    if not items:
        return {"equity": -0.20, "crypto": -0.40, "volatility": 0.50}
    shocks: dict[str, float] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = {"equities": "equity", "vol": "volatility"}.get(key.strip(), key.strip())
        if not eq or not key:
            raise TradingError(f"--shock {item!r} is not class=return (e.g. equity=-0.2)")
        shocks[key] = _float(value.strip(), f"--shock {key}")
    return shocks


def cmd_risk(args: argparse.Namespace) -> int:
    action = {"var": cmd_var, "stress": cmd_stress, "backtest": cmd_backtest}[args.risk_command]
    return action(args)


def add_parser(sub: Any) -> None:
    risk = sub.add_parser("risk", help="portfolio VaR/ES, stress tests and VaR backtests on daily data files")
    actions = risk.add_subparsers(dest="risk_command", required=True)

    def positions(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data", action="append", required=True, metavar="FILE",
                            help="daily bars of one position; repeat for a portfolio")
        parser.add_argument("--weights", default=None, metavar="W1,W2,...",
                            help="fractions of portfolio value per --data, shorts negative (default: equal)")
        parser.add_argument("--drop-bad-rows", action="store_true", help="drop and count bad data rows")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    var = actions.add_parser("var", help="VaR and expected shortfall with per-position contributions")
    positions(var)
    var.add_argument("--confidence", required=True, help="e.g. 0.99")
    var.add_argument("--method", required=True, help="historical, parametric or montecarlo")
    var.add_argument("--horizon", default="1", help="days (default 1); sqrt-of-time for parametric")
    var.add_argument("--distribution", default="normal", help="montecarlo: normal or t (default normal)")
    var.add_argument("--dof", default="5", help="montecarlo t: degrees of freedom (default 5)")
    var.add_argument("--paths", default="10000", help="montecarlo paths (default 10000)")
    var.add_argument("--seed", default="0", help="montecarlo seed (default 0)")

    stress = actions.add_parser("stress", help="historical scenarios and hypothetical shocks on today's positions")
    positions(stress)
    stress.add_argument("--value", default="1000000", help="portfolio value the weights apply to (default 1000000)")
    stress.add_argument("--classes", default=None, metavar="C1,C2,...",
                        help="asset class per --data: equity, crypto, volatility, ... (default equity)")
    stress.add_argument("--strategies", default=None, metavar="S1,S2,...", help="owning strategy per --data")
    stress.add_argument("--reference", default=str(DEFAULT_REFERENCE),
                        help="daily series whose worst days/weeks are the scenarios (default: S&P 500 1999-2018)")
    stress.add_argument("--scenarios", default="5", help="worst days and worst weeks to replay (default 5 each)")
    stress.add_argument("--shock", action="append", default=[], metavar="CLASS=RETURN",
                        help="hypothetical shock, e.g. equity=-0.2 crypto=-0.4 volatility=0.5; repeatable")

    backtest = actions.add_parser("backtest", help="Kupiec's POF test of one-day VaR over the data's history")
    positions(backtest)
    backtest.add_argument("--confidence", default="0.99", help="default 0.99")
    backtest.add_argument("--window", default="250", help="days of history behind each day's VaR (default 250)")
    backtest.add_argument("--method", default=None, help="one method (default: all, Monte Carlo normal and t)")
    backtest.add_argument("--paths", default="10000", help="montecarlo paths (default 10000)")
