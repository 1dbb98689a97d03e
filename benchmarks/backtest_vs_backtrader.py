"""Event-driven backtest speed: this engine vs backtrader on ~120,000 real minute bars, same fills.

Strategy: price crossing its SMA(15) (sma_cross fast=1 slow=15), size 1, next-open fills, no fees.

- this engine as a user runs it: `dto backtest --json`, each run a fresh process (cold: nothing warmed up),
  its own `bars_per_s` (the bar loop's time: data loading and the JSON report are outside it); four runs, two
  before backtrader's and two after: the ratio is of their median;
- this engine warm, in this process: the best of three runs;
- backtrader in this process, once (data loading outside the timing, as for ours).

The fills compared are (side, price) rows: the CLI's JSON fills against backtrader's completed orders.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import ROOT, best_of, header, long_minute_series
from strategies import SmaCross
from trading.backtest.engine import BacktestResult
from trading.backtest.runner import BacktestSpec, prepare
from trading.data.bars import BarSeries

TARGET_RATIO = 50.0
CLI_RUNS = 4  # half before backtrader's run and half after, so that a change in the machine's load shows


def run_ours(series: BarSeries) -> BacktestResult:
    spec = BacktestSpec(data="<memory>", strategy="sma_cross", params={"fast": 1, "slow": 15})
    return prepare(spec, SmaCross, series).run()


def run_cli(data: Path) -> dict[str, Any]:
    """One `dto backtest --json` in a fresh process; its JSON report."""
    code = "import sys; from dto.cli import main; raise SystemExit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "backtest", "--data", str(data), "--strategy", "sma_cross",
            "--param", "fast=1", "--param", "slow=15", "--json"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


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
    cli: list[dict[str, Any]] = []
    walls: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dto-bench-") as scratch:
        data = Path(scratch) / "long_minute_series.parquet"
        series.to_frame().to_parquet(data)

        def cli_runs(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                cli.append(run_cli(data))
                walls.append(time.perf_counter() - started)

        cli_runs(CLI_RUNS // 2)
        bt_s, (bt_raw, bt_value) = best_of(1, lambda: run_backtrader(series))
        cli_runs(CLI_RUNS - CLI_RUNS // 2)
    ours_s, ours = best_of(3, lambda: run_ours(series))
    bt_rate = bars / bt_s
    cli_rates = sorted(float(report["bars_per_s"]) for report in cli)
    cli_fills = [(f["side"], f"{float(f['price']):.2f}") for f in cli[0]["fills"]]
    bt_fills = [("buy" if is_buy else "sell", f"{price:.2f}") for is_buy, price in bt_raw]
    warm_fills = [(f.side.value, f"{f.price:.2f}") for f in ours.fills]
    same = cli_fills == bt_fills == warm_fills and all(report["fills"] == cli[0]["fills"] for report in cli)
    worst = cli_rates[0] / bt_rate
    print(
        f"  dto backtest  {statistics.median(cli_rates):>12,.0f} bars/s  (median of {CLI_RUNS} cold CLI runs, "
        f"{cli_rates[0]:,.0f}-{cli_rates[-1]:,.0f}; whole process {min(walls):.1f}-{max(walls):.1f} s; "
        f"{len(cli_fills)} fills, final value {cli[0]['final_value']})"
    )
    print(f"  warm engine   {bars / ours_s:>12,.0f} bars/s  (best of 3 in this process, {ours_s:.3f} s)")
    print(
        f"  backtrader    {bt_rate:>12,.0f} bars/s  ({bt_s:.3f} s, {len(bt_fills)} fills, "
        f"final value {bt_value:.2f})"
    )
    print(
        f"  ratio         {statistics.median(cli_rates) / bt_rate:>12.1f} x backtrader (cold CLI, median; slowest "
        f"{worst:.1f} x; warm {bt_s / ours_s:.1f} x)   target >= {TARGET_RATIO:.0f}x"
    )
    print(f"  same fills    {same}")
    if not same:
        first = next((i for i, (a, b) in enumerate(zip(cli_fills, bt_fills, strict=False)) if a != b), 0)
        print(f"  first difference at fill {first}: ours {cli_fills[first:first + 1]} backtrader "
              f"{bt_fills[first:first + 1]}")
    return {
        "ours_bars_per_s": statistics.median(cli_rates),
        "ours_warm_bars_per_s": bars / ours_s,
        "backtrader_bars_per_s": bt_rate,
        "ratio": statistics.median(cli_rates) / bt_rate,
        "same_fills": float(same),
    }


if __name__ == "__main__":
    main()
