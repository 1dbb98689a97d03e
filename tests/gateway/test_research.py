"""Backtests and sweeps through the API: validated before any work starts (422 naming the field), run on Ray
by the research actor, their state and results kept in PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from .conftest import Storage

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]

DATA = "mplfinance/SP500_NOV2019_IDayRVol.csv"


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def wait_done(url: str, kind: str, job_id: str, key: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/{kind}/{job_id}", headers=h(key)).json()
        if job["state"] in ("succeeded", "failed"):
            return dict(job)
        time.sleep(0.3)
    raise AssertionError(f"{kind} {job_id} did not finish: {job}")


async def stored_job(database_url: str, job_id: str) -> Any:
    from trading.storage import ResearchJobStore, open_pool

    pool = await open_pool(database_url)
    try:
        return await ResearchJobStore(pool).get(job_id)
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "no_such_strategy"}, "strategy"),
        ({"params": {"nope": 1}}, "params.nope"),
        ({"params": {"fast": "quick"}}, "params.fast"),
        ({"data": "no/such.csv"}, "data"),
        ({"data": "../README.md"}, "data"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_backtest_is_refused_naming_the_field(
    gateway_url: str, keys: dict[str, str], change: dict[str, Any], field: str
) -> None:
    body = {"data": DATA, "strategy": "sma_cross", **change}
    answer = httpx.post(f"{gateway_url}/v1/backtests", json=body, headers=h(keys["trade"]), timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field, answer.text


def test_a_backtest_runs_on_ray_and_its_job_is_stored(
    gateway_url: str, keys: dict[str, str], storage: Storage
) -> None:
    url, trade = gateway_url, h(keys["trade"])
    body = {"data": DATA, "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "symbol": "SPX",
            "timezone": "America/New_York"}
    assert httpx.post(f"{url}/v1/backtests", json=body, headers=h(keys["read"])).status_code == 403
    submitted = httpx.post(f"{url}/v1/backtests", json=body, headers=trade, timeout=30)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["kind"] == "backtest" and job["state"] in ("queued", "running")
    done = wait_done(url, "backtests", job["job_id"], keys["read"])
    assert done["state"] == "succeeded", done
    results = httpx.get(f"{url}/v1/backtests/{job['job_id']}/results", headers=h(keys["read"])).json()["result"]
    assert results["strategy"] == "sma_cross" and results["params"]["fast"] == 5
    assert results["bars"] > 300 and "sharpe" in results["stats"] and results["fill_count"] > 0
    row = asyncio.run(stored_job(storage.database_url, job["job_id"]))
    assert row.state == "succeeded" and row.result["final_value"] == results["final_value"]
    listed = httpx.get(f"{url}/v1/backtests", headers=h(keys["read"])).json()
    assert job["job_id"] in [j["job_id"] for j in listed]
    assert httpx.get(f"{url}/v1/sweeps/{job['job_id']}", headers=h(keys["read"])).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"grid": {"fast": "10:5:1"}}, "grid.fast"),
        ({"grid": {"nope": [1, 2]}}, "grid.nope"),
        ({"strategies": ["sma_cross", "ghost"]}, "strategies"),
        ({"grid": {"fast": "1:50:1", "slow": "51:200:1"}}, "grid"),  # 7,500 cells: over the API's cap
    ],
)
def test_a_bad_sweep_is_refused_naming_the_field(
    gateway_url: str, keys: dict[str, str], change: dict[str, Any], field: str
) -> None:
    body = {"data": [DATA], "strategies": ["sma_cross"], **change}
    answer = httpx.post(f"{gateway_url}/v1/sweeps", json=body, headers=h(keys["trade"]), timeout=30)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field, answer.text


def test_a_sweep_runs_through_the_pipeline(gateway_url: str, keys: dict[str, str]) -> None:
    url = gateway_url
    body = {"data": [DATA], "strategies": ["sma_cross"], "grid": {"fast": [5, 10], "slow": "20:30:10"},
            "metric": "final_value", "top": 3}
    submitted = httpx.post(f"{url}/v1/sweeps", json=body, headers=h(keys["trade"]), timeout=30)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    early = httpx.get(f"{url}/v1/sweeps/{job_id}/results", headers=h(keys["read"]))
    assert early.status_code in (200, 409)  # 409 until it has finished
    done = wait_done(url, "sweeps", job_id, keys["read"], timeout=180)
    assert done["state"] == "succeeded", done
    result = httpx.get(f"{url}/v1/sweeps/{job_id}/results", headers=h(keys["read"])).json()["result"]
    assert result["total_cells"] == 4 and result["errors"] == 0
    assert len(result["top"]) == 3 and len(result["cells"]) == 4
    assert {c["params"]["slow"] for c in result["cells"]} == {20, 30}
    values = [c["final_value"] for c in result["top"]]
    assert values == sorted(values, reverse=True)


async def queue_job(database_url: str, job_id: str, request: dict[str, Any]) -> None:
    from trading.storage import ResearchJobStore, open_pool

    pool = await open_pool(database_url)
    try:
        await ResearchJobStore(pool).create(job_id, "backtest", request)
    finally:
        await pool.close()


def test_a_started_research_actor_runs_the_jobs_it_finds_unfinished(storage: Storage, runtime: Any) -> None:
    import ray

    from actors.research import ResearchActor

    job_id = "ba-" + uuid.uuid4().hex[:16]  # as if queued by an actor that died before running it
    asyncio.run(queue_job(storage.database_url, job_id, {"data": DATA, "strategy": "sma_cross"}))
    actor = ResearchActor.options(namespace=runtime.namespace, num_cpus=0).remote(  # type: ignore[attr-defined]
        storage.database_url
    )
    try:
        assert job_id in ray.get(actor.status.remote())["running"]  # its start path picked the job up
        ray.get(actor.wait.remote(job_id), timeout=120)
    finally:
        ray.kill(actor, no_restart=True)
    row = asyncio.run(stored_job(storage.database_url, job_id))
    assert row.state == "succeeded" and row.result["strategy"] == "sma_cross"
