"""Recorded venue payloads for the broker adapter tests (`fixtures/`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def alpaca_body(name: str) -> Any:
    """The recorded REST body from alpaca-py's own tests (fixtures/alpaca/<name>.json)."""
    return fixture_json(f"alpaca/{name}.json")["body"]
