"""The vectorized fast path for signal strategies: whole-array numpy, no per-bar Python loop.

A signal strategy turns its indicators into two boolean arrays: `entries` (go long when flat) and `exits`
(go flat when long). The position is then a forward-filled state, orders are its changes, and fills land
on the same bar's close (`close` timing) or the next bar's open (`next_open`), at a fixed size, with per-unit
or percent fees. On any cell where both paths apply (long-only signals, no slippage, volume cap, sessions
or flattening, and enough cash for every entry) it gives the same fills and final value as the
event-driven engine; `tests/core/test_vectorized_parity.py` checks that. Money here is float64: this path
ranks parameter sets; the event engine books exact Decimal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.data.bars import BarSeries
from trading.sim.models import FillTiming
from trading.stats import Statistics, TradeSummary, compute_statistics

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class VectorCosts:
    """Costs the fast path supports: fixed size, contract multiplier, per-unit or percent fees."""

    size: float = 1.0
    multiplier: float = 1.0
    fee_per_unit: float = 0.0
    fee_rate: float = 0.0  # fraction of notional


@dataclass
class VectorResult:
    final_value: float
    cash: float
    position: float
    fill_index: IntArray  # bar index of each fill
    fill_side: npt.NDArray[np.int8]  # +1 buy, -1 sell
    fill_price: FloatArray
    fees: float
    stats: Statistics
    elapsed_s: float
    equity: FloatArray

    def to_dict(self) -> dict[str, Any]:
        return {
            "final_value": round(self.final_value, 10),
            "cash": round(self.cash, 10),
            "position": self.position,
            "fills": len(self.fill_index),
            "fees": self.fees,
            "elapsed_s": round(self.elapsed_s, 6),
            "stats": self.stats.to_dict(),
        }


def position_from_signals(entries: BoolArray, exits: BoolArray) -> npt.NDArray[np.int8]:
    """1 while long, 0 while flat: an entry opens when flat, an exit closes when long (exit wins a tie)."""
    n = len(entries)
    marks = np.full(n, -1, dtype=np.int64)
    positions = np.arange(n)
    marks[entries] = positions[entries]
    exit_marks = np.full(n, -1, dtype=np.int64)
    exit_marks[exits] = positions[exits]
    last_entry = np.maximum.accumulate(marks)
    last_exit = np.maximum.accumulate(exit_marks)
    return (last_entry > last_exit).astype(np.int8)


def run_signals(
    bars: BarSeries,
    entries: BoolArray,
    exits: BoolArray,
    *,
    starting_cash: float,
    fill: FillTiming = FillTiming.NEXT_OPEN,
    costs: VectorCosts | None = None,
    periods_per_year: float | None = None,
    with_stats: bool = True,
) -> VectorResult:
    """Simulate long-only signals over `bars` and report like the event engine does."""
    started = time.perf_counter()
    costs = costs or VectorCosts()
    n = len(bars)
    state = position_from_signals(np.asarray(entries, dtype=bool), np.asarray(exits, dtype=bool))
    change = np.diff(state.astype(np.int8), prepend=np.int8(0))
    order_index = np.flatnonzero(change)
    side = change[order_index].astype(np.int8)
    if fill is FillTiming.NEXT_OPEN:
        fill_index = order_index + 1
        keep = fill_index < n  # an order on the last bar has no next bar to fill on
        fill_index, side = fill_index[keep], side[keep]
        price = bars.open[fill_index]
    else:
        fill_index = order_index
        price = bars.close[fill_index]
    notional = price * costs.size * costs.multiplier
    fee = costs.fee_per_unit * costs.size + costs.fee_rate * notional
    cash_flow = -side * notional - fee
    cash = starting_cash + float(cash_flow.sum())
    position = float(side.sum()) * costs.size
    final_value = cash + position * float(bars.close[-1]) * costs.multiplier if n else cash
    flows = np.zeros(n)
    np.add.at(flows, fill_index, cash_flow)
    held = np.zeros(n)
    np.add.at(held, fill_index, side * costs.size)
    equity = starting_cash + np.cumsum(flows) + np.cumsum(held) * bars.close * costs.multiplier
    stats = _statistics(bars, equity, fill_index, side, price, fee, costs, periods_per_year) if with_stats else None
    return VectorResult(
        final_value=final_value,
        cash=cash,
        position=position,
        fill_index=fill_index.astype(np.int64),
        fill_side=side,
        fill_price=price,
        fees=float(fee.sum()),
        stats=stats if stats is not None else _empty_stats(starting_cash, final_value),
        elapsed_s=time.perf_counter() - started,
        equity=equity,
    )


def _statistics(
    bars: BarSeries,
    equity: FloatArray,
    fill_index: IntArray,
    side: npt.NDArray[np.int8],
    price: FloatArray,
    fee: FloatArray,
    costs: VectorCosts,
    periods_per_year: float | None,
) -> Statistics:
    buys = np.flatnonzero(side > 0)
    sells = np.flatnonzero(side < 0)
    closed = min(len(buys), len(sells))  # long-only: buys and sells alternate, starting with a buy
    entry, exit_ = buys[:closed], sells[:closed]
    pnl = (price[exit_] - price[entry]) * costs.size * costs.multiplier - fee[entry] - fee[exit_]
    entry_notional = price[entry] * costs.size * costs.multiplier
    trades = [
        TradeSummary(pnl=float(p), return_pct=float(p / e * 100) if e else 0.0, bars_held=int(b), fees=float(f))
        for p, e, b, f in zip(
            pnl, entry_notional, fill_index[exit_] - fill_index[entry], fee[entry] + fee[exit_], strict=True
        )
    ]
    held = np.cumsum(np.bincount(fill_index, weights=side.astype(np.float64), minlength=len(bars)))
    return compute_statistics(
        ts_ns=bars.ts,
        equity=equity,
        trades=trades,
        fees_paid=float(fee.sum()),
        traded_notional=float((price * costs.size * costs.multiplier).sum()),
        bars_in_market=int(np.count_nonzero(held > 0)),
        periods_per_year=periods_per_year,
    )


def _empty_stats(start: float, end: float) -> Statistics:
    return compute_statistics(
        ts_ns=np.array([0, 1], dtype=np.int64),
        equity=np.array([start, end]),
        trades=[],
        fees_paid=0.0,
        traded_notional=0.0,
        bars_in_market=0,
        periods_per_year=252.0,
    )
