"""Paths and helpers shared by the pipelines tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MINUTE_FILE = ROOT / "data/backtrader/2006-01-02-volume-min-001.txt"
FIVE_MINUTE_FILE = ROOT / "data/backtrader/2006-min-005.txt"


def parse_json_output(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data
