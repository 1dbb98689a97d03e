"""API keys and tokens: only hashes are stored, scopes nest, tokens expire."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trading.auth import (
    AuthError,
    ForbiddenError,
    Scope,
    authenticate,
    create_key,
    effective_scopes,
    generate_key,
    issue_token,
    jwt_secret,
    key_matches,
    key_prefix,
    parse_scopes,
    require_scope,
    verify_token,
)
from trading.errors import ConfigError


class MemoryKeys:
    """An in-memory stand-in for the API-key table; the real one is tested in tests/storage."""

    def __init__(self) -> None:
        self.rows: dict[str, SimpleNamespace] = {}

    async def create(self, prefix: str, key_hash: str, scopes: list[str], user: str | None = None) -> SimpleNamespace:
        row = SimpleNamespace(key_id=f"id-{prefix}", prefix=prefix, key_hash=key_hash, scopes=tuple(scopes),
                              revoked_at=None)
        self.rows[prefix] = row
        return row

    async def find_by_prefix(self, prefix: str) -> SimpleNamespace | None:
        return self.rows.get(prefix)


def test_generated_key_is_stored_only_as_its_hash() -> None:
    new = generate_key()
    assert new.key.startswith(f"dto_{new.prefix}_")
    assert new.key not in new.key_hash and new.prefix not in new.key_hash[:8]
    assert key_matches(new.key, new.key_hash)
    assert not key_matches(new.key + "x", new.key_hash)
    assert key_prefix(new.key) == new.prefix


@pytest.mark.parametrize("text", ["", "abc", "dto_short_secret", "xyz_12345678_secret", "dto_12345678_"])
def test_malformed_keys_are_rejected(text: str) -> None:
    with pytest.raises(AuthError):
        key_prefix(text)


def test_scopes_nest_admin_trade_read() -> None:
    assert effective_scopes([Scope.ADMIN]) == {Scope.ADMIN, Scope.TRADE, Scope.READ}
    assert effective_scopes(["trade"]) == {Scope.TRADE, Scope.READ}
    require_scope(["trade"], Scope.READ)
    with pytest.raises(ForbiddenError, match="admin"):
        require_scope(["trade"], Scope.ADMIN)


def test_unknown_scope_names_the_scope() -> None:
    with pytest.raises(ConfigError, match="'root'"):
        parse_scopes(["read", "root"])


def test_create_then_authenticate_and_revoked_keys_fail(run_async) -> None:
    keys = MemoryKeys()
    key, row = run_async(create_key(keys, ["trade"]))
    assert row.key_hash != key and key not in repr(row)
    assert run_async(authenticate(keys, key)) is row
    with pytest.raises(AuthError):
        run_async(authenticate(keys, key[:-1] + ("A" if key[-1] != "A" else "B")))
    row.revoked_at = "now"
    with pytest.raises(AuthError, match="unknown or revoked"):
        run_async(authenticate(keys, key))


SECRET = "s" * 48  # HS256 wants at least 32 bytes


def test_token_carries_scopes_and_expires() -> None:
    token = issue_token("key-1", [Scope.TRADE], SECRET)
    claims = verify_token(token, SECRET)
    assert claims["sub"] == "key-1" and claims["scopes"] == ["trade"]
    with pytest.raises(AuthError, match="invalid"):
        verify_token(token, "o" * 48)
    expired = issue_token("key-1", [Scope.READ], SECRET, ttl_s=-5)
    with pytest.raises(AuthError, match="expired"):
        verify_token(expired, SECRET)


def test_jwt_secret_file_is_created_private_and_reused(tmp_path) -> None:
    first = jwt_secret(env={}, home=tmp_path)
    assert (tmp_path / "jwt.key").stat().st_mode & 0o077 == 0
    assert jwt_secret(env={}, home=tmp_path) == first
    assert jwt_secret(env={"DTO_JWT_SECRET": "from-env-" + "x" * 32}, home=tmp_path) == "from-env-" + "x" * 32


@pytest.fixture
def run_async():
    import asyncio

    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()
