"""Fixtures of the ML tests: real data (Ray: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trading.data.bars import BarSeries
from trading.data.loaders import load_bars

ROOT = Path(__file__).resolve().parents[2]
SP500_FILE = ROOT / "data/mplfinance/SP500_NOV2019_IDayRVol.csv"
MINUTE_FILE = ROOT / "data/backtrader/2006-01-02-volume-min-001.txt"
FIVE_MINUTE_FILE = ROOT / "data/backtrader/2006-min-005.txt"
SP500_CONFIG = ROOT / "training/sp500_minute.yaml"


@pytest.fixture(scope="session")
def sp500() -> BarSeries:
    return load_bars(SP500_FILE, tz="America/New_York")
