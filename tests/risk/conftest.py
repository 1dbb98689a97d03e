"""Real daily series shipped in data/ (see data/README.md), loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading.data.bars import BarSeries
from trading.data.loaders import load_bars

DATA = Path(__file__).resolve().parents[2] / "data"
SP500 = DATA / "arch" / "sp500_1999_2018_daily.csv"
ORCL = DATA / "backtrader" / "orcl-1995-2014.txt"
SPY = DATA / "mplfinance" / "yahoofinance-SPY-20080101-20180101.csv"
AAPL = DATA / "zipline" / "AAPL_daily_2012_2014.csv"


@pytest.fixture(scope="session")
def sp500() -> BarSeries:
    return load_bars(SP500)


@pytest.fixture(scope="session")
def orcl() -> BarSeries:
    return load_bars(ORCL)


@pytest.fixture(scope="session")
def spy() -> BarSeries:
    return load_bars(SPY, on_bad_rows="drop")  # two real vendor errors (open below low) in 2015


@pytest.fixture(scope="session")
def aapl() -> BarSeries:
    return load_bars(AAPL)
