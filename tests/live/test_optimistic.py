"""Optimistic stepping (trading.live.optimistic): a host that steps ahead on predicted answers ends in exactly
the state of a host that waits for every answer, also when predictions fail (risk denials, a kill switch)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from strategies import SmaCross
from trading.backtest.runner import BacktestSpec, build_instrument
from trading.brokers.paper import PaperBroker
from trading.data.bars import BarSeries
from trading.live import InMemoryJournal, LiveLoop, Prediction, ReplaySource, StrategyHost, rebuild_host
from trading.live.loop import close_unsent, route_steps
from trading.live.oms import NOT_SENT, OrderManager
from trading.live.optimistic import predicted_answers
from trading.live.order_events import event_order_id
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


def _shared_account(series: BarSeries, cash: int, optimistic: bool) -> LiveLoop:
    """Three SMA crossovers on one paper account that holds about two positions' worth of cash."""
    instrument = build_instrument(SPEC, series)
    broker = PaperBroker.open(Decimal(cash), instrument.currency, SPEC.sim_config())
    loop = LiveLoop(broker, optimistic=optimistic)
    for k, (fast, slow) in enumerate([(1, 15), (3, 10), (2, 20)]):
        config = build_config(SmaCross, {"instrument_id": str(instrument.id), "fast": fast, "slow": slow})
        loop.add_strategy(StrategyHost(SmaCross(config, f"s{k}"), instrument), infer_bar_interval(series.ts))
    loop.run(ReplaySource(instrument.id, series, batch_size=64))
    return loop


def _order_story(loop: LiveLoop) -> dict[str, list[tuple[object, ...]]]:
    """Per strategy, its orders' (side, quantity, status, reason) in order, without the ones closed unsent."""
    story: dict[str, list[tuple[object, ...]]] = {}
    for order in loop.oms.orders.values():
        if order.reason != NOT_SENT:
            story.setdefault(order.strategy_id, []).append((order.side, order.quantity, order.status, order.reason))
    return story


def test_funds_refusals_the_shadow_did_not_predict_end_where_waiting_ends(day_series: BarSeries) -> None:
    """A shadow has unlimited cash; the shared account refuses entries other strategies already paid for. The
    broker stops a host's turn at the first answer it did not predict, so nothing decided after it reaches the
    venue: the orders of those steps are closed NOT_SENT, the host is rebuilt, and the run ends as waiting does."""
    waiting = _shared_account(day_series, 8000, optimistic=False)
    optimistic = _shared_account(day_series, 8000, optimistic=True)
    refused = [o for o in waiting.oms.orders.values() if o.reason == "INSUFFICIENT_FUNDS"]
    assert refused and len(refused) < len(waiting.oms.orders), "the case needs both refusals and fills"

    def fills(loop: LiveLoop) -> list[tuple[object, ...]]:
        return [(f.strategy_id, f.ts, f.side, f.quantity, f.price, f.commission) for f in loop.broker.fills]

    assert fills(optimistic) == fills(waiting)
    assert _order_story(optimistic) == _order_story(waiting)
    assert optimistic.broker.ledger.cash == waiting.broker.ledger.cash
    unsent = [o for o in optimistic.oms.orders.values() if o.reason == NOT_SENT]
    assert unsent, "the case needs steps the broker refused to apply"
    assert all(optimistic.broker.find_order(o.client_order_id) is None for o in unsent)  # never at the venue
    assert sum(int(r.status()["divergences"]) for r in optimistic.runners) > 0
    assert all(int(r.status()["predicted_steps"]) > 0 for r in optimistic.runners)
    # A rebuilt host gives new orders new ids: an id closed unsent is never reused.
    ids = [o.client_order_id for o in optimistic.oms.orders.values()]
    assert len(ids) == len(set(ids))


def test_a_single_strategy_predicts_every_step_entries_included(day_series: BarSeries) -> None:
    loop = _run(day_series, True, 500)
    status = loop.runners[0].status()
    assert status["divergences"] == 0
    assert int(status["predicted_steps"]) >= len(loop.broker.fills) > 0


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


def _market_step(instrument: Any, bars: list[Any], k: int, cid: str, owner: str = "s") -> HostStep:
    order = Order(
        client_order_id=cid,  # type: ignore[arg-type]
        strategy_id=owner,  # type: ignore[arg-type]
        instrument_id=instrument.id,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        quantity=Decimal(1),
        ts_init=bars[k].ts,
    )
    return HostStep([SubmitOrder(order, bars[k].ts)], bars[k].ts, 1, bars[k + 1].ts, bars[k])


def test_the_broker_ends_an_owners_turn_at_the_first_answer_it_did_not_predict(day_series: BarSeries) -> None:
    instrument = build_instrument(SPEC, day_series)
    bars = list(day_series.bars())
    broker = PaperBroker.open(Decimal(5000), instrument.currency, SPEC.sim_config())  # one unit at ~3,600 only
    broker.register(instrument, infer_bar_interval(day_series.ts))
    for owner in ("a", "b"):
        broker.pace(owner)
    broker.on_bars(instrument.id, bars[:10])
    first, second, third = (_market_step(instrument, bars, k, f"a-{k}", "a") for k in (1, 2, 3))
    other = _market_step(instrument, bars, 1, "b-1", "b")
    # The owner "a" predicted two fills (unlimited shadow cash); the account pays for the first only.
    filled = broker.step_many([("a", instrument.id, first.commands, bars[1].ts, None)])
    assert [type(e).__name__ for e in filled[0].events][-1] == "OrderFilled"
    prediction = Prediction([filled[0].events[-1].fill], filled[0].horizon_ts)  # "it fills like the first"
    results = broker.step_many(
        [
            ("a", instrument.id, second.commands, bars[2].ts, prediction),
            ("b", instrument.id, other.commands, bars[1].ts, None),
            ("a", instrument.id, third.commands, bars[3].ts, None),
        ]
    )
    assert [r.sent for r in results] == [True, True, False]  # "b" is not held up by "a"
    assert any(getattr(e, "reason", "") == "INSUFFICIENT_FUNDS" for e in results[0].events)
    assert broker.find_order("a-3") is None  # decided on the fill that did not happen: never at the venue


def test_orders_closed_unsent_leave_the_strategys_history_but_keep_their_ids(day_series: BarSeries) -> None:
    instrument = build_instrument(SPEC, day_series)
    bars = list(day_series.bars())
    journal = InMemoryJournal()
    oms = OrderManager(journal)
    oms.register(instrument)
    routed = route_steps([_market_step(instrument, bars, k, f"s-{k:06d}") for k in (1, 2)], RiskEngine(), oms)
    assert [r.recorded for r in routed] == [["s-000001"], ["s-000002"]]
    closed = close_unsent(oms, routed[1], bars[2].ts)
    assert [(type(e).__name__, e.reason) for e in closed] == [("OrderRejected", NOT_SENT)]  # type: ignore[attr-defined]
    assert close_unsent(oms, routed[1], bars[2].ts) == []  # once
    assert [event_order_id(e) for _, e in oms.history("s")] == ["s-000001"]  # type: ignore[arg-type]
    assert oms.last_order_seq("s") == 2 and not oms.orders["s-000002"].is_open  # type: ignore[index]
    rebuilt = OrderManager()
    rebuilt.rebuild(journal.entries)
    assert rebuilt.history("s") == oms.history("s") and rebuilt.last_order_seq("s") == 2
    # A resent step does not send an order that was closed without the venue.
    again = route_steps([_market_step(instrument, bars, 2, "s-000002")], RiskEngine(), rebuilt)
    assert again[0].to_broker == [] and again[0].recorded == []


def test_a_rebuilt_host_continues_its_order_ids_after_the_last_known_one(day_series: BarSeries) -> None:
    bars = list(day_series.bars())
    loop, host = build_live(SPEC, SmaCross, day_series)
    cut = 100
    loop.on_bars(host.instrument_id, bars[:cut])
    while host.has_live_orders:  # cut where the host waits for nothing: its next order is a new decision
        loop.on_bars(host.instrument_id, bars[cut : cut + 1])
        cut += 1
    records = loop.oms.history(host.strategy_id)
    assert records and host.order_seq > 0
    # The order manager knows 5 more ids than the record holds (orders closed unsent).
    reborn = rebuild_host(host, records, bars[:cut], last_order_seq=host.order_seq + 5)
    reborn.on_bars(bars[cut:])
    new_ids: list[str] = []
    step = reborn.advance()
    while not new_ids and step.needs_sync_after_ts is not None:
        for command in step.commands:  # the venue's answers, as a broker gives them: accepted, then filled
            if isinstance(command, SubmitOrder):
                new_ids.append(command.order.client_order_id)
        reborn.apply_events(predicted_answers(step), step.next_ts)
        step = reborn.advance()
    assert new_ids and new_ids[0] == f"{host.strategy_id}-{host.order_seq + 6:06d}"


def test_a_rebuilt_host_predicts_only_past_its_recorded_bars(day_series: BarSeries) -> None:
    """A host rebuilt from the order manager's record (a restart, a resumed run) steps its recorded bars on the
    recorded events, which its shadow never sees: a shadow started before them would predict the next order on
    a book without those fills (wrong trade ids, wrong position) and diverge. It starts after them."""
    bars = list(day_series.bars())
    half = len(bars) // 2
    loop, host = build_live(SPEC, SmaCross, day_series, optimistic=True)
    loop.on_bars(host.instrument_id, bars[:half])
    sid, runner = host.strategy_id, loop.runners[0]
    assert loop.oms.history(sid), "the first half must trade"
    # The restart path with nothing buffered yet: the record and the bars arrive, then the market goes on.
    runner.rebuilt(rebuild_host(host, loop.oms.history(sid), [], loop.oms.last_order_seq(sid)))
    runner.on_bars(bars[:half])
    loop.on_bars(host.instrument_id, bars[half:])
    assert runner.status()["divergences"] == 0
    assert runner.status()["predicted_steps"] > 0  # the shadow did start, after the record
    waiting, _ = build_live(SPEC, SmaCross, day_series)
    waiting.on_bars(host.instrument_id, bars)
    assert [fill_key(f) for f in loop.broker.fills] == [fill_key(f) for f in waiting.broker.fills]
