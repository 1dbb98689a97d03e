"""Optimistic stepping (trading.live.optimistic): a host that steps ahead on predicted answers ends in exactly
the state of a host that waits for every answer, also when predictions fail (risk denials, a kill switch)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from strategies import SmaCross
from trading.backtest.runner import BacktestSpec, build_instrument
from trading.brokers.paper import PaperBroker
from trading.data.bars import BarSeries
from trading.live import LiveLoop, ReplaySource, StrategyHost
from trading.live.loop import route_steps
from trading.live.oms import OrderManager
from trading.live.strategy_host import HostStep
from trading.messages import OrderDenied, SubmitOrder
from trading.model.orders import Order, OrderSide, OrderType
from trading.risk.rules import RiskEngine
from trading.sim.sessions import infer_bar_interval
from trading.strategy import build_config

from .live_support import DAY, build_live, fill_key

SPEC = BacktestSpec(data=str(DAY), strategy="sma_cross", params={"fast": 1, "slow": 15})


def _outcome(loop: LiveLoop) -> dict[str, Any]:
    """Everything the two ways of driving must agree on."""
    host = loop.hosts[0]
    return {
        "broker_fills": [fill_key(f) for f in loop.broker.fills],
        "host_fills": [fill_key(f) for f in host.fills],
        "orders": [(cid, o.status, o.reason) for cid, o in loop.oms.orders.items()],
        "host_orders": [(cid, o.status) for cid, o in host.orders.items()],
        "cash": loop.broker.ledger.cash,
        "position": host.position_quantity(host.instrument_id),
        "order_seq": host.order_seq,
    }


def _run(series: BarSeries, optimistic: bool, batch_size: int, **limits: Any) -> LiveLoop:
    loop, host = build_live(SPEC, SmaCross, series, optimistic=optimistic)
    loop.risk.update_limits(**limits)
    loop.run(ReplaySource(host.instrument_id, series, batch_size=batch_size))
    return loop


def test_denials_the_host_did_not_predict_end_in_the_same_state_as_waiting(day_series: BarSeries) -> None:
    # Buys valued above 3,800 (at the last price the order manager knows: the batch's last close) are denied:
    # some orders go through, some do not, so predictions fail in the middle of a run.
    limits = {"max_order_notional": Decimal(3800)}
    waiting = _run(day_series, False, 10, **limits)
    optimistic = _run(day_series, True, 10, **limits)
    denied = [o for o in waiting.oms.orders.values() if o.reason]
    assert denied and len(denied) < len(waiting.oms.orders), "the case needs both denials and fills"
    assert _outcome(optimistic) == _outcome(waiting)
    assert optimistic.runners[0].status()["divergences"] > 0


def test_kill_switch_mid_run_denies_every_later_order_like_waiting(day_series: BarSeries) -> None:
    bars = list(day_series.bars())
    loops = []
    for optimistic in (False, True):
        loop, host = build_live(SPEC, SmaCross, day_series, optimistic=optimistic)
        loop.on_bars(host.instrument_id, bars[:120])
        loop.set_kill_switch(True, "operator pressed the button", bars[119].ts)
        loop.on_bars(host.instrument_id, bars[120:])
        loops.append(loop)
    assert _outcome(loops[1]) == _outcome(loops[0])
    after = [o for o in loops[1].oms.orders.values() if o.ts_init > bars[119].ts]
    assert after and all(o.reason.startswith("KILL_SWITCH") for o in after)


def test_two_strategies_sharing_one_account_predict_without_divergence(day_series: BarSeries) -> None:
    """Fill reports carry the shared account's position; the host compares only what it consumes (the fill)."""
    instrument = build_instrument(SPEC, day_series)
    interval = infer_bar_interval(day_series.ts)
    results = []
    for optimistic in (False, True):
        broker = PaperBroker.open(Decimal(100_000), instrument.currency, SPEC.sim_config())
        loop = LiveLoop(broker, optimistic=optimistic)
        for k, (fast, slow) in enumerate([(1, 15), (3, 10)]):
            config = build_config(SmaCross, {"instrument_id": str(instrument.id), "fast": fast, "slow": slow})
            loop.add_strategy(StrategyHost(SmaCross(config, f"s{k}"), instrument), interval)
        loop.run(ReplaySource(instrument.id, day_series, batch_size=64))
        results.append(loop)
    waiting, optimistic_loop = results
    assert [fill_key(f) for f in optimistic_loop.broker.fills] == [fill_key(f) for f in waiting.broker.fills]
    assert [r.status()["divergences"] for r in optimistic_loop.runners] == [0, 0]
    assert all(r.status()["predicted_steps"] > 0 for r in optimistic_loop.runners)
    # The reports the hosts compared did differ in the account-wide fields: the projection mattered.
    positions = {e.position_quantity for e in waiting.oms.fills}
    assert len(positions) > 2


def test_a_step_whose_fill_passes_a_funds_check_waits_and_the_others_are_predicted(day_series: BarSeries) -> None:
    """Entries (a buy from flat) are decided by the shared account's cash: never predicted. Exits are."""
    loop = _run(day_series, True, 500)
    status = loop.runners[0].status()
    exits = sum(1 for f in loop.broker.fills if f.side.value == "sell")
    assert status["divergences"] == 0
    assert 0 < int(status["predicted_steps"]) <= exits < len(loop.broker.fills)


def test_route_steps_stops_after_the_first_step_with_a_denial(day_series: BarSeries) -> None:
    instrument = build_instrument(SPEC, day_series)
    oms = OrderManager()
    oms.register(instrument)
    risk = RiskEngine()
    risk.update_limits(max_order_quantity=Decimal(2))
    bars = list(day_series.bars())

    def step(k: int, quantity: int) -> HostStep:
        order = Order(
            client_order_id=f"s-{k}",  # type: ignore[arg-type]
            strategy_id="s",  # type: ignore[arg-type]
            instrument_id=instrument.id,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(quantity),
            ts_init=bars[k].ts,
        )
        return HostStep([SubmitOrder(order, bars[k].ts)], bars[k].ts, 1, bars[k + 1].ts, bars[k])

    routed = route_steps([step(1, 1), step(2, 5), step(3, 1)], risk, oms)
    assert len(routed) == 2
    assert isinstance(routed[1].to_strategy[0], OrderDenied) and routed[1].to_broker == []
    assert "s-3" not in oms.orders  # never recorded, never sent: the host that made it is rebuilt
