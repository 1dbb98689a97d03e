"""ResearchActor: runs backtests and sweeps submitted through the gateway, as Ray tasks.

A submission is validated here before anything is stored or run (a mistake is a ConfigError naming the request
field), then stored as a queued job in PostgreSQL, the job's only home. The actor runs jobs as Ray tasks (a
backtest: the core runner; a sweep: the sweep pipeline, which fans out on Ray Data) and writes each outcome
back to the job's row. On a restart it runs the jobs it finds unfinished again: both kinds are deterministic.

```
gateway --submit--> ResearchActor --validate, store (queued)--> research_jobs
                         +--Ray task: run_backtest / run_sweep--> result or error --> research_jobs
gateway --status, results--> research_jobs (read directly: the actor holds nothing the table doesn't)
```
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

import ray
from pydantic import ValidationError

from strategies import resolve_strategy
from trading.backtest.runner import BacktestSpec, run_backtest
from trading.backtest.settings import BacktestSettings, SweepSettings, settings_error
from trading.errors import ConfigError
from trading.storage import ResearchJobStore, migrate, open_pool
from trading.strategy import build_config

RESEARCH = "research"
DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
MAX_SWEEP_CELLS = 2000  # a sweep through the API stays small; bigger ones are `dto sweep` or `ray job submit`
MAX_TRADES_KEPT = 1000


def data_path(name: str, field: str = "data") -> str:
    """A bars file under the shipped data folder (never elsewhere on the server), as an absolute path."""
    root = DATA_ROOT.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ConfigError(f"no data file {name!r} (give a path under data/, e.g. mplfinance/...csv)", key=field)
    return str(path)


def datasets() -> list[str]:
    """The bars files a backtest or sweep may name."""
    suffixes = {".csv", ".txt", ".json"}
    return sorted(
        str(p.relative_to(DATA_ROOT)) for p in DATA_ROOT.rglob("*") if p.suffix in suffixes and p.is_file()
    )


def _field(exc: ConfigError, request: dict[str, Any], kind: str) -> ConfigError:
    """The same error, its key named as the request field it came from (params.x, grid.x, strategy...)."""
    key = exc.key or ""
    if key in request.get("params", {}):
        key = f"params.{key}"
    elif key in request.get("grid", {}):
        key = f"grid.{key}"
    elif key in ("import_path", "strategy"):
        key = "strategies" if kind == "sweep" else "strategy"
    elif key in ("tz",):
        key = "timezone"
    return ConfigError(str(exc), key=key or None)


def backtest_spec(request: dict[str, Any]) -> BacktestSpec:
    """The validated BacktestSpec of a backtest request (ConfigError naming the field otherwise)."""
    try:
        settings = BacktestSettings.model_validate({**request, "data": data_path(str(request.get("data", "")))})
    except ValidationError as exc:
        raise _field(settings_error(exc), request, "backtest") from None
    except ConfigError as exc:
        raise _field(exc, request, "backtest") from None
    try:
        spec = settings.to_spec()
        cls = resolve_strategy(spec.strategy)
        build_config(cls, {"instrument_id": f"{spec.symbol}.{spec.venue}", "size": spec.size, **spec.params})
        spec.sim_config()
    except ConfigError as exc:
        raise _field(exc, request, "backtest") from None
    return spec


def sweep_plan(request: dict[str, Any]) -> Any:
    """The validated sweep plan of a sweep request: strategies, grid and data checked, cells counted."""
    # Ray Data comes with the pipeline: imported where a sweep runs, not where the gateway imports this module
    from pipelines.config import sweep_config  # noqa: PLC0415
    from pipelines.plan import plan_sweep  # noqa: PLC0415

    try:
        data = [data_path(str(name)) for name in request.get("data", [])]
        settings = SweepSettings.model_validate({**request, "data": data, "no_progress": True})
        plan = plan_sweep(sweep_config(settings), max_cells=MAX_SWEEP_CELLS)  # counted before it is expanded
    except ValidationError as exc:
        raise _field(settings_error(exc), request, "sweep") from None
    except ConfigError as exc:
        raise _field(exc, request, "sweep") from None
    if plan.total_cells > MAX_SWEEP_CELLS:
        raise ConfigError(
            f"the sweep has {plan.total_cells:,} cells; the API runs at most {MAX_SWEEP_CELLS:,} "
            "(use `dto sweep` or `ray job submit` for bigger ones)",
            key="grid",
        )
    return plan


def validate(kind: str, request: dict[str, Any]) -> Any:
    """The spec (backtest) or plan (sweep) of a request; any mistake in it is a ConfigError."""
    try:
        return backtest_spec(request) if kind == "backtest" else sweep_plan(request)
    except ConfigError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as exc:  # what user input can still trip in the core
        raise ConfigError(f"invalid {kind} request: {type(exc).__name__}: {exc}") from None


def finite(value: Any) -> Any:
    """JSON-safe for PostgreSQL: NaN and infinities (a Sharpe ratio of a flat run) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


@ray.remote(num_cpus=1, max_retries=0)
def backtest_task(spec: Any) -> dict[str, Any]:
    """One backtest on the core runner; the result without its fill list (trades kept, up to a cap)."""

    result = run_backtest(spec, resolve_strategy(spec.strategy)).to_dict()
    fills = result.pop("fills")
    result["fill_count"] = len(fills)
    result["trades"] = result["trades"][-MAX_TRADES_KEPT:]
    summary: dict[str, Any] = finite(result)
    return summary


@ray.remote(num_cpus=0, max_retries=0)  # it only drives Ray Data; the cells' tasks take the CPUs
def sweep_task(plan: Any) -> dict[str, Any]:
    """A sweep through the pipeline (Ray Data), summarized: the top cells and every cell's row."""
    from pipelines.backtest import run_sweep  # noqa: PLC0415
    from pipelines.results import cell_json  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="dto-api-sweep-") as out:
        outcome = run_sweep(plan, Path(out), progress_stream=None)
        cells = [_relative(cell_json(row)) for row in outcome.rows()]
    summary: dict[str, Any] = finite({
        "total_cells": outcome.total,
        "ran": outcome.ran,
        "errors": outcome.errors,
        "invalid_skipped": outcome.invalid,
        "elapsed_s": round(outcome.elapsed_s, 3),
        "metric": plan.config.metric,
        "top": [_relative(cell_json(row)) for row in outcome.top],
        "cells": cells,
    })
    return summary


def _relative(cell: dict[str, Any]) -> dict[str, Any]:
    """The cell with its data file named as the request named it (not the server's absolute path)."""
    return {**cell, "data": str(Path(cell["data"]).relative_to(DATA_ROOT.resolve()))}


@ray.remote
class ResearchActor:
    def __init__(self, database_url: str, max_running: int = 2) -> None:
        self.database_url = database_url
        self.max_running = max_running
        self.jobs: Any = None
        self.pool: Any = None
        self.slots = asyncio.Semaphore(max_running)
        self.running: dict[str, asyncio.Task[None]] = {}
        self.start_lock = asyncio.Lock()

    async def _ready(self) -> Any:
        """Start path (also after a restart): connect, migrate, and run again what was left unfinished."""
        async with self.start_lock:
            if self.jobs is None:
                self.pool = await open_pool(self.database_url, min_size=1, max_size=2)
                await migrate(self.pool)
                self.jobs = ResearchJobStore(self.pool)
                for row in await self.jobs.unfinished():
                    self._launch(row.job_id, row.kind, row.request)
        return self.jobs

    async def submit(self, kind: str, request: dict[str, Any], key_id: str | None = None) -> dict[str, Any]:
        """Validate (ConfigError naming the field), store as queued, start; returns the job's row."""
        if kind not in ("backtest", "sweep"):
            raise ConfigError(f"unknown research job kind {kind!r}", key="kind")
        jobs = await self._ready()
        checked = await asyncio.to_thread(validate, kind, request)
        job_id = f"{kind[:2]}-{uuid.uuid4().hex[:16]}"
        row = await jobs.create(job_id, kind, request, key_id)
        self._launch(job_id, kind, request, checked)
        return _job_dict(row)

    def _launch(self, job_id: str, kind: str, request: dict[str, Any], checked: Any = None) -> None:
        if job_id not in self.running:
            self.running[job_id] = asyncio.create_task(self._run(job_id, kind, request, checked))

    async def _run(self, job_id: str, kind: str, request: dict[str, Any], checked: Any) -> None:
        try:
            async with self.slots:
                await self.jobs.start(job_id)
                try:
                    if checked is None:  # a job found unfinished after a restart
                        checked = await asyncio.to_thread(validate, kind, request)
                    task = backtest_task if kind == "backtest" else sweep_task
                    result = await task.remote(checked)
                except Exception as exc:  # the job failed, not the actor: record why
                    cause = getattr(exc, "cause", None) or exc
                    await self.jobs.finish(job_id, None, f"{type(cause).__name__}: {cause}")
                else:
                    await self.jobs.finish(job_id, result)
        finally:
            self.running.pop(job_id, None)

    async def status(self) -> dict[str, Any]:
        await self._ready()
        return {"running": sorted(self.running), "max_running": self.max_running}

    async def wait(self, job_id: str) -> None:
        """Until the job's run in this actor ends (for tests and scripts)."""
        task = self.running.get(job_id)
        if task is not None:
            await asyncio.shield(task)


def _job_dict(row: Any) -> dict[str, Any]:
    return {
        "job_id": row.job_id,
        "kind": row.kind,
        "state": row.state,
        "request": row.request,
        "error": row.error,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }
