"""`dto backtest` errors a user can fix (one line, exit 2, no traceback) and `dto strategies --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dto.cli import main
from strategies import BUILTIN

DAY = Path(__file__).resolve().parents[2] / "data" / "backtrader" / "2006-day-001.txt"


def backtest(*extra: str, data: str = str(DAY)) -> list[str]:
    return ["backtest", "--data", data, *extra]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (backtest("--strategy", "no_such_strategy"), "unknown strategy 'no_such_strategy'"),
        (backtest("--strategy", "sma_cross", "--param", "fats=3"), "unknown parameter 'fats'"),
        (backtest("--strategy", "sma_cross", "--param", "fast=30", "--param", "slow=10"), "'slow'"),
        (backtest("--strategy", "sma_cross", "--param", "fast"), "not key=value"),
        (backtest("--strategy", "sma_cross", data="/no/such/file.csv"), "/no/such/file.csv"),
        (backtest("--strategy", "sma_cross", "--flatten-at-close"), "session"),
        (backtest("--strategy", "sma_cross", "--tz", "Mars/Olympus"), "Mars/Olympus"),
    ],
    ids=[
        "unknown-strategy",
        "unknown-param",
        "bad-param-value",
        "param-not-key-value",
        "missing-file",
        "flatten-without-session",
        "bad-timezone",
    ],
)
def test_backtest_user_error_prints_one_line_and_exits_2(argv, expected, capsys) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("dto backtest: error: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert "Traceback" not in err
    assert expected in err


def test_backtest_text_report_runs(capsys) -> None:
    assert main(backtest("--strategy", "sma_cross", "--param", "fast=1", "--param", "slow=15")) == 0
    out, err = capsys.readouterr()
    assert err == "" and "Final value 10,284.10 USD   cash 6,164.16" in out


def test_strategies_json_lists_the_builtins_and_model_strategies_with_parameters_and_defaults(capsys) -> None:
    assert main(["strategies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(BUILTIN) == {
        "sma_cross",
        "ema_cross",
        "rsi_reversion",
        "bollinger_breakout",
        "macd_cross",
        "opening_range_breakout",
    }
    assert set(rows) == set(BUILTIN) | {"ml_signal"}  # model-based strategies are listed too
    for name, info in rows.items():
        assert info["description"], name
        params = {p["name"]: p for p in info["parameters"]}
        assert {"instrument_id", "size"} <= set(params), name
        for p in info["parameters"]:
            assert {"name", "type", "default", "description"} <= set(p)
            assert p["description"], f"{name}.{p['name']} has no description"
    sma = {p["name"]: p for p in rows["sma_cross"]["parameters"]}
    assert (sma["fast"]["default"], sma["slow"]["default"], sma["allow_short"]["default"]) == (10, 30, False)
    assert sma["size"]["default"] == "1"
    macd = {p["name"]: p["default"] for p in rows["macd_cross"]["parameters"]}
    assert (macd["fast"], macd["slow"], macd["signal"]) == (12, 26, 9)
    orb = {p["name"]: p["default"] for p in rows["opening_range_breakout"]["parameters"]}
    assert (orb["range_bars"], orb["timezone"]) == (6, "UTC")


def test_strategies_text_lists_every_builtin(capsys) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN:
        assert f"{name}:" in out
