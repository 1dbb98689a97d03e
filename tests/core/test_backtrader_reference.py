"""backtrader's published SMA-crossover result, reproduced exactly.

Source: mementum/backtrader, tests/test_strategy_unoptimized.py (the numbers are quoted in
/work/shared/REFERENCE.md): SMA(15) of the close on datas/2006-day-001.txt, close crossing its SMA, buy 1 when
flat and crossing up, close when long and crossing down, no new order while one is pending, market orders at
the next bar's open, no commission, starting cash 10,000.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from dto.cli import main
from strategies import SmaCross
from trading.backtest.runner import BacktestSpec, run_backtest
from trading.model import OrderSide

DATA = Path(__file__).resolve().parents[2] / "data" / "backtrader" / "2006-day-001.txt"

BUY_EXECUTED = "3643.35 3801.03 3872.37 3863.57 3845.32 3656.43 3542.65 3639.65 3799.86 3840.20 4047.63 4052.55"
SELL_EXECUTED = "3763.95 3811.85 3822.35 3822.57 3829.82 3598.58 3545.92 3766.80 3782.15 3979.73 4045.05"
BUY_CREATED = "3641.42 3798.46 3874.61 3860.00 3843.08 3648.33 3526.84 3632.93 3788.96 3841.31 4045.22 4052.89"
SELL_CREATED = "3763.73 3811.45 3823.11 3821.97 3837.86 3604.33 3562.56 3772.21 3780.18 3974.62 4048.16"


def expected_fills() -> list[tuple[str, Decimal]]:
    """Alternating buy/sell in execution order, starting and ending with a buy (12 buys, 11 sells)."""
    buys = [Decimal(p) for p in BUY_EXECUTED.split()]
    sells = [Decimal(p) for p in SELL_EXECUTED.split()]
    fills: list[tuple[str, Decimal]] = []
    for i, buy in enumerate(buys):
        fills.append(("buy", buy))
        if i < len(sells):
            fills.append(("sell", sells[i]))
    return fills


def reference_spec() -> BacktestSpec:
    return BacktestSpec(data=str(DATA), strategy="sma_cross", params={"fast": 1, "slow": 15}, cash=Decimal(10_000))


def test_sma_cross_on_2006_day_matches_backtrader_final_value_cash_and_fills() -> None:
    """backtrader tests/test_strategy_unoptimized.py: final value 10284.10, cash 6164.16, 23 executions."""
    result = run_backtest(reference_spec(), SmaCross)
    assert result.bars == 255
    assert result.final_value == Decimal("10284.10")
    assert result.cash == Decimal("6164.16")
    assert result.position == Decimal(1)
    assert [(f.side.value, f.price) for f in result.fills] == expected_fills()
    assert all(f.quantity == 1 and f.commission == 0 for f in result.fills)
    assert len(result.trades) == 11


def test_sma_cross_signal_bar_closes_are_backtraders_created_prices() -> None:
    """backtrader logs the order's created price: the close of the bar the signal came on."""
    spec = reference_spec()
    result = run_backtest(spec, SmaCross)
    close_by_ts = dict(zip(result.ts.tolist(), _closes(spec), strict=True))
    ts_list = result.ts.tolist()
    created = {
        side: [Decimal(repr(close_by_ts[ts_list[ts_list.index(f.ts) - 1]])) for f in result.fills if f.side is side]
        for side in OrderSide
    }
    assert created[OrderSide.BUY] == [Decimal(p) for p in BUY_CREATED.split()]
    assert created[OrderSide.SELL] == [Decimal(p) for p in SELL_CREATED.split()]


def _closes(spec: BacktestSpec) -> list[float]:
    from trading.data.loaders import load_bars

    return load_bars(spec.data).close.tolist()


def test_dto_backtest_json_reports_the_backtrader_numbers(capsys) -> None:
    """The same run through `dto backtest --json` (backtrader tests/test_strategy_unoptimized.py)."""
    code = main(
        [
            "backtest",
            "--data",
            str(DATA),
            "--strategy",
            "sma_cross",
            "--param",
            "fast=1",
            "--param",
            "slow=15",
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out)
    for key in ("final_value", "cash", "bars", "elapsed_s", "bars_per_s", "fills", "trades", "stats"):
        assert key in report
    assert report["final_value"] == "10284.10"
    assert report["cash"] == "6164.16"
    assert report["bars"] == 255
    assert report["elapsed_s"] >= 0 and report["bars_per_s"] > 0
    assert len(report["fills"]) == 23
    for row in report["fills"]:
        assert {"time", "side", "quantity", "price", "commission"} <= set(row)
        assert (row["quantity"], row["commission"]) == ("1", "0")
    assert [(row["side"], Decimal(row["price"])) for row in report["fills"]] == expected_fills()
    assert report["fills"][0]["time"].startswith("2006-")
    assert len(report["trades"]) == 11
    assert report["stats"]["trades"] == 11
    assert abs(report["stats"]["end_value"] - 10284.10) < 1e-6
