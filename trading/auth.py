"""API keys and short-lived tokens for the gateway.

A key looks like `dto_<prefix>_<secret>`: the prefix (8 hex) finds the stored row, the secret (256 random
bits) proves possession. Only SHA-256 of the whole key is stored. A slow password hash is for guessable
passwords; a 256-bit random secret cannot be guessed, and a fast hash keeps every request cheap (the same
choice as GitHub's and Stripe's tokens). Comparison is constant-time.

Scopes nest: `admin` includes `trade`, which includes `read`. A JWT (HS256) issued for a key carries its
scopes and expires in minutes; the signing secret comes from `DTO_JWT_SECRET` or `$DTO_HOME/jwt.key`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

import jwt

from trading.config import dto_home
from trading.errors import ConfigError, TradingError
from trading.private_files import read_private, write_private

KEY_PREFIX: Final = "dto"
JWT_ENV: Final = "DTO_JWT_SECRET"
JWT_FILE: Final = "jwt.key"
MIN_JWT_SECRET: Final = 32
JWT_ALGORITHM: Final = "HS256"
DEFAULT_TOKEN_TTL_S: Final = 900


class AuthError(TradingError):
    """Missing, malformed, unknown, revoked or expired credentials (HTTP 401)."""


class ForbiddenError(TradingError):
    """Valid credentials without the scope the action needs (HTTP 403)."""


class Scope(StrEnum):
    READ = "read"
    TRADE = "trade"
    ADMIN = "admin"


_IMPLIED: Final = {
    Scope.READ: {Scope.READ},
    Scope.TRADE: {Scope.READ, Scope.TRADE},
    Scope.ADMIN: {Scope.READ, Scope.TRADE, Scope.ADMIN},
}


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """Scope names into scopes; an unknown name is a ConfigError naming it."""
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name.strip().lower()))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ConfigError(f"unknown scope {name!r} (one of: {known})", key="scope") from None
    if not scopes:
        raise ConfigError("a key needs at least one scope", key="scope")
    return frozenset(scopes)


def effective_scopes(scopes: Iterable[Scope | str]) -> frozenset[Scope]:
    """Granted scopes plus the ones they imply."""
    result: set[Scope] = set()
    for scope in scopes:
        result |= _IMPLIED[Scope(scope)]
    return frozenset(result)


def require_scope(granted: Iterable[Scope | str], needed: Scope) -> None:
    if needed not in effective_scopes(granted):
        raise ForbiddenError(f"this action needs the {needed.value!r} scope")


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: `key` is shown once and never stored."""

    key: str
    prefix: str
    key_hash: str


def generate_key() -> NewKey:
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, prefix=prefix, key_hash=hash_key(key))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """The lookup prefix of a presented key; AuthError if it is not shaped like one of ours."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8 or not parts[2]:
        raise AuthError("malformed API key")
    return parts[1]


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def jwt_secret(env: Mapping[str, str] | None = None, home: Path | None = None) -> str:
    """`DTO_JWT_SECRET`, else `$DTO_HOME/jwt.key` (created atomically with mode 0600 on first use, refused if others
    can read it). A secret shorter than `MIN_JWT_SECRET` characters is refused: tokens signed with it can be
    forged by guessing it."""
    env = os.environ if env is None else env
    if env.get(JWT_ENV):
        return checked_jwt_secret(env[JWT_ENV], JWT_ENV)
    path = (home or dto_home(env)) / JWT_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile: use theirs
            write_private(path, secrets.token_urlsafe(48).encode())
    return checked_jwt_secret(read_private(path, JWT_ENV).decode().strip(), str(path))


def checked_jwt_secret(secret: str, source: str) -> str:
    if len(secret) < MIN_JWT_SECRET:
        raise ConfigError(f"the token signing secret from {source} has {len(secret)} characters; it needs at least "
                          f"{MIN_JWT_SECRET} (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)",
                          key=JWT_ENV)
    return secret


def issue_token(key_id: str, scopes: Iterable[Scope | str], secret: str, ttl_s: int = DEFAULT_TOKEN_TTL_S) -> str:
    now = int(time.time())
    claims = {"sub": key_id, "scopes": sorted(Scope(s).value for s in scopes), "iat": now, "exp": now + ttl_s}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def verify_token(token: str, secret: str) -> dict[str, Any]:
    """The token's claims; AuthError if it is malformed, badly signed or expired."""
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidTokenError:
        raise AuthError("invalid token") from None
    return claims


class KeyStore(Protocol):
    """What authentication needs from storage (`trading.storage.ApiKeyStore` provides it)."""

    async def create(
        self, prefix: str, key_hash: str, scopes: list[str] | tuple[str, ...], user: str | None = None
    ) -> Any: ...

    async def find_by_prefix(self, prefix: str) -> Any: ...


async def create_key(store: KeyStore, scopes: Iterable[str], user: str | None = None) -> tuple[str, Any]:
    """A new key with these scopes: returns (the key, shown once; its stored row)."""
    parsed = parse_scopes(scopes)
    new = generate_key()
    row = await store.create(new.prefix, new.key_hash, sorted(s.value for s in parsed), user)
    return new.key, row


async def authenticate(store: KeyStore, key: str) -> Any:
    """The stored row of an active key matching `key`; AuthError otherwise (one message for every failure,
    so a caller cannot probe which prefixes exist)."""
    row = await store.find_by_prefix(key_prefix(key))
    if row is None or row.revoked_at is not None or not key_matches(key, row.key_hash):
        raise AuthError("unknown or revoked API key")
    return row
