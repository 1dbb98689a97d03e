"""The firm-wide risk engine and the strategy lifecycle in the actor runtime (real Ray; Redis where the kill
switch is the firm-wide flag): limits changed at run time bind the next order, the daily-loss breaker halts
trading and says why, a kill switch set in Redis by anyone halts the runtime, and a strategy added while the
market runs warms up on the history and trades only from the next bar."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.exceptions import RayTaskError

from actors import MARKET_DATA, ORDER_MANAGER, RISK, broker_name, strategy_name
from actors.orchestrator import OrchestratorActor, RuntimeSpec, StrategySpec
from trading.backtest.runner import BacktestSpec, build_instrument
from trading.data.bars import Bar
from trading.data.loaders import load_bars
from trading.errors import ConfigError
from trading.sim.sessions import infer_bar_interval
from trading.storage import LiveCache

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
MIN5 = ROOT / "data" / "backtrader" / "2006-min-005.txt"


def start_runtime(
    risk_limits: dict[str, Any] | None = None, redis_url: str | None = None
) -> tuple[Any, RuntimeSpec, list[Bar]]:
    spec = BacktestSpec(data=str(MIN5), strategy="sma_cross", params={"fast": 5, "slow": 20}, fill="close")
    series = load_bars(MIN5)
    runtime = RuntimeSpec(
        instrument=build_instrument(spec, series),
        strategies=[StrategySpec("sma_cross", {"fast": 5, "slow": 20})],
        starting_cash=Decimal(100_000),
        sim=spec.sim_config(),
        bar_interval_ns=infer_bar_interval(series.ts),
        namespace=f"test-{uuid.uuid4().hex[:8]}",
        risk_limits=risk_limits or {},
        redis_url=redis_url,
    )
    orchestrator = OrchestratorActor.options(namespace=runtime.namespace, num_cpus=0).remote(runtime)  # type: ignore[attr-defined]
    ray.get(orchestrator.start.remote())
    return orchestrator, runtime, list(series.bars())


def stop(orchestrator: Any) -> None:
    ray.get(orchestrator.shutdown.remote())
    ray.kill(orchestrator, no_restart=True)


def actor(name: str, runtime: RuntimeSpec) -> Any:
    return ray.get_actor(name, namespace=runtime.namespace)


def orders(runtime: RuntimeSpec) -> list[dict[str, Any]]:
    snapshot: dict[str, Any] = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
    return list(snapshot["orders"])


def test_limits_changed_at_run_time_deny_the_next_orders_with_a_reason_code(ray_session: None) -> None:
    orchestrator, runtime, bars = start_runtime()
    try:
        half = len(bars) // 2
        ray.get(orchestrator.replay.remote(bars[:half], 50, "max"))
        before = orders(runtime)
        assert before and not [o for o in before if o["status"] == "denied"]

        changed = ray.get(actor(RISK, runtime).update_limits.remote({"max_order_quantity": Decimal("0.5")}))
        assert changed["max_order_quantity"] == Decimal("0.5")
        ray.get(orchestrator.replay.remote(bars[half:], 50, "max"))

        after = orders(runtime)[len(before) :]
        assert after, "the strategy keeps trying after the change"
        assert all(o["status"] == "denied" for o in after)
        assert all(o["reason"].startswith("QUANTITY_EXCEEDS_MAX: ") for o in after)
        broker_orders = ray.get(actor(broker_name("paper"), runtime).submissions.remote())
        assert len(broker_orders) == len(before)  # nothing denied reached the broker

        ray.kill(actor(RISK, runtime), no_restart=False)  # in memory only: the restart takes the gate back
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                limits = ray.get(actor(RISK, runtime).limits.remote(), timeout=5)
                break
            except ray.exceptions.RayActorError:
                time.sleep(0.2)
        assert limits["max_order_quantity"] == Decimal("0.5")
    finally:
        stop(orchestrator)


def test_the_daily_loss_breaker_halts_the_actor_runtime_and_says_why(ray_session: None) -> None:
    orchestrator, runtime, bars = start_runtime({"daily_loss_limit": Decimal(1)})
    try:
        ray.get(orchestrator.replay.remote(bars, 50, "max"))
        status = ray.get(actor(RISK, runtime).status.remote())
        assert status["state"] == "halted"
        assert status["reason"].startswith("DAILY_LOSS_LIMIT: lost ")
        changes = ray.get(actor(RISK, runtime).state_changes.remote())
        assert changes and changes[0].state == "halted"
        halted_at = changes[0].ts
        late = [o for o in orders(runtime) if o["ts_init"] > halted_at]
        assert late and all(o["status"] == "denied" and o["reason"].startswith("HALTED: ") for o in late)
    finally:
        stop(orchestrator)


def test_a_kill_switch_set_in_redis_by_anyone_halts_the_runtime(
    ray_session: None, storage_urls: tuple[str, str]
) -> None:
    orchestrator, runtime, bars = start_runtime(redis_url=storage_urls[1])
    risk = actor(RISK, runtime)

    async def flip(on: bool) -> None:
        cache = LiveCache.from_url(storage_urls[1], namespace=runtime.namespace)
        try:
            await cache.set_kill_switch(on, "operator on another desk")
        finally:
            await cache.close()

    def wait_for_state(state: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status: dict[str, Any] = ray.get(risk.status.remote())
            if status["state"] == state:
                return status
            time.sleep(0.05)
        raise AssertionError(f"the risk actor never reached {state}")

    try:
        half = len(bars) // 2
        ray.get(orchestrator.replay.remote(bars[:half], 50, "max"))
        before = orders(runtime)
        asyncio.run(flip(True))
        status = wait_for_state("halted")
        assert status["kill_switch"] is True
        oms = actor(ORDER_MANAGER, runtime)
        deadline = time.monotonic() + 10
        while not ray.get(oms.snapshot.remote())["risk"]["kill_switch"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the flag travels Redis -> risk actor -> order manager
        ray.get(orchestrator.replay.remote(bars[half:], 50, "max"))
        after = orders(runtime)[len(before) :]
        assert after and all(o["reason"].startswith("KILL_SWITCH: ") for o in after)
        asyncio.run(flip(False))
        deadline = time.monotonic() + 10
        while ray.get(risk.status.remote())["kill_switch"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ray.get(risk.status.remote())["kill_switch"] is False
        assert ray.get(risk.status.remote())["state"] == "halted"  # only a person resumes trading
    finally:
        stop(orchestrator)


def test_a_strategy_added_while_running_trades_only_from_the_next_bar(ray_session: None) -> None:
    orchestrator, runtime, bars = start_runtime()
    try:
        half = len(bars) // 2
        ray.get(orchestrator.replay.remote(bars[:half], 50, "max"))
        status = ray.get(orchestrator.add_strategy.remote("ema_cross", {"fast": 5, "slow": 12}, "ema-late"))
        assert status["strategy_id"] == "ema-late" and status["state"] == "running"
        assert status["bars_seen"] == half and status["fills"] == 0  # warmed up on the history, no trades

        with pytest.raises(RayTaskError) as duplicate:
            ray.get(orchestrator.add_strategy.remote("ema_cross", {}, "ema-late"))
        assert isinstance(duplicate.value.cause, ValueError) and "ema-late" in str(duplicate.value.cause)
        with pytest.raises(RayTaskError) as bad:
            ray.get(orchestrator.add_strategy.remote("ema_cross", {"fast": 30, "slow": 10}, "ema-bad"))
        assert isinstance(bad.value.cause, ConfigError)
        with pytest.raises(RayTaskError) as unknown:
            ray.get(orchestrator.add_strategy.remote("no_such_strategy", {}, None))
        assert isinstance(unknown.value.cause, ConfigError)
        assert sorted(ray.get(orchestrator.strategy_ids.remote())) == ["ema-late", "sma_cross"]

        ray.get(orchestrator.replay.remote(bars[half:], 50, "max"))
        fills = [f for f in ray.get(actor(broker_name("paper"), runtime).fills.remote()) if f.strategy_id == "ema-late"]
        assert fills, "the added strategy trades on the second half"
        assert min(f.ts for f in fills) > bars[half - 1].ts
        late = ray.get(actor(strategy_name("ema-late"), runtime).status.remote())
        assert late["bars_seen"] == len(bars) and late["fills"] == len(fills)
        snapshot = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
        held = sum((f.signed_quantity for f in fills), Decimal(0))
        assert held == Decimal(late["position"])
        broker = actor(broker_name("paper"), runtime)
        positions = {str(p.instrument_id): p.quantity for p in ray.get(broker.positions.remote())}
        assert {p["instrument_id"]: Decimal(p["quantity"]) for p in snapshot["positions"]} == positions
        assert ray.get(actor(MARKET_DATA, runtime).status.remote())["resends"] == 0
    finally:
        stop(orchestrator)


DAY = ROOT / "data" / "backtrader" / "2006-day-001.txt"


def fast_slow(fast: int, slow: int) -> dict[str, Any]:
    return {"fast": fast, "slow": slow}


def test_several_strategies_on_several_instruments_and_brokers_each_equal_their_own_backtest(
    ray_session: None,
) -> None:
    from strategies import BUILTIN
    from trading.backtest.runner import run_backtest

    min5, day = {"data": str(MIN5), "symbol": "MIN5"}, {"data": str(DAY), "symbol": "DAY"}
    specs = {
        "min5-sma": (BacktestSpec(**min5, strategy="sma_cross", params=fast_slow(5, 20)), "paper"),
        "day-ema": (BacktestSpec(**day, strategy="ema_cross", params=fast_slow(5, 12)), "paper2"),
        "day-sma": (BacktestSpec(**day, strategy="sma_cross", params=fast_slow(1, 15)), "paper"),
    }
    series = {sid: load_bars(Path(spec.data)) for sid, (spec, _) in specs.items()}
    instruments = {str(build_instrument(spec, series[sid]).id): build_instrument(spec, series[sid])
                   for sid, (spec, _) in specs.items()}
    first, *others = instruments.values()
    runtime = RuntimeSpec(
        instrument=first,
        more_instruments=tuple(others),
        strategies=[StrategySpec(spec.strategy, spec.params, sid, f"{spec.symbol}.SIM", broker)
                    for sid, (spec, broker) in specs.items()],
        starting_cash=Decimal(10_000),  # the backtests' default cash
        sim=specs["day-ema"][0].sim_config(),  # one venue model for every broker: the specs share theirs
        more_brokers=("paper2",),
        namespace=f"test-{uuid.uuid4().hex[:8]}",
    )
    orchestrator = OrchestratorActor.options(namespace=runtime.namespace, num_cpus=0).remote(runtime)  # type: ignore[attr-defined]
    try:
        ray.get(orchestrator.start.remote())
        with pytest.raises(RayTaskError) as unknown:
            ray.get(orchestrator.replay.remote({"NOPE.SIM": []}))
        assert isinstance(unknown.value.cause, ConfigError)
        ray.get(orchestrator.replay.remote({"MIN5.SIM": series["min5-sma"], "DAY.SIM": series["day-ema"]}, 40))
        for sid, (spec, broker_id) in specs.items():
            expected = run_backtest(spec, BUILTIN[spec.strategy], series[sid])
            broker = actor(broker_name(broker_id), runtime)
            fills = [f for f in ray.get(broker.fills.remote()) if f.strategy_id == sid]
            assert expected.fills, sid
            assert [(f.ts, f.side, f.quantity, f.price, f.client_order_id.rpartition("-")[2]) for f in fills] == [
                (f.ts, f.side, f.quantity, f.price, f.client_order_id.rpartition("-")[2]) for f in expected.fills
            ], sid
        snapshot = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
        for broker_id in ("paper", "paper2"):
            reports = ray.get(actor(broker_name(broker_id), runtime).positions.remote())
            held = {str(p.instrument_id): p.quantity for p in reports}
            rows = [p for p in snapshot["positions"] if p["account_id"] == broker_id]
            ours = {p["instrument_id"]: Decimal(p["quantity"]) for p in rows}
            assert ours == {i: q for i, q in held.items() if q != 0}, broker_id
        assert {p["instrument_id"] for p in snapshot["positions"] if p["account_id"] == "paper2"} <= {"DAY.SIM"}
    finally:
        stop(orchestrator)


def test_a_group_of_manual_orders_answers_each_order_on_its_own(ray_session: None) -> None:
    """The gateway sends the orders it received together in one `submit_manual_many` call: each order gets its
    own answer, an order for an unknown broker is refused alone, and an id sent twice names one order."""
    from trading.model.identifiers import ClientOrderId, StrategyId
    from trading.model.orders import Order, OrderSide, OrderType

    orchestrator, runtime, _ = start_runtime()

    def order(cid: str, broker: str = "") -> Order:
        return Order(ClientOrderId(cid), StrategyId("manual"), runtime.instrument.id, OrderSide.BUY, OrderType.LIMIT,
                     Decimal(1), limit_price=Decimal("0.5"), broker=broker, ts_init=time.time_ns())

    try:
        oms = actor(ORDER_MANAGER, runtime)
        group = [order("g-1"), order("g-2", broker="nope"), order("g-3"), order("g-1")]
        first, refused, third, again = ray.get(oms.submit_manual_many.remote(group))
        assert first["created"] and third["created"] and not again["created"]
        assert first["order"]["status"] == third["order"]["status"] == "accepted"  # resting far below the market
        assert again["order"] == first["order"]
        assert isinstance(refused, ValueError) and "unknown broker 'nope'" in str(refused)
        assert ray.get(oms.submit_manual.remote(order("g-3")))["created"] is False
        with pytest.raises(RayTaskError, match="unknown broker"):
            ray.get(oms.submit_manual.remote(order("g-2", broker="nope")))
        assert sorted(o["client_order_id"] for o in orders(runtime) if o["strategy_id"] == "manual") == ["g-1", "g-3"]
    finally:
        stop(orchestrator)
