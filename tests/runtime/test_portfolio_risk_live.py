"""Portfolio limits through the real actors: a paper account on the S&P 500's minute bars (handed out by the test
through the market-data actor, as a replay does), the risk model on the S&P 500's daily closes 1999-2018. The
order that would breach max concentration, max VaR or an account's max gross exposure is denied with its reason
code; a market move (no order) that takes the book's VaR over its limit moves trading to REDUCING and records a
RiskStateChanged."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from dto.runtime import runtime_spec, start_runtime
from trading.data.bars import Bar
from trading.live.config import parse_runtime_config
from trading.model import ClientOrderId, InstrumentId, Order, OrderSide, OrderType, StrategyId

from .runtime_support import Runtime, paper_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[2] / "data"
MINUTES = DATA / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
DAILY = DATA / "arch" / "sp500_1999_2018_daily.csv"
IID = InstrumentId.parse("DATA.SIM")


@dataclasses.dataclass
class Session:
    rt: Runtime
    series: Any
    cursor: int = 0
    orders: int = 0

    def advance(self, n: int = 1, scale: float = 1.0) -> None:
        bars = [self.series.bar(i) for i in range(self.cursor, self.cursor + n)]
        if scale != 1.0:
            bars = [Bar(b.ts, b.open * scale, b.high * scale, b.low * scale, b.close * scale, b.volume) for b in bars]
        asyncio.run(self.rt.client.publish_bars(IID, bars))
        self.cursor += n

    def buy(self, quantity: str) -> dict[str, Any]:
        self.orders += 1
        order = Order(ClientOrderId(f"m-risk-{self.orders}"), StrategyId("manual"), IID, OrderSide.BUY,
                      OrderType.MARKET, Decimal(quantity), broker="paper", ts_init=self.series.bar(self.cursor - 1).ts)
        (answer,) = asyncio.run(self.rt.client.submit_orders([order]))
        assert not isinstance(answer, BaseException), answer
        order_dict: dict[str, Any] = answer["order"]
        return order_dict

    def limits(self, **changes: Any) -> None:
        asyncio.run(self.rt.client.update_risk_limits(changes))

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = ray.get(self.rt.risk.status.remote())
        return status


def wait_for(what: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def session(ray_session: None) -> Iterator[Session]:
    config = paper_config([], data=str(MINUTES))
    config["risk_model"] = {"history": {str(IID): str(DAILY)}, "method": "historical", "every_s": 0.25}
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    spec = runtime_spec(parse_runtime_config(config), namespace=namespace, run_id=namespace)
    handle = start_runtime(dataclasses.replace(spec, replay_series=None))  # the test hands the bars out
    s = Session(Runtime(handle, namespace), spec.replay_series)
    s.advance(5)
    wait_for(lambda: s.status()["portfolio"].get("account:paper"))
    yield s
    s.rt.stop()


def firm_var_when_holding(s: Session, quantity: str) -> float:
    def valued() -> float | None:
        figures = ray.get(s.rt.risk.portfolio.remote())["figures"]
        held = figures["accounts"]["paper"]["positions"].get(str(IID))
        return float(figures["firm"]["var"]) if held is not None and Decimal(held) == Decimal(quantity) else None

    value: float = wait_for(valued)
    return value


def test_portfolio_limits_deny_with_reason_codes_and_a_market_move_moves_trading_to_reducing(
    session: Session,
) -> None:
    s = session
    price = s.series.bar(s.cursor - 1).close  # about 3,070 a unit on 10,000 of equity

    s.limits(max_concentration_pct=40)
    denied = s.buy("2")  # 61% of equity
    assert denied["status"] == "denied"
    assert denied["reason"].startswith("CONCENTRATION_EXCEEDS_MAX: DATA.SIM would be 6"), denied["reason"]
    assert s.buy("1")["status"] != "denied"  # 31%
    s.advance(1)  # the market order fills at the next bar's open
    var_one = firm_var_when_holding(s, "1")
    assert 0.02 * price < var_one < 0.05 * price  # the S&P 500's 99% one-day loss, on one unit

    s.limits(max_concentration_pct=None, max_var=round(var_one * 2.5, 2))
    denied = s.buy("2")  # three units: about 3x the VaR
    assert denied["status"] == "denied"
    assert denied["reason"].startswith("VAR_EXCEEDS_MAX: firm VaR would be about"), denied["reason"]
    assert "linear estimate" in denied["reason"]

    s.limits(max_var=None, accounts={"paper": {"max_gross_exposure": 5000}})
    denied = s.buy("1")
    assert denied["status"] == "denied"
    assert denied["reason"].startswith("GROSS_EXPOSURE_EXCEEDS_MAX: account paper would be"), denied["reason"]

    # A market move, no order: the VaR of the same position grows with its price.
    s.limits(accounts={}, max_var=round(var_one * 1.03, 2))
    assert s.status()["state"] == "active"
    orders_before = len(ray.get(s.rt.oms.list_orders.remote()))
    s.advance(2, scale=1.08)
    change = wait_for(lambda: [c for c in ray.get(s.rt.risk.state_changes.remote()) if c.state == "reducing"])[-1]
    assert change.previous == "active"
    assert change.reason.startswith("VAR_EXCEEDS_MAX: firm VaR"), change.reason
    assert s.status()["state"] == "reducing"
    assert len(ray.get(s.rt.oms.list_orders.remote())) == orders_before  # nobody traded
    assert s.buy("1")["reason"].startswith("REDUCING_ONLY")
