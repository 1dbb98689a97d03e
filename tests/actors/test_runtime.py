"""The live runtime on real Ray: a replay through the actors gives exactly the backtest's fills, and killing the
strategy actor mid-replay loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from actors import MARKET_DATA, ORDER_MANAGER, broker_name, strategy_name
from actors.orchestrator import OrchestratorActor, RuntimeSpec, StrategySpec
from strategies import BUILTIN
from trading.backtest.runner import BacktestSpec, build_instrument, run_backtest
from trading.data.loaders import load_bars
from trading.model.fills import Fill
from trading.sim.sessions import infer_bar_interval

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
MIN5 = ROOT / "data" / "backtrader" / "2006-min-005.txt"
SP500_MINUTE = ROOT / "data" / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
NEW_YORK = "America/New_York"


def key(fill: Fill) -> tuple[object, ...]:
    return (fill.ts, fill.side.value, fill.quantity, fill.price, fill.commission, fill.client_order_id)


def start_runtime(spec: BacktestSpec, tz: str, *, optimistic: bool = True) -> tuple[Any, Any, RuntimeSpec, Any]:
    series = load_bars(Path(spec.data), tz=tz)
    instrument = build_instrument(spec, series)
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    runtime = RuntimeSpec(
        instrument=instrument,
        strategies=[StrategySpec(spec.strategy, {"size": spec.size, **spec.params})],
        starting_cash=Decimal(spec.cash),
        sim=spec.sim_config(),
        bar_interval_ns=infer_bar_interval(series.ts),
        namespace=namespace,
        optimistic=optimistic,
    )
    orchestrator = OrchestratorActor.options(namespace=namespace, num_cpus=0).remote(runtime)  # type: ignore[attr-defined]
    ray.get(orchestrator.start.remote())
    return orchestrator, series, runtime, run_backtest(spec, BUILTIN[spec.strategy], series)


def actor(name: str, runtime: RuntimeSpec) -> Any:
    return ray.get_actor(name, namespace=runtime.namespace)


@pytest.mark.parametrize("optimistic", [True, False], ids=["optimistic", "waiting"])
def test_replay_through_the_actors_gives_exactly_the_backtest_fills(ray_session: None, optimistic: bool) -> None:
    spec = BacktestSpec(data=str(MIN5), strategy="sma_cross", fill="close")
    orchestrator, series, runtime, expected = start_runtime(spec, "UTC", optimistic=optimistic)
    try:
        status = ray.get(orchestrator.replay.remote(series, 50, "max"))
        assert status["accepted"] == {str(runtime.instrument.id): len(series)}
        broker = actor(broker_name("paper"), runtime)
        fills = ray.get(broker.fills.remote())
        assert [key(f) for f in fills] == [key(f) for f in expected.fills]
        account = ray.get(broker.account.remote())
        assert account.equity == expected.final_value
        oms_position = ray.get(actor(ORDER_MANAGER, runtime).position.remote(runtime.instrument.id))
        assert Decimal(oms_position) == expected.position
        strategy = ray.get(actor(strategy_name("sma_cross"), runtime).status.remote())
        assert strategy["divergences"] == 0
        # Optimistic: the strategy stepped past its orders on predictions, several steps per order-manager call.
        assert (strategy["predicted_steps"] > 0) is optimistic
        snapshot = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
        routing = snapshot["routing"]
        assert (routing["calls"] < routing["steps"]) is optimistic
        # Every order the replay made was timed from its bars' arrival to the order manager's answer (/metrics).
        latency = strategy["bar_to_order"]
        assert latency["count"] == len(snapshot["orders"]) == sum(latency["counts"]) > 0
        assert 0 < latency["sum"] < 60 * latency["count"]
    finally:
        ray.get(orchestrator.shutdown.remote())


def test_killing_the_strategy_actor_mid_replay_loses_and_duplicates_no_order(ray_session: None) -> None:
    spec = BacktestSpec(
        data=str(SP500_MINUTE),
        strategy="opening_range_breakout",
        params={"timezone": NEW_YORK, "allow_short": True, "exit_time": "15:30"},
        timezone=NEW_YORK,
        session="09:30-16:00",
    )
    orchestrator, series, runtime, expected = start_runtime(spec, NEW_YORK)
    try:
        # About four seconds of replay: one-minute bars at 25,000x.
        done = orchestrator.replay.remote(series, 20, "25000x")
        market_data = actor(MARKET_DATA, runtime)
        strategy = actor(strategy_name("opening_range_breakout"), runtime)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            accepted = sum(ray.get(market_data.status.remote())["accepted"].values())
            if accepted >= len(series) // 2:
                break
            time.sleep(0.05)
        assert len(series) // 2 <= accepted < len(series), "the replay ended before the kill"
        ray.kill(strategy, no_restart=False)
        ray.get(done, timeout=120)
        broker = actor(broker_name("paper"), runtime)
        fills = ray.get(broker.fills.remote())
        assert [key(f) for f in fills] == [key(f) for f in expected.fills]
        assert len({f.client_order_id for f in fills}) == len({f.client_order_id for f in expected.fills})
        positions = ray.get(broker.positions.remote())
        snapshot = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
        assert {p.instrument_id: p.quantity for p in positions} == {
            p["instrument_id"]: Decimal(p["quantity"]) for p in snapshot["positions"]
        } or (not positions and not snapshot["positions"])
        assert len(snapshot["orders"]) == len(expected.orders)  # nothing lost, nothing sent twice
        assert sorted((o["client_order_id"], o["status"]) for o in snapshot["orders"]) == sorted(
            (o.client_order_id, o.status.value) for o in expected.orders
        )
        status = ray.get(strategy.status.remote())
        assert status["rebuilt_from"] > 0  # the restarted actor replayed its recorded history
        assert ray.get(market_data.status.remote())["resends"] >= 1
        account = ray.get(broker.account.remote())
        assert account.equity == expected.final_value
    finally:
        ray.get(orchestrator.shutdown.remote())


def test_strategies_sharing_a_tight_account_stay_exactly_in_step_with_the_broker(ray_session: None) -> None:
    """Three strategies share cash for one position: the account refuses entries the strategies' shadows
    predicted as fills. The broker actor stops such a strategy's turn at the refusal, the order manager closes
    the orders of the steps it did not apply (NOT_SENT) and the strategy actor is rebuilt. Which strategy gets
    the cash first depends on timing here (the actors run concurrently; `LiveLoop` steps them in a fixed order,
    and tests/live/test_optimistic.py shows optimistic equals waiting there), so this test checks what must
    hold under any timing: every strategy, the order manager and the broker agree on every fill and position,
    and nothing decided on a failed prediction reached the venue."""
    from trading.live.oms import NOT_SENT

    spec = BacktestSpec(data=str(ROOT / "data" / "backtrader" / "2006-day-001.txt"), strategy="sma_cross")
    series = load_bars(Path(spec.data))
    instrument = build_instrument(spec, series)
    params = [{"fast": 1, "slow": 15}, {"fast": 3, "slow": 10}, {"fast": 2, "slow": 20}]
    runtime = RuntimeSpec(
        instrument=instrument,
        strategies=[StrategySpec("sma_cross", p, strategy_id=f"s{k}") for k, p in enumerate(params)],
        starting_cash=Decimal(5000),  # one position at a time: entries meet a spent account under any timing
        sim=spec.sim_config(),
        bar_interval_ns=infer_bar_interval(series.ts),
        namespace=f"test-{uuid.uuid4().hex[:8]}",
    )
    orchestrator = OrchestratorActor.options(namespace=runtime.namespace, num_cpus=0).remote(runtime)  # type: ignore[attr-defined]
    try:
        ray.get(orchestrator.start.remote())
        ray.get(orchestrator.replay.remote(series, 64, "max"))
        broker = actor(broker_name("paper"), runtime)
        fills = ray.get(broker.fills.remote())
        snapshot = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
        orders = {o["client_order_id"]: o for o in snapshot["orders"]}
        refused = [o for o in orders.values() if o["reason"] == "INSUFFICIENT_FUNDS"]
        assert refused, "the case needs entries the shared account refuses"
        oms_positions = {p["strategy_id"]: Decimal(p["quantity"]) for p in snapshot["strategy_positions"]}
        statuses = []
        for k in range(len(params)):
            sid = f"s{k}"
            mine = [f for f in fills if f.strategy_id == sid]
            held = sum((f.signed_quantity for f in mine), Decimal(0))
            status = ray.get(actor(strategy_name(sid), runtime).status.remote())
            statuses.append(status)
            assert (status["fills"], Decimal(status["position"])) == (len(mine), held), sid  # the strategy knows
            assert oms_positions.get(sid, Decimal(0)) == held, sid  # the order manager books the same
            assert all(orders[f.client_order_id]["strategy_id"] == sid for f in mine)
        unsent = {cid for cid, o in orders.items() if o["reason"] == NOT_SENT}
        at_venue = ray.get(broker.submissions.remote())
        assert not unsent & set(at_venue)  # closed unsent: never at the venue
        assert len(at_venue) == len(set(at_venue)) and set(at_venue) <= set(orders)
        assert all(orders[cid]["status"] == "rejected" for cid in unsent)
        assert sum(s["divergences"] for s in statuses) > 0  # the first refusal is met while predicting
    finally:
        ray.get(orchestrator.shutdown.remote())


def test_a_step_that_reaches_the_broker_before_its_bar_waits_for_it(ray_session: None) -> None:
    """Market data reaches the broker and the strategy at once, and under load the strategy's order can reach
    the broker first. A market order from bar t fills at bar t's close (close timing) only if the broker has
    bar t: the step waits for it instead of matching without it."""
    from actors.broker import BrokerActor
    from trading.messages import OrderFilled, SubmitOrder
    from trading.model.orders import Order, OrderSide, OrderType

    spec = BacktestSpec(data=str(MIN5), strategy="sma_cross", fill="close")
    series = load_bars(MIN5)
    instrument = build_instrument(spec, series)
    broker = BrokerActor.options(num_cpus=0).remote(Decimal(100_000), instrument.currency, spec.sim_config())  # type: ignore[attr-defined]
    try:
        ray.get(broker.register.remote(instrument, infer_bar_interval(series.ts)))
        ray.get(broker.pace.remote("s"))
        bars = [series.bar(k) for k in range(3)]
        ray.get(broker.on_bars.remote(instrument.id, bars[:1]))
        order = Order("s-1", "s", instrument.id, OrderSide.BUY, OrderType.MARKET, Decimal(1), ts_init=bars[1].ts)  # type: ignore[arg-type]
        step = broker.step_many.remote([("s", instrument.id, [SubmitOrder(order, bars[1].ts)], bars[1].ts, None, None)])
        time.sleep(0.3)  # the step is at the broker, waiting
        ray.get(broker.on_bars.remote(instrument.id, bars[1:2]))
        [result] = ray.get(step, timeout=30)
        fills = [e.fill for e in result.events if isinstance(e, OrderFilled)]
        assert [(f.ts, f.price) for f in fills] == [(bars[1].ts, instrument.make_price(bars[1].close))]
    finally:
        ray.kill(broker)


def test_batches_that_queue_for_a_busy_strategy_go_to_it_in_one_call(ray_session: None) -> None:
    """The market-data actor keeps one call in flight per recipient. While a strategy is busy with a batch, the
    batches published meanwhile wait and then go to it together, in order, as one call; the order manager and
    the broker still take each batch as published (the order manager marks and checks the breakers per batch)."""
    from actors.market_data import MarketDataActor
    from trading.model.identifiers import InstrumentId

    @ray.remote(num_cpus=0)
    class Recipient:
        """Stands in for a strategy (or the broker, or the order manager) and records what each call carried."""

        def __init__(self, first_call_s: float) -> None:
            self.first_call_s = first_call_s
            self.calls: list[list[int]] = []

        async def on_bars(self, *args: Any) -> list[Any]:
            bars = args[-1] if len(args) == 1 else args[1]
            self.calls.append([bar.ts for bar in bars])
            if len(self.calls) == 1:
                await asyncio.sleep(self.first_call_s)  # busy with the first batch while the replay goes on
            return []

        async def seen(self) -> list[list[int]]:
            return self.calls

    namespace = f"test-{uuid.uuid4().hex[:8]}"
    series = load_bars(MIN5)
    bars = [series.bar(k) for k in range(40)]
    names = {"strategy": 1.0, "broker": 0.0, "oms": 0.0}
    recipients = {
        name: Recipient.options(name=name, namespace=namespace).remote(wait)  # type: ignore[attr-defined]
        for name, wait in names.items()
    }
    market_data = MarketDataActor.options(namespace=namespace, num_cpus=0).remote(namespace, "broker", "oms")  # type: ignore[attr-defined]
    try:
        iid = InstrumentId("DATA", "SIM")
        ray.get(market_data.subscribe.remote(iid, "strategy"))
        # One bar per batch, 50 ms apart (five-minute bars at 6000x): the strategy is busy for the first second.
        status = ray.get(market_data.replay_many.remote({iid: bars}, 1, "6000x"))
        strategy_calls = ray.get(recipients["strategy"].seen.remote())
        assert [ts for call in strategy_calls for ts in call] == [bar.ts for bar in bars]  # all, in order, once
        assert strategy_calls[0] == [bars[0].ts]  # the first batch went as soon as it was published
        assert max(len(call) for call in strategy_calls) > 1 and len(strategy_calls) < len(bars)
        for books in ("broker", "oms"):
            assert ray.get(recipients[books].seen.remote()) == [[bar.ts] for bar in bars]
        delivered = status["deliveries"]["strategy"]
        assert (delivered["calls"], delivered["batches"]) == (len(strategy_calls), len(bars))
        # Every batch joined to another waited for the busy strategy; the first did not.
        assert len(bars) - len(strategy_calls) <= delivered["waited"] < len(bars)
    finally:
        for handle in (market_data, *recipients.values()):
            ray.kill(handle)
