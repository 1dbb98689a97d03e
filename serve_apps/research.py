"""The research routes under /v1: backtests and sweeps (submit, status, results), run by the research actor.

A request body is checked as the core's typed settings (`BacktestSettings`, `SweepSettings`: the model the
command line and YAML configs build too); submitting then asks the research actor, which resolves the data,
strategies and grid (a 422 names the field) and stores the job before any work starts; status and results are
read from the job's row in PostgreSQL, so any gateway replica can answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from actors.research import datasets
from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.schemas import BacktestRequest, JobOut, JobResults, SweepRequest
from serve_apps.security import Principal, need, services
from serve_apps.services import Services
from trading.auth import Scope, require_scope
from trading.backtest.settings import BacktestSettings, SweepSettings, settings_error
from trading.storage import ResearchJobRow, ResearchJobStore

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["research"])
Svc = Annotated[Services, Depends(services)]
Read = Annotated[Principal, Depends(need(Scope.READ))]
Trade = Annotated[Principal, Depends(need(Scope.TRADE))]
Kind = Literal["backtest", "sweep"]


def _job(row: ResearchJobRow) -> dict[str, Any]:
    stamp = {k: (v.isoformat() if v is not None else None)
             for k, v in (("created_at", row.created_at), ("started_at", row.started_at),
                          ("finished_at", row.finished_at))}
    return {"job_id": row.job_id, "kind": row.kind, "state": row.state, "request": row.request, "error": row.error,
            **stamp}


async def _store(svc: Services) -> ResearchJobStore:
    await svc.storage()
    return ResearchJobStore(svc.pool)


async def _find(svc: Services, kind: Kind, job_id: str) -> ResearchJobRow:
    row = await (await _store(svc)).get(job_id)
    if row is None or row.kind != kind:
        raise ApiError(404, "job_not_found", f"no {kind} job {job_id!r}", field="job_id")
    return row


async def _submit(svc: Services, who: Principal, kind: Kind, body: BacktestRequest | SweepRequest) -> Any:
    names = [body.strategy] if isinstance(body, BacktestRequest) else body.strategies
    if any(":" in name for name in names):
        require_scope(who.scopes, Scope.ADMIN)  # validating an import path imports it: an operator's call
    request = body.model_dump(mode="json", exclude_unset=True)
    try:
        (BacktestSettings if kind == "backtest" else SweepSettings).model_validate(request)
    except ValidationError as exc:
        raise settings_error(exc) from None  # a ConfigError: 422 naming the field
    return await svc.call(svc.runtime.submit_research(kind, request, who.key_id))


@router.get("/research/datasets", response_model=list[str])
async def research_datasets(_: Read) -> Any:
    """Bars files a backtest or sweep may name in `data`."""
    return datasets()


@router.post("/backtests", response_model=JobOut, status_code=202)
async def submit_backtest(body: BacktestRequest, svc: Svc, who: Trade) -> Any:
    """Run one backtest on the cluster. Validated first (unknown strategy or parameter, missing data: 422
    naming the field); 202 with the queued job, then poll GET /v1/backtests/{job_id}."""
    return await _submit(svc, who, "backtest", body)


@router.post("/sweeps", response_model=JobOut, status_code=202)
async def submit_sweep(body: SweepRequest, svc: Svc, who: Trade) -> Any:
    """Run a parameter sweep (data x strategies x grid) on Ray Data. Validated first (unknown strategy or
    parameter, bad grid, too many cells: 422 naming the field); 202 with the queued job."""
    return await _submit(svc, who, "sweep", body)


@router.get("/backtests", response_model=list[JobOut])
async def list_backtests(svc: Svc, _: Read, limit: int = Query(50, ge=1, le=500)) -> Any:
    return [_job(r) for r in await (await _store(svc)).list("backtest", limit)]


@router.get("/sweeps", response_model=list[JobOut])
async def list_sweeps(svc: Svc, _: Read, limit: int = Query(50, ge=1, le=500)) -> Any:
    return [_job(r) for r in await (await _store(svc)).list("sweep", limit)]


@router.get("/backtests/{job_id}", response_model=JobOut, responses={404: {}})
async def backtest_status(job_id: str, svc: Svc, _: Read) -> Any:
    return _job(await _find(svc, "backtest", job_id))


@router.get("/sweeps/{job_id}", response_model=JobOut, responses={404: {}})
async def sweep_status(job_id: str, svc: Svc, _: Read) -> Any:
    return _job(await _find(svc, "sweep", job_id))


async def _results(svc: Services, kind: Kind, job_id: str) -> Any:
    row = await _find(svc, kind, job_id)
    if row.state != "succeeded":
        why = f": {row.error}" if row.error else ""
        raise ApiError(409, "job_not_succeeded", f"{kind} job {job_id} is {row.state}{why}", field="job_id")
    return {"job_id": row.job_id, "kind": row.kind, "result": row.result}


@router.get("/backtests/{job_id}/results", response_model=JobResults, responses={404: {}, 409: {}})
async def backtest_results(job_id: str, svc: Svc, _: Read) -> Any:
    """Statistics, final value and trades; 409 while the job is queued or running, or if it failed."""
    return await _results(svc, "backtest", job_id)


@router.get("/sweeps/{job_id}/results", response_model=JobResults, responses={404: {}, 409: {}})
async def sweep_results(job_id: str, svc: Svc, _: Read) -> Any:
    """The best cells by the metric and every cell's row; 409 while the job is queued or running."""
    return await _results(svc, "sweep", job_id)
