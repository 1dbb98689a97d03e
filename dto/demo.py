"""`make run` for now: backtests of the built-in strategies on shipped real data, printed as reports."""

from __future__ import annotations

from decimal import Decimal

from dto.cli import ROOT
from dto.reports import backtest_report
from strategies import resolve_strategy
from trading.backtest.runner import BacktestSpec, run_backtest

DEMO_RUNS = [
    # The backtrader reference run (see tests/core/test_backtrader_reference.py).
    BacktestSpec(
        data=str(ROOT / "data/backtrader/2006-day-001.txt"),
        strategy="sma_cross",
        params={"fast": 1, "slow": 15},
    ),
    # An intraday session of the S&P 500: opening-range breakout, flat at the close.
    BacktestSpec(
        data=str(ROOT / "data/mplfinance/SP500_NOV2019_IDayRVol.csv"),
        strategy="opening_range_breakout",
        params={"range_bars": 15, "timezone": "America/New_York", "allow_short": True},
        symbol="SPX",
        cash=Decimal(100_000),
        session="09:30-16:00",
        timezone="America/New_York",
        flatten_at_close=True,
        commission_per_unit=Decimal("0.01"),
    ),
    # Crypto minutes (an altcoin/BTC pair, Nov 2017): RSI mean reversion with percent fees.
    BacktestSpec(
        data=str(ROOT / "data/freqtrade/UNITTEST_BTC-1m.json"),
        strategy="rsi_reversion",
        params={"period": 14, "oversold": 25},
        symbol="ALT/BTC",
        currency="BTC",
        cash=Decimal(1),
        size=Decimal(100),
        commission_pct=Decimal("0.1"),
    ),
]


def run_demo() -> int:
    for spec in DEMO_RUNS:
        result = run_backtest(spec, resolve_strategy(spec.strategy))
        print(backtest_report(result, max_fills=10))
        print("=" * 100)
    print("Next: `dto backtest --help`, `dto strategies`.")
    return 0
