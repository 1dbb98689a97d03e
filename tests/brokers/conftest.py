"""Shared fixtures for the broker adapter tests: a local venue server and the recorded payloads."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from venue_server import VenueServer

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def alpaca_body(name: str) -> Any:
    """The recorded REST body from alpaca-py's own tests (fixtures/alpaca/<name>.json)."""
    return fixture_json(f"alpaca/{name}.json")["body"]


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
