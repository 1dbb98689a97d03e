"""Broker credentials: a `Secret` that never prints, and a Fernet-encrypted store for secrets at rest.

The encryption key comes from env `DTO_SECRET_KEY` (a Fernet key) or from `$DTO_HOME/secret.key`, which must
be readable by its owner only (mode 0600). The store is `$DTO_HOME/credentials.enc`: one encrypted JSON object
of name -> value. Settings are looked up in the environment first, then in the store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

from trading.config import dto_home
from trading.errors import ConfigError
from trading.private_files import read_private, write_private

KEY_ENV: Final = "DTO_SECRET_KEY"
KEY_FILE: Final = "secret.key"
STORE_FILE: Final = "credentials.enc"
MASK: Final = "***"


class Secret:
    """A credential value: `repr`, `str` and f-strings show `***`; `reveal()` only where it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Ray pickles configs into actors; the value must survive that trip (it is never logged by it).
        return (Secret, (self._value,))


def load_key(env: Mapping[str, str] | None = None) -> bytes:
    """The Fernet key from `DTO_SECRET_KEY`, else `$DTO_HOME/secret.key` (must be mode 0600)."""
    env = os.environ if env is None else env
    raw = env.get(KEY_ENV)
    if raw:
        key = raw.strip().encode()
        source = KEY_ENV
    else:
        path = dto_home(env) / KEY_FILE
        if not path.exists():
            raise ConfigError(f"no credential key: set {KEY_ENV} or create {path} (see `create_key_file`)", key=KEY_ENV)
        key = read_private(path, KEY_ENV).strip()
        source = str(path)
    try:
        Fernet(key)
    except ValueError as exc:
        raise ConfigError(f"{source} is not a valid Fernet key (32 url-safe base64 bytes)", key=KEY_ENV) from exc
    return key


def create_key_file(env: Mapping[str, str] | None = None) -> Path:
    """Write a new random key to `$DTO_HOME/secret.key`, atomically with mode 0600; refuses to overwrite one."""
    env = os.environ if env is None else env
    path = dto_home(env) / KEY_FILE
    write_private(path, Fernet.generate_key())
    return path


class CredentialStore:
    """Secrets at rest in one Fernet-encrypted file. Values come back as `Secret`."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._fernet = Fernet(key)
        self._values: dict[str, str] = {}
        if path.exists():
            try:
                plain = self._fernet.decrypt(path.read_bytes())
            except InvalidToken as exc:
                raise ConfigError(f"{path} cannot be decrypted with the configured key", key=KEY_ENV) from exc
            self._values = dict(json.loads(plain))

    @classmethod
    def open(cls, env: Mapping[str, str] | None = None) -> CredentialStore:
        env = os.environ if env is None else env
        return cls(dto_home(env) / STORE_FILE, load_key(env))

    def get(self, name: str) -> Secret | None:
        value = self._values.get(name)
        return None if value is None else Secret(value)

    def set(self, name: str, value: str | Secret) -> None:
        self._values[name] = value.reveal() if isinstance(value, Secret) else value
        self._save()

    def delete(self, name: str) -> None:
        self._values.pop(name, None)
        self._save()

    def names(self) -> list[str]:
        return sorted(self._values)

    def _save(self) -> None:
        token = self._fernet.encrypt(json.dumps(self._values).encode())
        write_private(self.path, token, replace=True)

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.path)!r}, names={self.names()})"
