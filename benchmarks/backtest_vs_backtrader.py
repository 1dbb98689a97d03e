"""Event-driven backtest speed: this engine vs backtrader on ~120,000 real minute bars, same fills.

Strategy: price crossing its SMA(15) (sma_cross fast=1 slow=15), size 1, next-open fills, no fees.
Both runs are timed in this process, side by side; data loading is outside the timed part for both, and so is
turning each side's fills into the (side, price) rows compared: each timed part runs the backtest and keeps its
fills as the engine reports them (our Fill objects; backtrader's (is_buy, price) per completed order).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmarks.common import best_of, header, long_minute_series
from strategies import SmaCross
from trading.backtest.engine import BacktestResult
from trading.backtest.runner import BacktestSpec, prepare
from trading.data.bars import BarSeries


def run_ours(series: BarSeries) -> BacktestResult:
    spec = BacktestSpec(data="<memory>", strategy="sma_cross", params={"fast": 1, "slow": 15})
    return prepare(spec, SmaCross, series).run()


def our_fills(result: BacktestResult) -> list[tuple[str, str]]:
    return [(f.side.value, f"{f.price:.2f}") for f in result.fills]


def run_backtrader(series: BarSeries) -> tuple[list[tuple[bool, float]], float]:
    import backtrader as bt

    fills: list[tuple[bool, float]] = []

    class PriceCrossesSma(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.cross = bt.indicators.CrossOver(self.data.close, bt.indicators.SMA(self.data.close, period=15))
            self.pending: Any = None

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                fills.append((order.isbuy(), order.executed.price))
            if order.status in (order.Completed, order.Canceled, order.Margin, order.Rejected):
                self.pending = None

        def next(self) -> None:
            if self.pending:
                return
            if not self.position:
                if self.cross[0] > 0:
                    self.pending = self.buy(size=1)
            elif self.cross[0] < 0:
                self.pending = self.close()

    frame = series.to_frame()
    frame.index = pd.DatetimeIndex(frame.index).tz_localize(None)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(PriceCrossesSma)
    cerebro.broker.setcash(10_000.0)
    cerebro.run()
    return fills, cerebro.broker.getvalue()


def main() -> dict[str, float]:
    series = long_minute_series(4)
    bars = len(series)
    header(f"Backtest: price crosses SMA(15), {bars:,} real 1-minute bars, next-open fills")
    ours_s, ours = best_of(3, lambda: run_ours(series))
    bt_s, (bt_raw, bt_value) = best_of(1, lambda: run_backtrader(series))
    ours_fills, ours_value = our_fills(ours), ours.final_value
    bt_fills = [("buy" if is_buy else "sell", f"{price:.2f}") for is_buy, price in bt_raw]
    same = ours_fills == bt_fills
    print(
        f"  this engine   {bars / ours_s:>12,.0f} bars/s  ({ours_s:.3f} s, {len(ours_fills)} fills, "
        f"final value {ours_value})"
    )
    print(
        f"  backtrader    {bars / bt_s:>12,.0f} bars/s  ({bt_s:.3f} s, {len(bt_fills)} fills, "
        f"final value {bt_value:.2f})"
    )
    print(f"  ratio         {bt_s / ours_s:>12.1f} x backtrader   (target >= 20x)")
    print(f"  same fills    {same}")
    if not same:
        first = next(i for i, (a, b) in enumerate(zip(ours_fills, bt_fills, strict=False)) if a != b)
        print(f"  first difference at fill {first}: ours {ours_fills[first]} backtrader {bt_fills[first]}")
    return {
        "ours_bars_per_s": bars / ours_s,
        "backtrader_bars_per_s": bars / bt_s,
        "ratio": bt_s / ours_s,
        "same_fills": float(same),
    }


if __name__ == "__main__":
    main()
