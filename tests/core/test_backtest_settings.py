"""The typed backtest and sweep settings: one model that the command line, YAML configs and the HTTP API build."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.config import parse_settings, sweep_config
from trading.backtest.settings import BacktestSettings, RunSettings, SweepSettings, settings_error
from trading.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FIVE_MINUTES = str(ROOT / "data/backtrader/2006-min-005.txt")


def _error(model: type[RunSettings], values: dict[str, object]) -> ConfigError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    return settings_error(caught.value)


def test_a_backtest_settings_becomes_the_runners_spec() -> None:
    settings = BacktestSettings.model_validate(
        {"data": "x.csv", "strategy": "sma_cross", "params": {"fast": 5}, "cash": "2500.50", "tz": "Europe/Berlin",
         "commission_pct": 0.1, "drop_bad_rows": True}
    )
    spec = settings.to_spec()
    assert spec.cash == Decimal("2500.50") and spec.commission_pct == Decimal("0.1")  # 0.1, not the float's digits
    assert spec.timezone == "Europe/Berlin" and spec.on_bad_rows == "drop" and spec.params == {"fast": 5}


@pytest.mark.parametrize(
    ("values", "key", "words"),
    [
        ({"colour": "red"}, "colour", "unknown key 'colour'"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"cash": "-5"}, "cash", "greater than 0"),
        ({"fill": "open"}, "fill", "'next_open' or 'close'"),
        ({"commission_pct": "nan"}, "commission_pct", "finite"),
    ],
)
def test_a_bad_setting_is_named(values: dict[str, object], key: str, words: str) -> None:
    error = _error(BacktestSettings, {"data": "x.csv", "strategy": "sma_cross", **values})
    assert error.key == key and words in str(error)


def test_sweep_settings_take_one_or_many_and_reject_unknown_metrics() -> None:
    settings = SweepSettings.model_validate({"data": "a.csv", "strategy": "sma_cross", "json": True})
    assert settings.data == ["a.csv"] and settings.strategies == ["sma_cross"] and settings.print_json
    error = _error(SweepSettings, {"data": ["a.csv"], "strategies": ["sma_cross"], "metric": "sharp"})
    assert error.key == "metric" and "unknown metric 'sharp'" in str(error)


def test_the_command_line_and_an_api_body_build_the_same_sweep() -> None:
    from_flags = parse_settings(["--data", FIVE_MINUTES, "--strategy", "sma_cross", "--grid", "fast=5,10",
                                 "--grid", "slow=20:40:10", "--commission-pct", "0.1", "--tz", "America/New_York"])
    from_body = SweepSettings.model_validate(
        {"data": [FIVE_MINUTES], "strategies": ["sma_cross"], "grid": {"fast": [5, 10], "slow": "20:40:10"},
         "commission_pct": "0.1", "timezone": "America/New_York"}
    )
    assert sweep_config(from_flags) == sweep_config(from_body)


def test_nothing_below_the_command_line_imports_it() -> None:
    code = (
        "import sys, json; import pipelines.backtest, pipelines.config, pipelines.sweep, actors.research; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'dto' or m.startswith('dto.'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120)
    assert json.loads(done.stdout) == []
