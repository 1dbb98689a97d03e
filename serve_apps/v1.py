"""The /v1 REST routes and the live event stream. Each route validates, asks the runtime through the typed
`RuntimeClient` (`svc.runtime`), and shapes the answer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from serve_apps.errors import ERROR_RESPONSES, ApiError
from serve_apps.orders import MANUAL_PREFIX, build_orders, manual_id
from serve_apps.schemas import (
    AccountOut,
    ApiKeyOut,
    BarOut,
    FillOut,
    Flatten,
    FlattenOut,
    KillSwitch,
    KillSwitchOut,
    OrderOut,
    OrderRequest,
    PortfolioLimitsOut,
    PositionsOut,
    RiskLimitsOut,
    RiskState,
    StrategyAdd,
    StrategyInfo,
    StrategyParams,
    StrategyStatus,
    SubmittedOrder,
    TokenOut,
)
from serve_apps.security import Principal, api_key_header, count_request, key_principal, need, services
from serve_apps.services import Services
from strategies import BUILTIN, MODEL_BASED, all_strategies
from trading.auth import AuthError, Scope, issue_token, require_scope
from trading.brokers.capabilities import UnsupportedOrder
from trading.live.config import BrokerConfig
from trading.risk.rules import RiskLimits
from trading.storage import ApiKeyStore
from trading.strategy import describe_parameters

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
Svc = Annotated[Services, Depends(services)]
Read = Annotated[Principal, Depends(need(Scope.READ))]
Trade = Annotated[Principal, Depends(need(Scope.TRADE))]
Admin = Annotated[Principal, Depends(need(Scope.ADMIN))]
ORDER_STATUSES = "open|closed|initialized|denied|submitted|accepted|rejected|triggered|pending_update|" + (
    "pending_cancel|partially_filled|filled|canceled|expired"
)


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------------------------- auth
@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
async def create_token(svc: Svc, key: Annotated[str | None, Depends(api_key_header)]) -> TokenOut:
    """A short-lived JWT for an API key (send the key as X-API-Key); use it as `Authorization: Bearer ...`."""
    if not key:
        raise AuthError("send the API key as X-API-Key to get a token")
    who = await key_principal(svc, key)
    await count_request(svc, who.key_id)  # minting tokens is rate-limited like any other request of the key
    ttl = svc.settings.token_ttl_s
    scopes = sorted(s.value for s in who.scopes)
    return TokenOut(access_token=issue_token(who.key_id, scopes, svc.secret, ttl), expires_in=ttl, scopes=scopes)


# ----------------------------------------------------------------------------------- accounts, positions
BrokerQuery = Query(None, pattern=r"^[a-z][a-z0-9_-]{0,30}$", description="only this broker's (by name)")


async def _account(svc: Services, broker: BrokerConfig, *, listing: bool) -> AccountOut:
    """`listing`: a venue that does not answer is listed with its error (the others still are); else it raises."""
    head = {"broker": broker.name, "kind": broker.kind, "live": broker.live}
    try:
        report = await svc.call(svc.runtime.account(broker.name))
    except ApiError as exc:
        if not listing:
            raise
        return AccountOut(**head, error=exc.message)
    return AccountOut(
        **head,
        account_id=report.account_id,
        currency=report.currency,
        cash=str(report.cash),
        equity=str(report.equity),
        buying_power=_s(report.buying_power),
        balances={k: str(v) for k, v in report.balances.items()},
    )


@router.get("/accounts", response_model=list[AccountOut], tags=["portfolio"], responses={404: {}})
async def accounts(svc: Svc, _: Read, broker: str | None = BrokerQuery) -> Any:
    """Every broker's account as its venue reports it (cash, equity, currency, buying power), with the broker's
    name, kind and live flag; a venue that does not answer is listed with `error`. `broker`: that one only (404
    if unknown; its venue's failure is the answer's)."""
    if broker is not None:
        return [await _account(svc, await svc.broker(broker), listing=False)]
    brokers = await svc.brokers()
    return await asyncio.gather(*(_account(svc, b, listing=True) for b in brokers.values()))


@router.get("/positions", response_model=PositionsOut, tags=["portfolio"], responses={404: {}})
async def positions(svc: Svc, _: Read, broker: str | None = BrokerQuery) -> Any:
    """Open positions per account and per strategy (each with its broker), with P&L (the order manager's book).
    `broker`: only that broker's positions and strategies, `pnl` its account's."""
    if broker is not None:
        await svc.broker(broker)
    return await svc.read(svc.runtime.positions, broker)


# --------------------------------------------------------------------------------------------- orders
async def _default_broker(svc: Services, name: str | None) -> BrokerConfig:
    if name is not None:
        return await svc.broker(name)
    return next(iter((await svc.brokers()).values()))  # the order manager's default too: the config's first


@router.post(
    "/orders",
    response_model=SubmittedOrder,
    status_code=201,
    tags=["orders"],
    responses={200: {"model": SubmittedOrder, "description": "this client_order_id was seen before: the same order"},
               404: {}, 409: {}},
)
async def submit_order(body: OrderRequest, svc: Svc, response: Response, _: Trade) -> Any:
    """Submit an order through the firm-wide risk engine to a broker: market, limit, stop, stop_limit or
    trailing_stop (trailing_offset or trailing_percent), any time in force, and a bracket (this order is the entry,
    `bracket` its stop-loss and take-profit) or an OCO pair (`oco`: the other order). What the broker's venue
    cannot take is a 422 naming the field and the venue. The id is stored as `m-<client_order_id>` (see
    `client_order_id`); bracket exits are `<id>-sl` / `<id>-tp`. Idempotent by `client_order_id`: retry with the
    same id after any failure; 201 = new order, 200 = the order that id already names. A risk denial is an order
    with status `denied` and the reason."""
    broker = await _default_broker(svc, body.broker)
    try:
        orders = build_orders(body, broker, svc.settings.manual_strategy_id, time.time_ns())
    except UnsupportedOrder as exc:
        raise ApiError(422, "unsupported_by_venue", str(exc), field=exc.field) from None
    primary = orders[0]
    # A retry of a known order is answered even if its instrument has no market data any more.
    tradable = await svc.tradable(body.instrument_id)
    if not tradable and await svc.call(svc.runtime.get_order(primary.client_order_id)) is None:
        known = ", ".join(sorted(svc.instruments)) or "none yet"
        raise ApiError(
            422,
            "unknown_instrument",
            f"no market data for {body.instrument_id!r} (tradable: {known})",
            field="instrument_id",
        )
    results = await svc.submit_orders(orders)
    existing = results[0]["order"]
    if not results[0]["created"]:
        response.status_code = 200
        same = (existing["side"], existing["order_type"], Decimal(existing["quantity"]), existing["instrument_id"],
                existing.get("broker") or broker.name)
        if same != (body.side, body.order_type, body.quantity, body.instrument_id, broker.name):
            raise ApiError(
                409,
                "client_order_id_reused",
                f"client_order_id {body.client_order_id!r} already names a different order",
                field="client_order_id",
            )
    return {**existing, "linked_orders": [r["order"] for r in results[1:]]}


@router.get("/orders", response_model=list[OrderOut], tags=["orders"], responses={404: {}})
async def list_orders(
    svc: Svc,
    _: Read,
    status: str | None = Query(None, pattern=f"^({ORDER_STATUSES})$"),
    strategy_id: str | None = Query(None, max_length=64),
    instrument_id: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=5000),
    broker: str | None = BrokerQuery,
) -> Any:
    """Orders, oldest first (the latest `limit`), filtered by status (or open/closed), strategy, instrument,
    broker."""
    if broker is not None:
        await svc.broker(broker)
    return await svc.read(svc.runtime.list_orders, status, strategy_id, instrument_id, limit, broker)


async def _find_order(svc: Services, client_order_id: str) -> dict[str, Any] | None:
    """The order by its id as stored, or, for an id without the manual prefix, the person's order by it."""
    order = await svc.read(svc.runtime.get_order, client_order_id)
    if order is None and manual_id(client_order_id) != client_order_id:
        order = await svc.read(svc.runtime.get_order, manual_id(client_order_id))
    return order


@router.get("/orders/{client_order_id}", response_model=OrderOut, tags=["orders"], responses={404: {}})
async def get_order(client_order_id: str, svc: Svc, _: Read) -> Any:
    """One order by its id (a person's order also by the id sent, without `m-`)."""
    order = await _find_order(svc, client_order_id)
    if order is None:
        raise ApiError(404, "order_not_found", f"no order {client_order_id!r}", field="client_order_id")
    return order


@router.delete("/orders/{client_order_id}", response_model=OrderOut, tags=["orders"], responses={404: {}, 409: {}})
async def cancel_order(client_order_id: str, svc: Svc, _: Trade) -> Any:
    """Cancel an order placed through the API (strategies cancel their own orders)."""
    owner = svc.settings.manual_strategy_id
    result = await svc.call(svc.runtime.cancel_order(manual_id(client_order_id), owner), order_write=True)
    if result is None:
        result = await svc.call(svc.runtime.cancel_order(client_order_id, owner), order_write=True)
    if result is None:
        raise ApiError(404, "order_not_found", f"no order {client_order_id!r}", field="client_order_id")
    if result["refused"]:
        raise ApiError(409, "cannot_cancel", f"cannot cancel {client_order_id!r}: {result['refused']}")
    return result["order"]


@router.get("/fills", response_model=list[FillOut], tags=["orders"], responses={404: {}})
async def fills(
    svc: Svc,
    _: Read,
    since_seq: int = Query(0, ge=0, le=10**9, description="first fill sequence number to return"),
    strategy_id: str | None = Query(None, max_length=64),
    limit: int = Query(500, ge=1, le=5000),
    broker: str | None = BrokerQuery,
) -> Any:
    """Fills, with their sequence number and broker, from `since_seq` on."""
    if broker is not None:
        await svc.broker(broker)
    return await svc.read(svc.runtime.list_fills, since_seq, strategy_id, limit, broker)


# ----------------------------------------------------------------------------------------- strategies
@router.get("/strategies/available", response_model=list[StrategyInfo], tags=["strategies"])
async def available_strategies(_: Read) -> Any:
    """Built-in strategies and their parameters."""
    return [
        {"name": name, "model_based": name in MODEL_BASED, "parameters": describe_parameters(cls)}
        for name, cls in sorted(all_strategies().items())
    ]


@router.post("/strategies", response_model=StrategyStatus, status_code=201, tags=["strategies"],
             responses={409: {}})
async def add_strategy(body: StrategyAdd, svc: Svc, who: Trade) -> Any:
    """Start a new strategy from a config: a built-in name (or, with the admin scope, any `module:Class`),
    its parameters (validated by its config: 422 naming the parameter), and an optional id (409 if taken)."""
    if body.strategy not in BUILTIN and body.strategy not in MODEL_BASED:
        if ":" not in body.strategy:
            known = ", ".join(sorted([*BUILTIN, *MODEL_BASED]))
            raise ApiError(422, "invalid_request", f"unknown strategy {body.strategy!r} (built-in: {known}; "
                           "or module:Class)", field="strategy")
        require_scope(who.scopes, Scope.ADMIN)  # an import path loads code on the cluster: an operator's call
    else:
        known_params = set(all_strategies()[body.strategy].config_class.model_fields)
        for name in body.params:
            if name not in known_params:
                raise ApiError(422, "invalid_request", f"strategy {body.strategy}: unknown parameter {name!r} "
                               f"(known: {', '.join(sorted(known_params))})", field=f"params.{name}")
    strategy_id = body.strategy_id or (body.strategy if ":" not in body.strategy else None)
    if strategy_id is not None and f"{strategy_id}-".startswith(MANUAL_PREFIX):
        raise ApiError(422, "invalid_request", f"strategy id {strategy_id!r} is reserved: its order ids would look "
                       f"like the API's ({MANUAL_PREFIX}...)", field="strategy_id")
    if strategy_id is not None and strategy_id in await svc.strategy_names():
        raise ApiError(409, "conflict", f"a strategy {strategy_id!r} is already running", field="strategy_id")
    try:
        status = await svc.call(svc.runtime.add_strategy(body.strategy, body.params, body.strategy_id),
                                conflict=(ValueError, "strategy_id"))  # the id was taken meanwhile
    except ApiError as exc:
        if exc.field is not None and exc.field in body.params:
            exc.field = f"params.{exc.field}"
        raise
    return {**status, "pnl": None}


async def _strategy_status(svc: Services, strategy_id: str, pnl: dict[str, Any] | None = None) -> dict[str, Any]:
    status = await svc.read(svc.runtime.strategy_status, strategy_id)
    return {**status, "pnl": (pnl or {}).get(strategy_id)}


async def _known_strategy(svc: Services, strategy_id: str) -> None:
    if strategy_id not in await svc.strategy_names():
        raise ApiError(404, "strategy_not_found", f"no running strategy {strategy_id!r}", field="strategy_id")


@router.get("/strategies", response_model=list[StrategyStatus], tags=["strategies"])
async def running_strategies(svc: Svc, _: Read) -> Any:
    """Status of every running strategy (state, parameters, P&L)."""
    names = await svc.strategy_names()
    pnl = (await svc.read(svc.runtime.positions))["strategy_pnl"]
    return await asyncio.gather(*(_strategy_status(svc, n, pnl) for n in names))


@router.get("/strategies/{strategy_id}", response_model=StrategyStatus, tags=["strategies"], responses={404: {}})
async def strategy_status(strategy_id: str, svc: Svc, _: Read) -> Any:
    await _known_strategy(svc, strategy_id)
    pnl = (await svc.read(svc.runtime.positions))["strategy_pnl"]
    return await _strategy_status(svc, strategy_id, pnl)


async def _control(svc: Services, strategy_id: str, action: Callable[[str], Awaitable[None]]) -> Any:
    await _known_strategy(svc, strategy_id)
    await svc.call(action(strategy_id))
    return await _strategy_status(svc, strategy_id)


@router.post("/strategies/{strategy_id}/pause", response_model=StrategyStatus, tags=["strategies"], responses={404: {}})
async def pause_strategy(strategy_id: str, svc: Svc, _: Trade) -> Any:
    return await _control(svc, strategy_id, svc.runtime.pause_strategy)


@router.post(
    "/strategies/{strategy_id}/resume", response_model=StrategyStatus, tags=["strategies"], responses={404: {}}
)
async def resume_strategy(strategy_id: str, svc: Svc, _: Trade) -> Any:
    return await _control(svc, strategy_id, svc.runtime.resume_strategy)


@router.post("/strategies/{strategy_id}/stop", response_model=StrategyStatus, tags=["strategies"], responses={404: {}})
async def stop_strategy(strategy_id: str, svc: Svc, _: Trade) -> Any:
    return await _control(svc, strategy_id, svc.runtime.stop_strategy)


@router.patch(
    "/strategies/{strategy_id}/params", response_model=StrategyStatus, tags=["strategies"], responses={404: {}}
)
async def change_parameters(strategy_id: str, body: StrategyParams, svc: Svc, _: Trade) -> Any:
    """Change parameters of a running strategy (validated by its config; the instrument cannot change)."""
    await _known_strategy(svc, strategy_id)
    await svc.call(svc.runtime.update_parameters(strategy_id, body.params))
    return await _strategy_status(svc, strategy_id)


# --------------------------------------------------------------------------------------------- API keys
@router.get("/keys", response_model=list[ApiKeyOut], tags=["auth"])
async def list_keys(svc: Svc, _: Admin) -> Any:
    """Every API key without its secret: scopes, owner, created, revoked, and last used (recorded when the
    gateway verifies the key, at most `key_cache_s` apart)."""
    store: ApiKeyStore
    store, _cache = await svc.storage()
    return [
        {"key_id": str(r.key_id), "prefix": r.prefix, "scopes": list(r.scopes), "user": r.user_name,
         "created_at": r.created_at.isoformat(), "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
         "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None}
        for r in await store.list()
    ]


# ----------------------------------------------------------------------------------------------- risk
def _limits_out(limits: dict[str, Any]) -> RiskLimitsOut:
    def text(values: dict[str, Any]) -> dict[str, Any]:
        return {k: (v if isinstance(v, int | None) else str(v)) for k, v in values.items()}

    accounts = {name: PortfolioLimitsOut(**text(book)) for name, book in (limits.get("accounts") or {}).items()}
    return RiskLimitsOut(**text({k: v for k, v in limits.items() if k != "accounts"}), accounts=accounts)


@router.get("/risk", response_model=RiskState, tags=["risk"])
async def risk_state(svc: Svc, _: Read) -> Any:
    """Trading state (active / reducing / halted), its reason, and the kill switch."""
    return await svc.read(svc.runtime.risk_status)


@router.get("/risk/limits", response_model=RiskLimitsOut, tags=["risk"])
async def risk_limits(svc: Svc, _: Read) -> Any:
    return _limits_out(await svc.read(svc.runtime.risk_limits))


@router.patch("/risk/limits", response_model=RiskLimitsOut, tags=["risk"])
async def set_risk_limits(body: RiskLimits, svc: Svc, _: Admin) -> Any:
    """Change the firm-wide limits: fields sent are changed (null switches a rule off), others are kept."""
    return _limits_out(await svc.call(svc.runtime.update_risk_limits(body.model_dump(exclude_unset=True))))


@router.post("/risk/kill-switch", response_model=KillSwitchOut, tags=["risk"])
async def kill_switch(body: KillSwitch, svc: Svc, _: Admin) -> Any:
    """On: trading HALTED, every order from every strategy is denied, and every working order at every venue is
    asked to cancel (`canceled` lists them; journaled). Off: trading resumes (ACTIVE). Positions stay: close
    them with POST /v1/risk/flatten."""
    result = await svc.call(svc.runtime.set_kill_switch(body.on, body.reason), order_write=body.on)
    if not body.on:
        await svc.call(svc.runtime.resume_trading(f"kill switch off: {body.reason}"))
    status = await svc.call(svc.runtime.risk_status())
    return {**status, "canceled": list(result.canceled)}


@router.post("/risk/flatten", response_model=FlattenOut, tags=["risk"])
async def flatten(body: Flatten, svc: Svc, _: Admin) -> Any:
    """Close every position at every venue with market orders (each strategy's in its name, then anything left
    in an account), journaled with the reason. No pre-trade check stops them: they only reduce. Combine with the
    kill switch to stop and close out."""
    return {"orders": await svc.call(svc.runtime.flatten(body.reason), order_write=True)}


# ---------------------------------------------------------------------------------------- market data
@router.get("/market-data/last", response_model=list[BarOut], tags=["market data"])
async def last_bars(svc: Svc, _: Read) -> Any:
    """The last bar of each instrument."""
    bars = await svc.read(svc.runtime.last_bars)
    return [{"instrument_id": iid, **bar} for iid, bar in sorted(bars.items())]


# --------------------------------------------------------------------------------------------- events
def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


ORDER_STATUS_OF = {
    "OrderSubmitted": "submitted",
    "OrderAccepted": "accepted",
    "OrderDenied": "denied",
    "OrderRejected": "rejected",
    "OrderTriggered": "triggered",
    "OrderCanceled": "canceled",
    "OrderExpired": "expired",
}
KEEP_ALIVE_S = 15.0


async def _stream_items(svc: Services, channel: str, event: dict[str, Any], risk: dict[str, Any]) -> list[bytes]:
    """The SSE messages for one runtime event: `order` (lifecycle, with the order's status), `fill` (then the
    filled order's `order`), `position`, `risk` (kill switch or state), `runtime` (anything else)."""
    if channel == "kill_switch":
        on = bool(event.get("on"))
        if on == risk.get("kill_switch"):
            return []
        # The flag is the message's own: the risk actor may not have applied it yet when we ask for its state.
        risk.update(await svc.read(svc.runtime.risk_status), kill_switch=on, reason=str(event.get("reason", "")))
        if on:
            risk["state"] = "halted"
        return [_sse("risk", dict(risk))]
    kind = event.get("kind", "")
    if kind in ORDER_STATUS_OF:
        fields = ("client_order_id", "strategy_id", "instrument_id", "ts", "reason", "venue_order_id")
        return [_sse("order", {"kind": kind, "status": ORDER_STATUS_OF[kind], **{k: event[k] for k in fields
                                                                                 if k in event}})]
    if kind in ("OrderFilled", "OrderUpdated"):  # the event does not say the status: ask for it
        cid = event["fill"]["client_order_id"] if kind == "OrderFilled" else event["client_order_id"]
        out = [_sse("fill", event["fill"])] if kind == "OrderFilled" else []
        order = await svc.read(svc.runtime.get_order, cid)
        if order is not None:
            out.append(_sse("order", {"kind": kind, "client_order_id": cid, "strategy_id": order["strategy_id"],
                                      "status": order["status"], "filled_quantity": order["filled_quantity"],
                                      "reason": order["reason"]}))
        return out
    if kind == "PositionChanged":
        return [_sse("position", event)]
    if kind == "RiskStateChanged":
        risk.update(await svc.read(svc.runtime.risk_status))
        return [_sse("risk", {**risk, "previous": event.get("previous")})]
    return [_sse("runtime", event)]


async def _events(svc: Services, request: Request, limit: int | None, duration_s: float | None) -> AsyncIterator[bytes]:
    """The runtime's events as they are published to Redis (the order manager publishes each one it books;
    the risk actor announces the kill switch), turned into SSE messages. Nothing is polled."""
    cache = await svc.runtime_events()
    risk: dict[str, Any] = dict(await svc.read(svc.runtime.risk_status))
    sent = 0
    ends = None if duration_s is None else time.monotonic() + duration_s
    async with cache.subscribe_many("events", "kill_switch") as subscription:
        yield b": connected\n\n"  # subscribed: everything published from now on is delivered
        last_write = time.monotonic()
        while (limit is None or sent < limit) and (ends is None or time.monotonic() < ends):
            wait = 1.0 if ends is None else max(0.0, min(1.0, ends - time.monotonic()))
            message = await subscription.next_message(wait)
            if message is None:
                if await request.is_disconnected():
                    return
                if time.monotonic() - last_write > KEEP_ALIVE_S:
                    yield b": keep-alive\n\n"
                    last_write = time.monotonic()
                continue
            for chunk in (await _stream_items(svc, *message, risk))[: None if limit is None else limit - sent]:
                yield chunk
                sent += 1
                last_write = time.monotonic()


@router.get(
    "/events",
    tags=["events"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def events(
    request: Request,
    svc: Svc,
    _: Read,
    limit: int | None = Query(None, ge=1, le=100_000, description="end the stream after this many events"),
    duration_s: float | None = Query(None, gt=0, le=86_400, description="end the stream after this long"),
) -> StreamingResponse:
    """Live events as server-sent events, pushed as the runtime publishes them: `order` (status changes),
    `fill`, `position`, `risk` (state and kill switch), `runtime` (other events)."""
    return StreamingResponse(
        _events(svc, request, limit, duration_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
