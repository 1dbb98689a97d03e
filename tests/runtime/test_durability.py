"""A paper session through the actors survives killed actors and a stopped runtime, and `dto paper` equals
`dto backtest`: every case ends with exactly the backtest's fills (nothing lost, nothing duplicated)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from actors import MARKET_DATA, ORDER_MANAGER, RISK, broker_name, strategy_name
from dto.runtime import runtime_spec, start_runtime
from strategies import BUILTIN
from trading.backtest.engine import BacktestResult
from trading.backtest.runner import BacktestSpec, run_backtest
from trading.data.loaders import load_bars
from trading.live.config import parse_runtime_config

from .runtime_support import Runtime, paper_config

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[2] / "data" / "backtrader"
DAY = DATA / "2006-day-001.txt"
PARAMS = {"fast": 1, "slow": 15}


def expected_for(path: Path) -> BacktestResult:
    spec = BacktestSpec(data=str(path), strategy="sma_cross", params=PARAMS)
    return run_backtest(spec, BUILTIN["sma_cross"], load_bars(path))


def spec_for(path: Path, storage_urls: tuple[str, str], run_id: str) -> Any:
    config = paper_config(
        [{"id": "sma_cross", "strategy": "sma_cross", "params": PARAMS, "instrument": "DATA.SIM", "broker": "paper"}],
        data=str(path),
    )
    namespace = f"dur-{uuid.uuid4().hex[:8]}"
    return runtime_spec(parse_runtime_config(config), namespace=namespace, run_id=run_id,
                        database_url=storage_urls[0], redis_url=storage_urls[1])


def equal_to_backtest(runtime: Runtime, expected: BacktestResult) -> None:
    fills = ray.get(runtime.broker("paper").fills.remote())
    key = ("ts", "side", "quantity", "price", "commission", "client_order_id")
    ours = [tuple(getattr(f, k) for k in key) for f in fills]
    assert ours == [tuple(getattr(f, k) for k in key) for f in expected.fills]
    assert ray.get(runtime.broker("paper").account.remote()).equity == expected.final_value
    booked = ray.get(runtime.oms.list_fills.remote(0, None, 100_000))
    assert sorted(f["trade_id"] for f in booked) == sorted(f.trade_id for f in fills)  # each booked once
    status = ray.get(runtime.strategy("sma_cross").status.remote())
    assert Decimal(status["position"]) == expected.position and status["fills"] == len(expected.fills)


def test_dto_paper_json_equals_dto_backtest(
    ray_session: None, storage_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dto.cli import main as dto_main
    from dto.paper import main as paper_main

    monkeypatch.setenv("DATABASE_URL", storage_urls[0])
    monkeypatch.setenv("REDIS_URL", storage_urls[1])
    argv = ["--data", str(DAY), "--strategy", "sma_cross", "--param", "fast=1", "--param", "slow=15", "--json"]
    assert paper_main(argv) == 0
    paper = json.loads(next(line for line in capsys.readouterr().out.splitlines() if line.startswith("{")))
    assert dto_main(["backtest", *argv]) == 0
    backtest = json.loads(next(line for line in capsys.readouterr().out.splitlines() if line.startswith("{")))
    # backtrader's published run of this strategy on this file (tests/core/test_backtrader_reference.py)
    assert (paper["final_value"], paper["cash"]) == (backtest["final_value"], backtest["cash"]) == ("10284.10",
                                                                                                  "6164.16")
    fields = ("time", "side", "quantity", "price", "commission", "client_order_id")  # trade ids: the venue's own
    assert [[f[k] for k in fields] for f in paper["fills"]] == [[f[k] for k in fields] for f in backtest["fills"]]
    assert paper["storage"] == "postgresql+redis"
    assert paper_main(["--data", str(DAY), "--strategy", "no_such_strategy"]) == 2
    assert paper_main(["--data", "/no/such/file.csv", "--strategy", "sma_cross"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("dto paper: error:") for line in err)


@pytest.mark.parametrize("victim", [ORDER_MANAGER, broker_name("paper"), strategy_name("sma_cross"), RISK])
def test_killing_an_actor_mid_replay_loses_and_duplicates_no_order(
    ray_session: None, storage_urls: tuple[str, str], victim: str
) -> None:
    expected = expected_for(DAY)
    spec = spec_for(DAY, storage_urls, f"kill-{uuid.uuid4().hex[:8]}")
    runtime = Runtime(start_runtime(spec), spec.namespace)
    try:
        deadline = time.monotonic() + 60
        accepted = 0
        while time.monotonic() < deadline:
            accepted = sum(ray.get(runtime.actor(MARKET_DATA).status.remote())["accepted"].values())
            if accepted >= len(spec.replay_series) // 3:
                break
            time.sleep(0.01)
        assert accepted < len(spec.replay_series), "the replay ended before the kill"
        ray.kill(runtime.actor(victim), no_restart=False)
        ray.get(runtime.handle.wait_replay.remote(), timeout=300)
        equal_to_backtest(runtime, expected)
        if victim == ORDER_MANAGER:
            assert ray.get(runtime.oms.snapshot.remote())["rebuilt_from"] > 0  # the restart ran the start path
        if victim == broker_name("paper"):
            assert ray.get(runtime.broker("paper").status.remote())["rebuilt_from"] > 0
    finally:
        runtime.stop()


def test_a_stopped_paper_runtime_resumes_from_postgresql_and_finishes_like_an_uninterrupted_run(
    ray_session: None, storage_urls: tuple[str, str]
) -> None:
    expected = expected_for(DAY)
    run_id = f"resume-{uuid.uuid4().hex[:8]}"
    spec = spec_for(DAY, storage_urls, run_id)
    half = spec.replay_series.slice(0, len(spec.replay_series) // 2)
    first = Runtime(start_runtime(dataclasses.replace(spec, replay_series=half)), spec.namespace)
    try:
        ray.get(first.handle.wait_replay.remote(), timeout=300)
        before = ray.get(first.oms.snapshot.remote())
        assert before["orders"], "the first half must trade"
    finally:
        first.stop()  # the whole runtime goes; PostgreSQL and Redis stay
    again = dataclasses.replace(spec, namespace=f"{spec.namespace}-again")
    second = Runtime(start_runtime(again), again.namespace)  # same run id: a blank start that rebuilds
    try:
        ray.get(second.handle.wait_replay.remote(), timeout=300)  # from the first bar; what was done is skipped
        assert ray.get(second.oms.snapshot.remote())["rebuilt_from"] > 0
        equal_to_backtest(second, expected)
    finally:
        second.stop()
