"""The live-core tests run without Ray and without storage servers: nothing to start here."""

from __future__ import annotations

import pytest

from trading.data.bars import BarSeries

from .live_support import DAY, series_for


@pytest.fixture(scope="session")
def day_series() -> BarSeries:
    return series_for(DAY)
