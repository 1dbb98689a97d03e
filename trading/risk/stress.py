"""Stress tests of today's positions: historical scenarios (the worst days and weeks of a real daily series,
replayed) and hypothetical shocks by asset class, each with its P&L per position, per strategy and for the account.

A position's shock in a historical scenario is its own instrument's return over the scenario's dates when its
history covers them; otherwise the reference series' return times the position's beta (1 unless given), and
the result says which (`source`: "own" or "proxy"). P&L is booked money: Decimal, to the cent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from trading.data.bars import BarSeries, FloatArray
from trading.errors import InvalidValue
from trading.risk.portfolio import Holding, simple_returns

__all__ = [
    "PositionStress",
    "Scenario",
    "StressResult",
    "historical_scenarios",
    "hypothetical_shock",
    "run_stress",
]

CENTS = Decimal("0.01")
WEEK_DAYS = 5


@dataclass(frozen=True)
class Scenario:
    """One stress scenario: per-instrument returns (historical), per-asset-class returns (hypothetical) and,
    for historical ones, the reference series' return for positions without their own history."""

    name: str
    kind: str  # "day", "week" or "hypothetical"
    start: str = ""  # ISO dates of the first and last trading day of the move (historical only)
    end: str = ""
    instrument_returns: Mapping[str, float] = field(default_factory=dict)
    class_returns: Mapping[str, float] = field(default_factory=dict)
    reference_return: float | None = None

    @property
    def key(self) -> str:
        return self.name if self.kind == "hypothetical" else f"{self.name} {self.kind}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "instrument_returns": dict(self.instrument_returns),
            "class_returns": dict(self.class_returns),
            "reference_return": self.reference_return,
        }


@dataclass(frozen=True)
class PositionStress:
    instrument: str
    strategy: str
    market_value: Decimal
    shock: float
    pnl: Decimal
    source: str  # "own", "proxy" or "class"

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "strategy": self.strategy,
            "market_value": str(self.market_value),
            "shock": self.shock,
            "pnl": str(self.pnl),
            "source": self.source,
        }


@dataclass(frozen=True)
class StressResult:
    """A scenario's P&L per position, per strategy and for the account (fraction of equity in `account_return`)."""

    scenario: Scenario
    positions: tuple[PositionStress, ...]
    by_strategy: dict[str, Decimal]
    account_pnl: Decimal
    account_return: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.key,
            **self.scenario.to_dict(),
            "positions": [p.to_dict() for p in self.positions],
            "by_strategy": {k: str(v) for k, v in self.by_strategy.items()},
            "account_pnl": str(self.account_pnl),
            "account_return": self.account_return,
        }


def historical_scenarios(
    reference: BarSeries,
    history: Mapping[str, BarSeries] | None = None,
    *,
    days: int = 5,
    weeks: int = 5,
) -> list[Scenario]:
    """The `days` worst days and `weeks` worst weeks (5 trading days, compounded) of `reference`, at most one of
    each kind per calendar month, named by that month ("2008-10"), worst first.

    Each scenario carries the return of every series in `history` over the same dates when it has closes on
    the day before the move and on its last day.
    """
    if days < 0 or weeks < 0:
        raise InvalidValue(f"scenario counts must be >= 0, got days={days} weeks={weeks}")
    if len(reference) <= WEEK_DAYS:
        raise InvalidValue(f"the reference series has {len(reference)} bars; need more than {WEEK_DAYS}")
    closes = reference.close
    daily = simple_returns(closes)
    weekly = closes[WEEK_DAYS:] / closes[:-WEEK_DAYS] - 1.0
    return [
        *_worst(reference, history or {}, daily, 1, days, "day"),
        *_worst(reference, history or {}, weekly, WEEK_DAYS, weeks, "week"),
    ]


def _worst(
    reference: BarSeries, history: Mapping[str, BarSeries], moves: FloatArray, length: int, count: int, kind: str
) -> list[Scenario]:
    """Greedy: worst move first, skipping months already taken and windows overlapping a chosen one."""
    months = pd.DatetimeIndex(pd.to_datetime(reference.ts, unit="ns", utc=True)).strftime("%Y-%m")
    dates = pd.DatetimeIndex(pd.to_datetime(reference.ts, unit="ns", utc=True)).strftime("%Y-%m-%d")
    chosen: list[Scenario] = []
    taken_months: set[str] = set()
    taken_bars: set[int] = set()
    for i in np.argsort(moves, kind="stable"):
        if len(chosen) >= count:
            break
        before, last = int(i), int(i) + length  # bar indices: the close before the move and its last close
        month = str(months[last])
        window = set(range(before + 1, last + 1))
        if month in taken_months or window & taken_bars:
            continue
        taken_months.add(month)
        taken_bars |= window
        own = {name: r for name, s in history.items() if (r := _return_between(s, reference, before, last)) is not None}
        chosen.append(
            Scenario(
                name=month,
                kind=kind,
                start=str(dates[before + 1]),
                end=str(dates[last]),
                instrument_returns=own,
                reference_return=float(moves[i]),
            )
        )
    return chosen


def _return_between(series: BarSeries, reference: BarSeries, before: int, last: int) -> float | None:
    t0, t1 = reference.ts[before], reference.ts[last]
    i0, i1 = np.searchsorted(series.ts, [t0, t1])
    if i0 >= len(series) or i1 >= len(series) or series.ts[i0] != t0 or series.ts[i1] != t1:
        return None
    return float(series.close[i1] / series.close[i0] - 1.0)


def hypothetical_shock(class_returns: Mapping[str, float], name: str | None = None) -> Scenario:
    """Move every position of an asset class by the same return, e.g. ``{"equity": -0.2, "crypto": -0.4,
    "volatility": 0.5}``: equities -20%, crypto -40%, volatility up 50% (long volatility products gain).
    A class not named is not moved."""
    shocks = dict(class_returns)
    for cls, value in shocks.items():
        if not np.isfinite(value) or value < -1.0:
            raise InvalidValue(f"shock for {cls} must be a finite return >= -1 (-0.2 is -20%), got {value}")
    label = name or ", ".join(f"{cls} {value:+.0%}" for cls, value in shocks.items() if value)
    return Scenario(name=label or "no shock", kind="hypothetical", class_returns=shocks)


def run_stress(
    scenario: Scenario,
    holdings: Sequence[Holding],
    *,
    equity: Decimal | None = None,
    betas: Mapping[str, float] | None = None,
) -> StressResult:
    """Replay `scenario` on `holdings`: P&L = market value x shock, per position, strategy and account."""
    rows: list[PositionStress] = []
    by_strategy: dict[str, Decimal] = {}
    for h in holdings:
        shock, source = _shock_for(scenario, h, betas or {})
        value = h.market_value
        pnl = (value * Decimal(repr(shock))).quantize(CENTS)
        rows.append(PositionStress(h.instrument, h.strategy, value, shock, pnl, source))
        by_strategy[h.strategy] = by_strategy.get(h.strategy, Decimal(0)) + pnl
    account = sum((r.pnl for r in rows), Decimal(0))
    base = equity if equity is not None else sum((h.market_value for h in holdings), Decimal(0))
    return StressResult(scenario, tuple(rows), by_strategy, account, float(account / base) if base > 0 else None)


def _shock_for(scenario: Scenario, holding: Holding, betas: Mapping[str, float]) -> tuple[float, str]:
    if holding.instrument in scenario.instrument_returns:
        return scenario.instrument_returns[holding.instrument], "own"
    if scenario.kind == "hypothetical":
        return scenario.class_returns.get(holding.asset_class, 0.0), "class"
    if scenario.reference_return is None:
        raise InvalidValue(f"scenario {scenario.key} has no return for {holding.instrument} and no reference")
    return betas.get(holding.instrument, 1.0) * scenario.reference_return, "proxy"
