"""Shared fixtures for the broker adapter tests: a local venue server and the recorded payloads."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from venue_server import VenueServer


@pytest.fixture
def server() -> Iterator[VenueServer]:
    venue = VenueServer().start()
    try:
        yield venue
    finally:
        venue.stop()


@pytest.fixture(autouse=True)
def _quiet_libraries() -> None:
    for name in ("alpaca", "websockets", "ccxt", "ib_insync"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
