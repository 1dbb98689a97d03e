"""/v1/alerts: the notifications in force (channels, rules; names of secrets, never values), changing them,
a test alert per channel, delivery status, dead letters and sending one again, through `RuntimeClient`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends
from pydantic import ValidationError

from actors.client import ActorUnavailable
from serve_apps.errors import ERROR_RESPONSES, ApiError, ErrorBody
from serve_apps.security import Principal, need, services
from serve_apps.services import Services
from trading.auth import Scope
from trading.errors import ConfigError

T = TypeVar("T")
router = APIRouter(
    prefix="/v1/alerts",
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "no notifications: section, or no such "
                                        "channel or dead letter"}},
    tags=["alerts"],
)
Svc = Annotated[Services, Depends(services)]
Read = Annotated[Principal, Depends(need(Scope.READ))]
Admin = Annotated[Principal, Depends(need(Scope.ADMIN))]


async def _ask(request: Awaitable[T]) -> T:
    """One call to the alert actor: 404 when the runtime has none (no `notifications:` section)."""
    try:
        return await asyncio.wait_for(request, timeout=10.0)
    except ActorUnavailable as exc:
        if not exc.running:
            raise ApiError(404, "NO_ALERTS", "this runtime has no notifications: section") from None
        raise ApiError(503, "ALERTS_UNAVAILABLE", "the alert actor did not answer; try again") from None
    except TimeoutError:
        raise ApiError(503, "ALERTS_UNAVAILABLE", "the alert actor did not answer; try again") from None
    except (ValidationError, ConfigError):
        raise  # the caller names the field
    except Exception as exc:  # the actor's own failure, said like every other runtime call's
        raise Services.failure(exc, None) from None


@router.get("")
async def alert_status(svc: Svc, _: Read) -> Any:
    """Per channel: waiting, sent, failed attempts, deduplicated, dead letters, last error."""
    return await _ask(svc.runtime.alert_status())


@router.get("/config")
async def alert_config(svc: Svc, _: Read) -> Any:
    """The channels and rules in force."""
    return await _ask(svc.runtime.alert_settings())


@router.put("/config")
async def set_alert_config(svc: Svc, _: Admin, notifications: Annotated[dict[str, Any], Body()]) -> Any:
    """Replace channels and rules (the config file's `notifications:` section as JSON). Secrets stay in the
    runtime's environment; a channel whose secret is missing is a 422 naming the variable."""
    try:
        return await _ask(svc.runtime.configure_alerts(notifications))
    except (ValidationError, ConfigError) as exc:  # raised inside the actor: validation or a missing secret
        raise ApiError(422, "BAD_NOTIFICATIONS", str(exc).splitlines()[0][:300], field="notifications") from None


@router.post("/test/{channel}")
async def send_test_alert(channel: str, svc: Svc, _: Admin) -> Any:
    """Queue a test alert on one channel; its id."""
    alert_id = await _ask(svc.runtime.send_test_alert(channel))
    if alert_id is None:
        raise ApiError(404, "UNKNOWN_CHANNEL", f"no channel {channel!r}", field="channel")
    return {"alert_id": alert_id}


@router.get("/dead-letters")
async def dead_letters(svc: Svc, _: Read) -> Any:
    """Alerts a channel gave up on, with why."""
    return await _ask(svc.runtime.alert_dead_letters())


@router.post("/dead-letters/{channel}/{alert_id}/redrive")
async def redrive(channel: str, alert_id: str, svc: Svc, _: Admin) -> Any:
    """Send a dead letter again (after fixing its cause)."""
    if not await _ask(svc.runtime.redrive_alert(channel, alert_id)):
        raise ApiError(404, "NO_DEAD_LETTER", f"no dead letter {alert_id} on {channel}")
    return {"queued": True}
