"""Shared data for the emulator tests: the recorded S&P 500 minute bars, served as one symbol."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trading.data.bars import BarSeries
from trading.data.loaders import load_bars

DATA = Path(__file__).resolve().parents[2] / "data" / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
NEW_YORK = "America/New_York"


@pytest.fixture(scope="session")
def sp500_bars() -> BarSeries:
    """1-minute S&P 500 bars of 2019-11-05 .. (New York time in the file)."""
    return load_bars(DATA, tz=NEW_YORK)


@pytest.fixture(autouse=True)
def _quiet_libraries() -> None:
    for name in ("alpaca", "websockets"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
