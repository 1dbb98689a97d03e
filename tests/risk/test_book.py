"""Exposures, concentration, liquidity, per-strategy contributions and stress results of a small real book."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from trading.data.bars import BarSeries
from trading.errors import InvalidValue
from trading.risk.portfolio import Holding, exposures, liquidity, portfolio_risk
from trading.risk.stress import historical_scenarios, hypothetical_shock, run_stress

D = Decimal


@pytest.fixture
def book() -> list[Holding]:
    return [
        Holding("SPX", D(100), D("2500"), strategy="index"),  # 250,000
        Holding("ORCL", D(2000), D("45"), strategy="tech"),  # 90,000
        Holding("SPY", D(-200), D("250"), strategy="tech"),  # -50,000
    ]


@pytest.fixture
def history(sp500: BarSeries, orcl: BarSeries, spy: BarSeries) -> dict[str, BarSeries]:
    return {"SPX": sp500, "ORCL": orcl, "SPY": spy}


def test_exposures_and_concentration(book) -> None:
    report = exposures(book, equity=D(400_000))
    assert (report.long, report.short, report.gross, report.net) == (D(340_000), D(-50_000), D(390_000), D(290_000))
    assert report.by_strategy == {"index": {"gross": D(250_000), "net": D(250_000)},
                                  "tech": {"gross": D(140_000), "net": D(40_000)}}
    assert report.largest == "SPX"
    assert report.largest_share == pytest.approx(250 / 390)
    assert report.herfindahl == pytest.approx((250**2 + 90**2 + 50**2) / 390**2)
    assert report.gross_leverage == pytest.approx(390 / 400)
    assert isinstance(report.to_dict()["gross"], str)  # money leaves as an exact decimal string


def test_days_to_exit_at_a_share_of_average_daily_volume(book) -> None:
    report = liquidity(book, {"SPX": 1000.0, "ORCL": 10_000.0, "SPY": 0.0}, participation=0.1)
    assert report.days_to_exit["SPX"] == pytest.approx(1.0)
    assert report.days_to_exit["ORCL"] == pytest.approx(2.0)
    assert report.days_to_exit["SPY"] == float("inf")  # no volume: it cannot be exited
    assert report.worst == ("SPY", float("inf"))
    with pytest.raises(InvalidValue, match="participation"):
        liquidity(book, {}, participation=0)


def test_portfolio_risk_splits_var_by_position_and_strategy(book, history, sp500) -> None:
    report = portfolio_risk(book, history, confidence=0.99, method="parametric", benchmark=sp500)
    assert report.equity == D(290_000)
    assert report.var.weights == pytest.approx((250 / 290, 90 / 290, -50 / 290))
    strategies = report.by_strategy
    assert set(strategies) == {"index", "tech"}
    assert sum(s["component_var"] for s in strategies.values()) == pytest.approx(report.var.var, abs=1e-12)
    assert report.var_amount == (D(290_000) * D(repr(report.var.var))).quantize(D("0.01"))
    assert report.betas["SPX"] == pytest.approx(1.0)
    assert report.betas["SPY"] == pytest.approx(1.0, abs=0.05)  # SPY tracks the index it is built on
    assert report.correlation.shape == (3, 3)
    assert np.allclose(np.diag(report.correlation), 1.0)
    assert set(report.to_dict()) >= {"var", "es", "by_strategy", "exposure", "betas", "liquidity"}


def test_holding_rejects_float_money() -> None:
    with pytest.raises(InvalidValue, match="quantity must be a finite Decimal"):
        Holding("X", 1.5, D(1))  # type: ignore[arg-type]


def test_historical_scenarios_are_the_worst_real_days_and_weeks_named_by_month(sp500, orcl) -> None:
    scenarios = historical_scenarios(sp500, {"SPX": sp500, "ORCL": orcl}, days=5, weeks=5)
    days = [s for s in scenarios if s.kind == "day"]
    weeks = [s for s in scenarios if s.kind == "week"]
    assert [s.name for s in days] == ["2008-10", "2008-12", "2008-09", "2008-11", "2011-08"]
    assert [s.name for s in weeks] == ["2008-10", "2008-11", "2011-08", "2001-09", "2002-07"]
    worst = days[0]
    assert (worst.start, worst.end) == ("2008-10-15", "2008-10-15")
    assert worst.reference_return == pytest.approx(907.840027 / 998.01001 - 1)  # closes read from the file
    week_2001 = weeks[3]
    assert (week_2001.start, week_2001.end) == ("2001-09-17", "2001-09-21")  # the first week after 9/11
    assert week_2001.instrument_returns["SPX"] == week_2001.reference_return < -0.11


def test_stress_replays_a_scenario_per_position_strategy_and_account(book, sp500, orcl) -> None:
    scenario = historical_scenarios(sp500, {"SPX": sp500, "ORCL": orcl}, days=1, weeks=0)[0]
    result = run_stress(scenario, book, betas={"SPY": 1.0})
    rows = {p.instrument: p for p in result.positions}
    assert rows["SPX"].source == rows["ORCL"].source == "own"
    assert rows["SPY"].source == "proxy"  # SPY's file is not in the scenario's history: the index move x beta
    assert rows["SPX"].pnl == (D(250_000) * D(repr(scenario.reference_return))).quantize(D("0.01"))
    assert result.by_strategy["tech"] == rows["ORCL"].pnl + rows["SPY"].pnl
    assert result.account_pnl == sum(p.pnl for p in result.positions)
    assert rows["SPY"].pnl > 0  # a short gains in a crash


def test_hypothetical_shock_by_asset_class() -> None:
    holdings = [
        Holding("SPX", D(10), D(100), asset_class="equity"),
        Holding("BTC", D(1), D(1000), asset_class="crypto"),
        Holding("VIXY", D(10), D(10), asset_class="volatility"),
    ]
    result = run_stress(hypothetical_shock({"equity": -0.2, "crypto": -0.4, "volatility": 0.5}), holdings)
    assert [p.pnl for p in result.positions] == [D("-200.00"), D("-400.00"), D("50.00")]
    assert result.account_pnl == D("-550.00")
    assert result.account_return == pytest.approx(-550 / 2100)
    with pytest.raises(InvalidValue, match="crypto"):
        hypothetical_shock({"crypto": -1.5})
