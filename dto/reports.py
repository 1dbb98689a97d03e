"""Readable text reports for the command line."""

from __future__ import annotations

import pandas as pd

from trading.backtest.engine import BacktestResult
from trading.stats import format_report


def _time(ts: int) -> str:
    return pd.Timestamp(ts, unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M")


def backtest_report(result: BacktestResult, *, max_fills: int = 30) -> str:
    """The backtest as a person reads it: headline figures, statistics, then the fills and trades."""
    lines = [
        f"Backtest  {result.strategy} on {result.instrument_id}  "
        f"({', '.join(f'{k}={v}' for k, v in result.params.items() if k not in ('instrument_id', 'broker'))})",
        f"Bars {result.bars:,} from {_time(int(result.ts[0]))} to {_time(int(result.ts[-1]))}"
        if result.bars
        else "Bars 0",
        f"Final value {result.final_value:,.2f} {result.currency}   cash {result.cash:,.2f}   "
        f"position {result.position}",
        f"Ran in {result.elapsed_s:.3f} s ({result.bars_per_s:,.0f} bars/s)",
        "",
        format_report(result.stats),
        "",
        f"Fills ({len(result.fills)}):",
    ]
    for fill in result.fills[:max_fills]:
        lines.append(
            f"  {_time(fill.ts)}  {fill.side.value:<4} {fill.quantity:>10} @ {fill.price:>12}  fee {fill.commission}"
        )
    if len(result.fills) > max_fills:
        lines.append(f"  ... {len(result.fills) - max_fills} more (use --json for all)")
    lines.append(f"Trades ({len(result.trades)}):")
    for trade in result.trades[:max_fills]:
        lines.append(
            f"  {_time(trade.entry_ts)} -> {_time(trade.exit_ts)}  {trade.direction:<5} {trade.quantity:>8}  "
            f"{trade.entry_price:>12} -> {trade.exit_price:<12}  P&L {trade.pnl:>12,.2f}"
        )
    if len(result.trades) > max_fills:
        lines.append(f"  ... {len(result.trades) - max_fills} more")
    if result.denied:
        lines.append(f"Denied orders: {len(result.denied)}")
    return "\n".join(lines)
