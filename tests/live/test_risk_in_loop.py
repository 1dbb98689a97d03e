"""The firm-wide risk engine in the live loop: denials are events to the strategy; the kill switch halts at once."""

from __future__ import annotations

from decimal import Decimal

from strategies import SmaCross
from trading.backtest.runner import BacktestSpec
from trading.data.bars import BarSeries
from trading.messages import Message, OrderDenied, RiskStateChanged
from trading.model.orders import OrderStatus
from trading.risk.rules import RiskLimits, TradingState

from .live_support import DAY, build_live, feed, reconciliation

SPEC = BacktestSpec(data=str(DAY), strategy="sma_cross", params={"fast": 1, "slow": 15})


def test_risk_denial_becomes_an_order_denied_event_to_the_strategy(day_series: BarSeries) -> None:
    loop, host = build_live(SPEC, SmaCross, day_series)
    loop.risk.update_limits(max_order_quantity=Decimal("0.5"))
    seen: list[Message] = []
    host.strategy.on_order_event = seen.append  # type: ignore[method-assign]
    feed(loop, host, list(day_series.bars()))
    assert loop.venue.fills == [] and reconciliation(loop).open_orders == []
    assert seen and all(isinstance(e, OrderDenied) and e.reason.startswith("QUANTITY_EXCEEDS_MAX") for e in seen)
    assert len(seen) == 12  # every up-cross tried to buy, as in the backtest's pre-trade-check test
    assert all(o.status is OrderStatus.DENIED for o in loop.oms.orders.values())
    assert all(o.status is OrderStatus.DENIED for o in host.orders.values())


def test_kill_switch_stops_every_new_order_from_the_next_event(day_series: BarSeries) -> None:
    loop, host = build_live(SPEC, SmaCross, day_series)
    bars = list(day_series.bars())
    feed(loop, host, bars[:120])
    before = len(loop.oms.orders)
    assert before > 0
    change = loop.set_kill_switch(True, "operator pressed the button", bars[119].ts)
    assert isinstance(change, RiskStateChanged) and change.state == TradingState.HALTED.value
    sent_before = {o.client_order_id for o in reconciliation(loop).open_orders} | {
        f.client_order_id for f in loop.venue.fills
    }
    feed(loop, host, bars[120:])
    new = [o for cid, o in loop.oms.orders.items() if cid not in sent_before]
    assert new, "the strategy kept trying to trade"
    assert all(o.status is OrderStatus.DENIED and o.reason.startswith("KILL_SWITCH") for o in new)
    assert {f.client_order_id for f in loop.venue.fills} <= sent_before
    assert any(isinstance(e, OrderDenied) for e in loop.events)


def test_risk_limits_reject_unknown_names() -> None:
    try:
        RiskLimits(max_orders=3)  # type: ignore[call-arg]
    except ValueError as exc:
        assert "max_orders" in str(exc)
    else:
        raise AssertionError("unknown limit accepted")
