"""Secret files: the token signing key and the credential key are created atomically with mode 0600, a copy
others can read is refused, and a signing secret short enough to guess is refused."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from serve_apps.settings import GatewaySettings
from trading.auth import jwt_secret
from trading.brokers.credentials import CredentialStore, create_key_file, load_key
from trading.errors import ConfigError


def test_jwt_key_created_under_a_permissive_umask_then_mode_0600(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        secret = jwt_secret(env={}, home=tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "jwt.key").stat().st_mode) == 0o600 and len(secret) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["jwt.key"]  # no temporary file left behind


def test_jwt_key_created_by_racing_processes_then_one_secret_for_all(tmp_path: Path) -> None:
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(jwt_secret(env={}, home=tmp_path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len(set(seen)) == 1 and seen[0]


def test_jwt_key_readable_by_others_then_refused(tmp_path: Path) -> None:
    jwt_secret(env={}, home=tmp_path)
    (tmp_path / "jwt.key").chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        jwt_secret(env={}, home=tmp_path)


@pytest.mark.parametrize("short", ["secret", "x" * 31])
def test_short_jwt_secret_then_refused(short: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 32") as refused:
        jwt_secret(env={"DTO_JWT_SECRET": short}, home=tmp_path)
    assert refused.value.key == "DTO_JWT_SECRET"
    with pytest.raises(ValidationError):
        GatewaySettings(jwt_secret=short)
    (tmp_path / "jwt.key").write_text(short)
    (tmp_path / "jwt.key").chmod(0o600)
    with pytest.raises(ConfigError, match="at least 32"):
        jwt_secret(env={}, home=tmp_path)


def test_credential_key_created_under_a_permissive_umask_then_mode_0600_and_never_overwritten(tmp_path: Path) -> None:
    env = {"DTO_HOME": str(tmp_path)}
    previous = os.umask(0)
    try:
        path = create_key_file(env)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    with pytest.raises(FileExistsError):
        create_key_file(env)
    assert path.read_bytes() == key and load_key(env) == key.strip()


def test_credential_key_readable_by_others_then_refused(tmp_path: Path) -> None:
    env = {"DTO_HOME": str(tmp_path)}
    create_key_file(env).chmod(0o604)
    with pytest.raises(ConfigError, match="readable by others"):
        load_key(env)


def test_credential_store_over_a_stale_world_readable_temp_file_then_still_0600(tmp_path: Path) -> None:
    env = {"DTO_HOME": str(tmp_path)}
    create_key_file(env)
    stale = tmp_path / "credentials.tmp"  # what the old writer reused, keeping its mode
    stale.write_bytes(b"")
    stale.chmod(0o666)
    store = CredentialStore.open(env)
    store.set("ALPACA_SECRET_KEY", "s3cret")
    assert stat.S_IMODE((tmp_path / "credentials.enc").stat().st_mode) == 0o600
