"""`dto keys` against the real embedded PostgreSQL of a DTO_HOME: keys are shown once, stored hashed, and
revoked keys no longer authenticate."""

from __future__ import annotations

import json

import pytest

from dto.cli import main
from trading.auth import AuthError, authenticate, hash_key
from trading.storage import ApiKeyStore

from .support import Run


def test_create_list_revoke_through_the_cli(tmp_path, monkeypatch, capsys, pool, run: Run) -> None:
    # The CLI gets its own home (its own servers); the session database checks what a key store sees.
    monkeypatch.setenv("DTO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["keys", "create", "--scope", "trade", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    key = created["key"]
    assert created["scopes"] == ["trade"]

    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["key_id"] for row in listed] == [created["key_id"]]
    assert key not in json.dumps(listed) and hash_key(key) not in json.dumps(listed)

    assert main(["keys", "revoke", created["key_id"]]) == 0
    capsys.readouterr()
    assert main(["keys", "revoke", created["key_id"]]) == 2
    assert "no active key" in capsys.readouterr().err
    assert main(["keys", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["revoked_at"] is not None


def test_a_stored_key_authenticates_until_revoked(pool, run: Run) -> None:
    from trading.auth import create_key

    store = ApiKeyStore(pool)
    key, row = run(create_key(store, ["read"], user="analyst"))
    assert run(authenticate(store, key)).key_id == row.key_id
    run(store.revoke(str(row.key_id)))
    with pytest.raises(AuthError):
        run(authenticate(store, key))
