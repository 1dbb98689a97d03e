"""/v1/market-data/bars: the bars an instrument has had in this runtime, by time range (what a chart draws)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.schemas import BarOut
from serve_apps.security import Principal, need, services
from serve_apps.services import Services
from trading.auth import Scope
from trading.model.identifiers import InstrumentId

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["market data"])
Svc = Annotated[Services, Depends(services)]
Read = Annotated[Principal, Depends(need(Scope.READ))]


@router.get("/market-data/bars", response_model=list[BarOut], responses={404: {}})
async def bars(
    svc: Svc,
    _: Read,
    instrument_id: str = Query(min_length=3, max_length=64, description="e.g. SPX.PAPER"),
    start_ns: int | None = Query(None, ge=0, description="first bar time, ns since the epoch (inclusive)"),
    end_ns: int | None = Query(None, ge=0, description="last bar time, ns since the epoch (inclusive)"),
    limit: int = Query(1000, ge=1, le=10_000, description="at most this many bars: the latest in the range"),
) -> Any:
    """Historical bars of one instrument, oldest first: the latest `limit` bars between `start_ns` and
    `end_ns` that the market-data actor has seen (replayed or live, backfills included)."""
    if not await svc.tradable(instrument_id):
        known = ", ".join(sorted(svc.instruments)) or "none yet"
        raise ApiError(404, "instrument_not_found", f"no market data for {instrument_id!r} (known: {known})",
                       field="instrument_id")
    history = await svc.read(svc.runtime.bar_history, InstrumentId.parse(instrument_id))
    chosen = [b for b in history if (start_ns is None or b.ts >= start_ns) and (end_ns is None or b.ts <= end_ns)]
    return [{"instrument_id": instrument_id, **bar.to_dict()} for bar in chosen[-limit:]]
