"""Who is calling, and may they: an API key (X-API-Key, checked against the hashed keys in PostgreSQL) or a
short-lived JWT (Authorization: Bearer) from POST /v1/auth/token; scopes read < trade < admin; a per-key rate
limit counted in Redis on every request (429 with Retry-After).

A verified key is trusted for `key_cache_s` (default 5 s) without asking PostgreSQL again, so a revoked key,
and every token issued for it, stops working at most that long after `dto keys revoke`. Each verification
also records the key's last use, so `last_used_at` is exact to within the same interval."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

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


async def principal(
    request: Request,
    key: Annotated[str | None, Depends(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    svc: Services = request.app.state.services
    if key:
        who = await key_principal(svc, key)
    elif token is not None:
        await svc.storage()  # the signing secret
        claims = verify_token(token.credentials, svc.secret)
        who = Principal(str(claims.get("sub", "")), effective_scopes(claims.get("scopes", [])), "token")
        await check_token_key(svc, who.key_id)
    else:
        raise AuthError("no credentials: send X-API-Key: <key> or Authorization: Bearer <token>")
    try:
        allowed, retry_after = await svc.rate_limits.hit(who.key_id)
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
    return who


def need(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency: authenticated, rate-limited, and holding `scope` (403 otherwise)."""

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        require_scope(who.scopes, scope)
        return who

    return check
