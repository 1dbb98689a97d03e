"""Who is calling, and may they: an API key (X-API-Key, checked against the hashed keys in PostgreSQL) or a
short-lived JWT (Authorization: Bearer) from POST /v1/auth/token; scopes read < trade < admin; a per-key rate
limit counted in Redis on every request (429 with Retry-After).

A verified key is trusted for `key_cache_s` (default 5 s) without asking PostgreSQL again, so a revoked key,
and every token issued for it, stops working at most that long after `dto keys revoke`. Each verification
also records the key's last use, so `last_used_at` is exact to within the same interval."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer

from serve_apps.errors import ApiError
from serve_apps.services import Services
from trading.auth import AuthError, Scope, authenticate, effective_scopes, hash_key, require_scope, verify_token

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from `dto keys create`")
bearer = HTTPBearer(auto_error=False, description="a token from POST /v1/auth/token")


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    scopes: frozenset[Scope]
    via: str  # "api_key" or "token"


async def services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on every request
    svc: Services = request.app.state.services
    return svc


async def key_principal(svc: Services, key: str) -> Principal:
    """The key's owner; verified keys are trusted for `key_cache_s` without a database lookup."""
    digest = hash_key(key)
    cached = svc.key_cache.get(digest)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return Principal(cached[1], effective_scopes(cached[2]), "api_key")
    store, _ = await svc.storage()
    row = await authenticate(store, key)
    await store.touch(str(row.key_id))
    scopes = tuple(row.scopes)
    if svc.settings.key_cache_s > 0:
        svc.key_cache[digest] = (now + svc.settings.key_cache_s, str(row.key_id), scopes)
        svc.active_keys[str(row.key_id)] = now + svc.settings.key_cache_s
    return Principal(str(row.key_id), effective_scopes(scopes), "api_key")


async def check_token_key(svc: Services, key_id: str) -> None:
    """A token is only as good as its key: AuthError once the key is revoked (checked every `key_cache_s`)."""
    now = time.monotonic()
    if svc.active_keys.get(key_id, 0.0) > now:
        return
    store, _ = await svc.storage()
    row = await store.get(key_id)
    if row is None or row.revoked_at is not None:
        raise AuthError("the API key of this token was revoked")
    await store.touch(key_id)
    if svc.settings.key_cache_s > 0:
        svc.active_keys[key_id] = now + svc.settings.key_cache_s


async def principal(request: Request) -> Principal:
    """Who sent the request: its X-API-Key, else its bearer token (AuthError, 401, if neither is valid),
    counted against the key's rate limit. It reads both headers itself rather than through FastAPI's
    `APIKeyHeader` and `HTTPBearer` dependencies: FastAPI resolves each dependency level on every request, at a
    cost in CPU, so authentication is one level. `document_security` puts both schemes in the OpenAPI schema."""
    svc: Services = request.app.state.services
    key = request.headers.get("x-api-key")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if key:
        who = await key_principal(svc, key)
    elif scheme.lower() == "bearer" and credentials:
        await svc.storage()  # the signing secret
        claims = verify_token(credentials, svc.secret)
        who = Principal(str(claims.get("sub", "")), effective_scopes(claims.get("scopes", [])), "token")
        await check_token_key(svc, who.key_id)
    else:
        raise AuthError("no credentials: send X-API-Key: <key> or Authorization: Bearer <token>")
    await count_request(svc, who.key_id)
    return who


async def count_request(svc: Services, key_id: str) -> None:
    """One request against the key's rate limit: ApiError 429 with Retry-After past it, 503 if Redis fails."""
    try:
        allowed, retry_after = await svc.rate_limits.hit(key_id)
    except ApiError:
        raise
    except Exception as exc:  # any Redis failure: refuse rather than run unlimited
        raise ApiError(503, "rate_limiter_unavailable", f"cannot count requests in Redis: {exc}") from None
    if not allowed:
        limit, window = svc.settings.rate_limit, svc.settings.rate_window_s
        raise ApiError(
            429,
            "rate_limited",
            f"more than {limit} requests in {window:g}s for this key; retry after {retry_after:.2f}s",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )


def need(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: authenticated, rate-limited, and holding `scope` (403 otherwise)."""

    async def check(request: Request) -> Principal:
        who = await principal(request)
        require_scope(who.scopes, scope)
        return who

    check.checks_credentials = True  # type: ignore[attr-defined]  # see `document_security`
    return check


def document_security(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Declare X-API-Key and bearer tokens in the app's OpenAPI schema on every route (the app's own and
    `routers'`) that depends on `need`: the docs' Authorize button, clients generated from the schema."""
    schemes = {
        type(scheme).__name__: scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        for scheme in (api_key_header, bearer)
    }
    either: list[dict[str, list[str]]] = [{name: []} for name in schemes]  # one of them
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = build_schema()  # FastAPI keeps it in app.openapi_schema
            schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
            for route in [*app.routes, *(route for router in routers for route in router.routes)]:
                if isinstance(route, APIRoute) and any(
                    getattr(d.call, "checks_credentials", False) for d in route.dependant.dependencies
                ):
                    for method in route.methods or ():
                        schema["paths"][route.path_format][method.lower()]["security"] = either
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
