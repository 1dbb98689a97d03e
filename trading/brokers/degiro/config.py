"""Degiro settings (EXPERIMENTAL: degiro-connector drives Degiro's unofficial web API)."""

from __future__ import annotations

from dataclasses import dataclass

from trading.brokers.credentials import Secret
from trading.brokers.settings import SettingsSource
from trading.errors import ConfigError


@dataclass(frozen=True)
class DegiroConfig:
    """One Degiro login. Degiro has no paper account: every order is real. `repr` masks the secrets."""

    username: str
    password: Secret
    int_account: int
    totp_secret: Secret | None = None  # for accounts with 2FA
    venue: str = "DEGIRO"
    currency: str = "EUR"
    timeout: float = 15.0
    requests_per_second: float = 2.0  # unofficial API: stay gentle
    poll_interval: float = 5.0  # s between polls of open orders and the day's transactions (no push stream)

    def __post_init__(self) -> None:
        if not self.username:
            raise ConfigError("DEGIRO_USERNAME is empty", key="DEGIRO_USERNAME")
        if self.int_account <= 0:
            raise ConfigError("DEGIRO_INT_ACCOUNT must be the positive intAccount number", key="DEGIRO_INT_ACCOUNT")
        if self.poll_interval <= 0:
            raise ConfigError(
                f"DEGIRO_POLL_INTERVAL must be positive, got {self.poll_interval}", key="DEGIRO_POLL_INTERVAL"
            )

    @classmethod
    def from_settings(cls, source: SettingsSource) -> DegiroConfig:
        """From `DEGIRO_USERNAME`, `DEGIRO_PASSWORD`, `DEGIRO_INT_ACCOUNT`, `DEGIRO_TOTP_SECRET` (optional; the
        environment, else the credential store) and `DEGIRO_POLL_INTERVAL` (s, default 5)."""
        totp = source.optional("DEGIRO_TOTP_SECRET")
        if totp is None and source.store is not None:
            stored = source.store.get("DEGIRO_TOTP_SECRET")
            totp = stored.reveal() if stored is not None else None
        return cls(
            username=source.text("DEGIRO_USERNAME"),
            password=source.secret("DEGIRO_PASSWORD"),
            int_account=source.integer("DEGIRO_INT_ACCOUNT", 0),
            totp_secret=Secret(totp) if totp else None,
            poll_interval=source.number("DEGIRO_POLL_INTERVAL", 5.0),
        )
