"""Reading broker settings from the environment (then the encrypted store), with a `ConfigError` per key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from trading.brokers.credentials import CredentialStore, Secret
from trading.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass
class SettingsSource:
    """Where settings come from: a mapping (the environment by default) and optionally a credential store."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    store: CredentialStore | None = None

    def text(self, key: str, default: str | None = None) -> str:
        value = self.env.get(key)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"missing setting {key}", key=key)
            return default
        return value

    def optional(self, key: str) -> str | None:
        value = self.env.get(key)
        return value if value else None

    def secret(self, key: str) -> Secret:
        value = self.env.get(key)
        if value:
            return Secret(value)
        if self.store is not None:
            stored = self.store.get(key)
            if stored:
                return stored
        where = " or the credential store" if self.store is not None else ""
        raise ConfigError(f"missing credential {key}: set it in the environment{where}", key=key)

    def flag(self, key: str, default: bool) -> bool:
        value = self.env.get(key)
        if value is None or value == "":
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"setting {key} must be true or false, got {value!r}", key=key)

    def number(self, key: str, default: float) -> float:
        value = self.env.get(key)
        if value is None or value == "":
            return default
        try:
            result = float(value)
        except ValueError:
            raise ConfigError(f"setting {key} must be a number, got {value!r}", key=key) from None
        if result <= 0:
            raise ConfigError(f"setting {key} must be positive, got {value!r}", key=key)
        return result

    def integer(self, key: str, default: int) -> int:
        value = self.env.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"setting {key} must be an integer, got {value!r}", key=key) from None

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key, default).strip().lower()
        if value not in allowed:
            raise ConfigError(f"setting {key} must be one of {', '.join(allowed)}, got {value!r}", key=key)
        return value
