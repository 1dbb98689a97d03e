"""Durable state on real Ray, PostgreSQL and Redis: `dto paper` equals `dto backtest`; a runtime stopped half way
and started again on the same storage resumes exactly; killing the order manager, the risk actor or the broker
actor mid-replay loses no order and duplicates none."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from actors import MARKET_DATA, ORDER_MANAGER, RISK, broker_name
from actors.orchestrator import OrchestratorActor, RuntimeSpec, StrategySpec
from strategies import BUILTIN
from trading.backtest.engine import BacktestResult
from trading.backtest.runner import BacktestSpec, build_instrument, run_backtest
from trading.data.bars import Bar, BarSeries
from trading.data.loaders import load_bars
from trading.live.strategy_host import HostStep
from trading.messages import OrderFilled, SubmitOrder
from trading.model.fills import Fill
from trading.model.orders import Order, OrderSide, OrderType
from trading.sim.sessions import infer_bar_interval
from trading.storage import LiveCache, OrderStore, open_pool

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT / "data" / "backtrader" / "2006-day-001.txt"
MIN5 = ROOT / "data" / "backtrader" / "2006-min-005.txt"
MIN5_SPEC = BacktestSpec(data=str(MIN5), strategy="sma_cross", params={"fast": 5, "slow": 20}, fill="close")


def key(fill: Fill) -> tuple[object, ...]:
    return (fill.ts, fill.side.value, fill.quantity, fill.price, fill.commission, fill.client_order_id)


def runtime_for(
    spec: BacktestSpec, urls: tuple[str, str], run_id: str, namespace: str | None = None
) -> tuple[RuntimeSpec, BarSeries, BacktestResult]:
    series = load_bars(Path(spec.data), tz=spec.timezone)
    instrument = build_instrument(spec, series)
    runtime = RuntimeSpec(
        instrument=instrument,
        strategies=[StrategySpec(spec.strategy, {"size": spec.size, **spec.params})],
        starting_cash=Decimal(spec.cash),
        sim=spec.sim_config(),
        bar_interval_ns=infer_bar_interval(series.ts),
        namespace=namespace or f"test-{uuid.uuid4().hex[:8]}",
        database_url=urls[0],
        redis_url=urls[1],
        run_id=run_id,
    )
    return runtime, series, run_backtest(spec, BUILTIN[spec.strategy], series)


def start(runtime: RuntimeSpec) -> Any:
    orchestrator = OrchestratorActor.options(namespace=runtime.namespace, num_cpus=0).remote(runtime)  # type: ignore[attr-defined]
    ray.get(orchestrator.start.remote())
    return orchestrator


def stop(orchestrator: Any) -> None:
    ray.get(orchestrator.shutdown.remote())
    ray.kill(orchestrator, no_restart=True)


def actor(name: str, runtime: RuntimeSpec) -> Any:
    return ray.get_actor(name, namespace=runtime.namespace)


def check_equal_to_backtest(runtime: RuntimeSpec, expected: BacktestResult) -> dict[str, Any]:
    broker = actor(broker_name("paper"), runtime)
    fills = ray.get(broker.fills.remote())
    assert [key(f) for f in fills] == [key(f) for f in expected.fills]
    submissions = ray.get(broker.submissions.remote())
    assert len(submissions) == len(set(submissions)) == len(expected.orders)  # none lost, none sent twice
    account = ray.get(broker.account.remote())
    assert account.equity == expected.final_value
    assert account.cash == expected.cash
    snapshot: dict[str, Any] = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
    assert sorted((o["client_order_id"], o["status"]) for o in snapshot["orders"]) == sorted(
        (o.client_order_id, o.status.value) for o in expected.orders
    )
    positions = {str(p.instrument_id): p.quantity for p in ray.get(broker.positions.remote())}
    assert {p["instrument_id"]: Decimal(p["quantity"]) for p in snapshot["positions"]} == positions
    assert Decimal(ray.get(actor(ORDER_MANAGER, runtime).position.remote(runtime.instrument.id))) == expected.position
    return snapshot


def json_line(out: str) -> str:
    """The JSON object `dto paper --json` printed. Here it joins the test session's Ray, which forwards its
    workers' and raylet's log lines to this process's stdout (a run that starts its own Ray does not)."""
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, out
    return lines[0]


def test_dto_paper_json_equals_dto_backtest(
    ray_session: None,
    storage_urls: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dto.cli import main as dto_main
    from dto.paper import main as paper_main

    monkeypatch.setenv("DATABASE_URL", storage_urls[0])
    monkeypatch.setenv("REDIS_URL", storage_urls[1])
    argv = ["--data", str(DAY), "--strategy", "sma_cross", "--param", "fast=1", "--param", "slow=15", "--json"]
    assert paper_main(argv) == 0
    paper = json.loads(json_line(capsys.readouterr().out))
    assert dto_main(["backtest", *argv]) == 0
    backtest = json.loads(json_line(capsys.readouterr().out))
    figures = (paper["final_value"], paper["cash"])
    assert figures == (backtest["final_value"], backtest["cash"]) == ("10284.10", "6164.16")
    # trade ids differ by design (the paper venue keeps one book per strategy); everything else is equal
    fields = ("time", "side", "quantity", "price", "commission", "client_order_id")
    assert [[f[k] for k in fields] for f in paper["fills"]] == [[f[k] for k in fields] for f in backtest["fills"]]
    assert paper["storage"] == "postgresql+redis"
    assert ray.is_initialized()  # it joined the session's Ray and left it running

    assert paper_main(["--data", str(DAY), "--strategy", "no_such_strategy"]) == 2
    assert paper_main(["--data", "/no/such/file.csv", "--strategy", "sma_cross"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("dto paper: error:") for line in err)


def test_a_stopped_runtime_resumes_from_postgresql_and_finishes_like_an_uninterrupted_run(
    ray_session: None, storage_urls: tuple[str, str]
) -> None:
    run_id = f"resume-{uuid.uuid4().hex[:8]}"
    runtime, series, expected = runtime_for(MIN5_SPEC, storage_urls, run_id)
    bars = list(series.bars())
    half = len(bars) // 2
    first = start(runtime)
    try:
        ray.get(first.replay.remote(bars[:half], 50, "max"))
        before = ray.get(actor(ORDER_MANAGER, runtime).snapshot.remote())
        assert before["orders"], "the first half must trade"
    finally:
        stop(first)  # the whole runtime goes; PostgreSQL and Redis stay

    again = start(runtime)  # same run id, same storage: a blank start that rebuilds
    try:
        oms = actor(ORDER_MANAGER, runtime)
        restored = ray.get(oms.snapshot.remote())
        assert restored["rebuilt_from"] > 0
        assert restored["orders"] == before["orders"] and restored["positions"] == before["positions"]
        assert restored["pnl"]["realized"] == before["pnl"]["realized"]
        ray.get(again.replay.remote(bars, 50, "max"))  # the replay starts over; what was done is skipped
        snapshot = check_equal_to_backtest(runtime, expected)
        assert snapshot["starts"] == 1

        async def stored() -> tuple[int, dict[str, Any] | None]:
            pool = await open_pool(storage_urls[0])
            cache = LiveCache.from_url(storage_urls[1], namespace=runtime.namespace)
            try:
                rows = await OrderStore(pool).list(strategy_id="sma_cross", limit=100_000)
                mine = [r for r in rows if r.data.get("run") == runtime.oms_stream]
                return len(mine), await cache.get_last_bar(str(runtime.instrument.id))
            finally:
                await cache.close()
                await pool.close()

        rows, last_bar = asyncio.run(stored())
        assert rows == len(expected.orders)
        assert last_bar is not None and last_bar["ts"] == bars[-1].ts
    finally:
        stop(again)


@pytest.mark.parametrize("victim", [ORDER_MANAGER, RISK, broker_name("paper")])
def test_killing_an_actor_mid_replay_loses_and_duplicates_no_order(
    ray_session: None, storage_urls: tuple[str, str], victim: str
) -> None:
    runtime, series, expected = runtime_for(MIN5_SPEC, storage_urls, f"kill-{uuid.uuid4().hex[:8]}")
    orchestrator = start(runtime)
    try:
        done = orchestrator.replay.remote(series, 20, "max")
        market_data = actor(MARKET_DATA, runtime)
        target = actor(victim, runtime)
        deadline = time.monotonic() + 60
        accepted = 0
        while time.monotonic() < deadline:
            accepted = sum(ray.get(market_data.status.remote())["accepted"].values())
            if accepted >= len(series) // 3:
                break
            time.sleep(0.01)
        assert accepted < len(series), "the replay ended before the kill"
        ray.kill(target, no_restart=False)
        ray.get(done, timeout=180)
        snapshot = check_equal_to_backtest(runtime, expected)
        if victim == ORDER_MANAGER:
            assert snapshot["starts"] == 1 and snapshot["rebuilt_from"] > 0  # the restart ran the start path
        if victim == broker_name("paper"):
            status = ray.get(actor(victim, runtime).status.remote())
            assert status["rebuilt_from"] > 0
    finally:
        stop(orchestrator)


@dataclass
class DiedWaiting:
    """The order manager died while its broker call waited at the broker for a bar, and restarted."""

    oms: Any
    broker: Any
    bars: list[Bar]
    order: Order
    step: HostStep
    lost: Any  # the dead incarnation's call
    restarted: dict[str, Any]  # the restarted order manager's snapshot

    @property
    def recorded(self) -> dict[str, Any]:
        [order] = [o for o in self.restarted["orders"] if o["client_order_id"] == self.order.client_order_id]
        return order

    def filled_once(self) -> dict[str, Any]:
        """Check that the order manager books the order filled with a position of 1 and that the venue got it
        once; returns the order manager's snapshot."""
        cid = self.order.client_order_id
        snapshot: dict[str, Any] = ray.get(self.oms.snapshot.remote())
        [booked] = [o for o in snapshot["orders"] if o["client_order_id"] == cid]
        assert booked["status"] == "filled"
        assert Decimal(ray.get(self.oms.position.remote(self.order.instrument_id))) == Decimal(1)
        assert ray.get(self.broker.submissions.remote()) == [cid]  # at the venue once
        return snapshot


def kill_the_order_manager_while_its_step_waits_at_the_broker(runtime: RuntimeSpec, series: BarSeries) -> DiedWaiting:
    iid = runtime.instrument.id
    broker, oms = actor(broker_name("paper"), runtime), actor(ORDER_MANAGER, runtime)
    bars = [series.bar(k) for k in range(4)]
    ray.get(broker.on_bars.remote(iid, bars[:2]))
    buy = (OrderSide.BUY, OrderType.MARKET, Decimal(1))
    order = Order("sma_cross-900001", "sma_cross", iid, *buy, ts_init=bars[2].ts)  # type: ignore[arg-type]
    step = HostStep([SubmitOrder(order, bars[2].ts)], bars[2].ts, 1, bars[3].ts, bars[2])
    ray.get(oms.start.remote())
    lost = oms.route_many.remote("sma_cross", iid, [step])  # waits at the broker for bars 2 and 3
    time.sleep(1.0)
    ray.kill(oms, no_restart=False)
    deadline = time.monotonic() + 60
    while True:  # until the restarted actor has run its start path (the dying one may still answer first)
        try:
            restarted = ray.get(oms.snapshot.remote())
            if restarted["rebuilt_from"] > 0:
                break
        except ray.exceptions.RayActorError:
            pass
        assert time.monotonic() < deadline, "the order manager did not restart"
        time.sleep(0.2)
    return DiedWaiting(oms, broker, bars, order, step, lost, restarted)


def test_a_step_the_broker_answers_after_the_order_manager_died_is_booked_when_it_is_resent(
    ray_session: None, storage_urls: tuple[str, str]
) -> None:
    """The order manager dies while its broker call waits at the broker for a bar. It restarts and reconciles
    before the broker has the order (so the order stays open: it may be in flight); then the bar arrives and
    the broker fills the order, answering the dead call. The strategy resends its step: the broker does not
    answer the same order twice, so the order manager reconciles again and books the fill (it used to keep the
    order open forever, and the strategy, rebuilt from that record, never traded again)."""
    runtime, series, _ = runtime_for(MIN5_SPEC, storage_urls, f"late-{uuid.uuid4().hex[:8]}")
    orchestrator = start(runtime)
    try:
        iid = runtime.instrument.id
        died = kill_the_order_manager_while_its_step_waits_at_the_broker(runtime, series)
        oms, broker, order = died.oms, died.broker, died.order
        assert died.recorded["status"] == "submitted"  # written ahead, not at the venue yet: left open
        ray.get(broker.on_bars.remote(iid, died.bars[2:]))  # the dead call's step goes through now
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(died.lost, timeout=60)
        assert [f.client_order_id for f in ray.get(broker.fills.remote())] == [order.client_order_id]

        [(_, events, _)] = ray.get(oms.route_many.remote("sma_cross", iid, [died.step]))  # the strategy resends
        assert [e.fill.client_order_id for e in events if isinstance(e, OrderFilled)] == [order.client_order_id]
        died.filled_once()
    finally:
        stop(orchestrator)


def test_when_no_strategy_resends_the_step_the_next_market_data_books_what_the_broker_did_with_it(
    ray_session: None, storage_urls: tuple[str, str]
) -> None:
    """The double failure: as above, but no strategy resends the step (its actor died with the order manager, and
    came back rebuilt from the record). The restarted order manager found the order pending at the broker, so in
    doubt; once the bar has come and the broker has matched the step, the order manager's next market-data batch
    books the fill from the broker's report, and the strategy finds it in its history."""
    runtime, series, _ = runtime_for(MIN5_SPEC, storage_urls, f"doubt-{uuid.uuid4().hex[:8]}")
    orchestrator = start(runtime)
    try:
        iid = runtime.instrument.id
        died = kill_the_order_manager_while_its_step_waits_at_the_broker(runtime, series)
        oms, broker, order = died.oms, died.broker, died.order
        assert died.recorded["status"] == "submitted"
        assert died.restarted["in_doubt"] == [order.client_order_id]
        ray.get(oms.on_bars.remote(iid, died.bars[:2], []))  # bars the broker had: the step still waits
        assert ray.get(oms.snapshot.remote())["in_doubt"] == [order.client_order_id]

        ray.get(broker.on_bars.remote(iid, died.bars[2:]))  # the bar: the broker matches the dead call's step
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(died.lost, timeout=60)
        ray.get(oms.on_bars.remote(iid, died.bars[2:], []))  # market data tells the order manager, as always
        assert died.filled_once()["in_doubt"] == []
        history, _ = ray.get(oms.history.remote("sma_cross"))
        assert [e.fill.client_order_id for _, e in history if isinstance(e, OrderFilled)] == [order.client_order_id]
    finally:
        stop(orchestrator)
