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
