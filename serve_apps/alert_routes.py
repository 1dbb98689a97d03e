"""/v1/alerts: the notifications in force (channels, rules; names of secrets, never values), changing them,
a test alert per channel, delivery status, dead letters and sending one again. Talks to the alert actor by name."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import ray
from fastapi import APIRouter, Body, Depends
from pydantic import ValidationError
from ray.exceptions import RayActorError

from actors.alerts import ALERTS
from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.security import Principal, need, services
from serve_apps.services import Services
from trading.auth import Scope
from trading.errors import ConfigError

router = APIRouter(prefix="/v1/alerts", responses=ERROR_RESPONSES, tags=["alerts"])
Svc = Annotated[Services, Depends(services)]
Read = Annotated[Principal, Depends(need(Scope.READ))]
Admin = Annotated[Principal, Depends(need(Scope.ADMIN))]


async def _ask(svc: Services, method: str, *args: Any) -> Any:
    try:
        actor = ray.get_actor(ALERTS, namespace=svc.settings.namespace)
        return await asyncio.wait_for(getattr(actor, method).remote(*args), timeout=10.0)
    except ValueError:
        raise ApiError(404, "NO_ALERTS", "this runtime has no notifications: section") from None
    except (RayActorError, TimeoutError):
        raise ApiError(503, "ALERTS_UNAVAILABLE", "the alert actor did not answer; try again") from None


@router.get("")
async def alert_status(svc: Svc, _: Read) -> Any:
    """Per channel: waiting, sent, failed attempts, deduplicated, dead letters, last error."""
    return await _ask(svc, "status")


@router.get("/config")
async def alert_config(svc: Svc, _: Read) -> Any:
    """The channels and rules in force."""
    return await _ask(svc, "settings")


@router.put("/config")
async def set_alert_config(svc: Svc, _: Admin, notifications: Annotated[dict[str, Any], Body()]) -> Any:
    """Replace channels and rules (the config file's `notifications:` section as JSON). Secrets stay in the
    runtime's environment; a channel whose secret is missing is a 422 naming the variable."""
    try:
        return await _ask(svc, "configure", notifications)
    except (ValidationError, ConfigError) as exc:
        raise ApiError(422, "BAD_NOTIFICATIONS", str(exc).splitlines()[0][:300], field="notifications") from None
    except ray.exceptions.RayTaskError as exc:  # raised inside the actor: validation or a missing secret
        raise ApiError(422, "BAD_NOTIFICATIONS", str(exc.cause)[:300], field="notifications") from None


@router.post("/test/{channel}")
async def send_test_alert(channel: str, svc: Svc, _: Admin) -> Any:
    """Queue a test alert on one channel; its id."""
    alert_id = await _ask(svc, "send_test", channel)
    if alert_id is None:
        raise ApiError(404, "UNKNOWN_CHANNEL", f"no channel {channel!r}", field="channel")
    return {"alert_id": alert_id}


@router.get("/dead-letters")
async def dead_letters(svc: Svc, _: Read) -> Any:
    """Alerts a channel gave up on, with why."""
    return await _ask(svc, "dead_letters")


@router.post("/dead-letters/{channel}/{alert_id}/redrive")
async def redrive(channel: str, alert_id: str, svc: Svc, _: Admin) -> Any:
    """Send a dead letter again (after fixing its cause)."""
    if not await _ask(svc, "redrive", channel, alert_id):
        raise ApiError(404, "NO_DEAD_LETTER", f"no dead letter {alert_id} on {channel}")
    return {"queued": True}
