"""`dto risk var|stress|backtest` on the shipped real data, and the one-line exit-2 errors of every subcommand."""

from __future__ import annotations

import json
from pathlib import Path

import empyrical
import numpy as np
import pytest

from dto.cli import main
from trading.risk.portfolio import align_closes, simple_returns

DATA = Path(__file__).resolve().parents[2] / "data"
SP500 = DATA / "arch" / "sp500_1999_2018_daily.csv"
ORCL = DATA / "backtrader" / "orcl-1995-2014.txt"
SPY = DATA / "mplfinance" / "yahoofinance-SPY-20080101-20180101.csv"
AAPL = DATA / "zipline" / "AAPL_daily_2012_2014.csv"


def run_json(argv: list[str], capsys) -> object:
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_var_json_has_var_and_es_and_matches_the_reference(capsys, sp500) -> None:
    got = run_json(["risk", "var", "--data", str(SP500), "--confidence", "0.99", "--method", "historical",
                    "--json"], capsys)
    r = simple_returns(sp500.close)
    # empyrical-reloaded 0.7.1 as the independent reference (see test_reference_agreement.py)
    assert got["var"] == pytest.approx(-empyrical.value_at_risk(r, 0.01), abs=1e-9)
    assert got["es"] == pytest.approx(-empyrical.conditional_value_at_risk(r, 0.01), abs=1e-9)
    assert got["first_date"] == "1999-01-04" and got["last_date"] == "2018-12-31"


def test_var_of_a_weighted_portfolio_with_horizon_and_monte_carlo(capsys, sp500, orcl, spy) -> None:
    argv = ["risk", "var", "--data", str(SP500), "--data", str(ORCL), "--data", str(SPY), "--drop-bad-rows",
            "--weights", "0.5,0.3,0.2", "--confidence", "0.975", "--method", "montecarlo", "--horizon", "5",
            "--distribution", "t", "--paths", "5000", "--seed", "11", "--json"]
    got = run_json(argv, capsys)
    assert got == run_json(argv, capsys)  # seeded
    assert (got["paths"], got["seed"], got["distribution"], got["horizon"]) == (5000, 11, "t", 5)
    assert [p["name"] for p in got["positions"]] == [
        "sp500_1999_2018_daily", "orcl-1995-2014", "yahoofinance-SPY-20080101-20180101"]
    assert sum(p["component_var"] for p in got["positions"]) == pytest.approx(got["var"], abs=1e-12)
    assert 0 < got["var"] < got["es"]


def test_var_text_report(capsys) -> None:
    assert main(["risk", "var", "--data", str(SP500), "--confidence", "0.99", "--method", "parametric"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0.99 VaR, 1-day, parametric: 2.7773% of portfolio value, ES 3.1850%")


def test_stress_json_per_position_strategy_and_account(capsys) -> None:
    got = run_json(["risk", "stress", "--data", str(SP500), "--data", str(AAPL), "--weights", "0.7,0.3",
                    "--strategies", "index,tech", "--scenarios", "2", "--shock", "equities=-0.2",
                    "--value", "1000000", "--json"], capsys)
    keys = [r["scenario"] for r in got["results"]]
    assert keys == ["2008-10 day", "2008-12 day", "2008-10 week", "2008-11 week", "equity -20%"]
    crash = got["results"][0]
    sources = {p["instrument"]: p["source"] for p in crash["positions"]}
    assert sources == {"sp500_1999_2018_daily": "own", "AAPL_daily_2012_2014": "proxy"}  # AAPL starts in 2012
    assert crash["by_strategy"]["index"] == "-63244.84"
    assert got["results"][-1]["account_pnl"] == "-200000.00"


def test_backtest_json_reports_kupiec(capsys) -> None:
    got = run_json(["risk", "backtest", "--data", str(SP500), "--method", "historical", "--json"], capsys)
    assert len(got) == 1
    assert (got[0]["exceptions"], got[0]["observations"]) == (81, 4780)
    assert got[0]["first_date"].startswith("1999-12") and got[0]["last_date"] == "2018-12-31"


def var(*extra: str, data: str = str(SP500)) -> list[str]:
    return ["risk", "var", "--data", data, *extra]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (var("--confidence", "1.5", "--method", "historical"), "confidence must be between 0 and 1"),
        (var("--confidence", "abc", "--method", "historical"), "--confidence 'abc' is not a number"),
        (var("--confidence", "0.99", "--method", "magic"), "unknown method 'magic'"),
        (var("--confidence", "0.99", "--method", "historical", "--weights", "0.5,0.5"), "2 values for 1"),
        (var("--confidence", "0.99", "--method", "historical", "--horizon", "0"), "--horizon must be at least 1"),
        (var("--confidence", "0.99", "--method", "montecarlo", "--distribution", "t", "--dof", "2"),
         "degrees of freedom"),
        (var("--confidence", "0.99", "--method", "historical", data="/no/such/file.csv"), "/no/such/file.csv"),
        (var("--confidence", "0.99", "--method", "historical", data=str(SPY)), "line 1808"),  # vendor error, no drop
        (["risk", "stress", "--data", str(SP500), "--shock", "equity"], "is not class=return"),
        (["risk", "stress", "--data", str(SP500), "--value", "-5"], "--value must be a positive number"),
        (["risk", "backtest", "--data", str(AAPL), "--window", "1000"], "no day to test"),
    ],
    ids=["confidence-range", "confidence-nan", "method", "weights", "horizon", "dof", "missing-file",
         "bad-rows", "shock", "value", "window"],
)
def test_user_error_prints_one_line_and_exits_2(argv, expected, capsys) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("dto risk: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert expected in err


def test_align_closes_keeps_only_shared_dates(sp500, aapl) -> None:
    aligned = align_closes([sp500, aapl])
    # every AAPL 2012-2014 date is an S&P trading day
    assert len(aligned.ts) == len(np.intersect1d(sp500.ts, aapl.ts)) == 754
