"""Interactive Brokers connection settings: TWS or IB Gateway host, port and client id."""

from __future__ import annotations

from dataclasses import dataclass

from trading.brokers.settings import SettingsSource
from trading.errors import ConfigError

# The default API ports: TWS 7497 paper / 7496 live; IB Gateway 4002 paper / 4001 live.
PAPER_PORTS = frozenset({7497, 4002})
LIVE_PORTS = frozenset({7496, 4001})


@dataclass(frozen=True)
class IBConfig:
    """One API session with TWS / IB Gateway (credentials live in TWS itself, none here)."""

    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    account: str = ""  # required when the login holds several accounts
    paper: bool = True
    venue: str = "IB"
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    readonly: bool = False
    reconnect_min: float = 1.0  # backoff between reconnect attempts after a gateway restart
    reconnect_max: float = 60.0
    messages_per_second: int = 45  # IB disconnects clients that send more than 50 messages per second
    regular_hours_only: bool = False  # history and live bars: True = regular trading hours only (useRTH)
    commission_wait: float = 5.0  # s a fill waits for its commission report before it is reported without one

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"IB_PORT must be a TCP port, got {self.port}", key="IB_PORT")
        if self.client_id < 0:
            raise ConfigError(f"IB_CLIENT_ID must not be negative, got {self.client_id}", key="IB_CLIENT_ID")
        if self.paper and self.port in LIVE_PORTS:
            raise ConfigError(
                f"IB_PAPER=true but IB_PORT={self.port} is a live port (paper: 7497 TWS, 4002 Gateway)", key="IB_PORT"
            )
        if not self.paper and self.port in PAPER_PORTS:
            raise ConfigError(f"IB_PAPER=false but IB_PORT={self.port} is a paper port", key="IB_PORT")
        if self.connect_timeout <= 0 or self.request_timeout <= 0:
            raise ConfigError("IB timeouts must be positive", key="IB_TIMEOUT")
        if self.commission_wait < 0:
            raise ConfigError(
                f"IB_COMMISSION_WAIT must not be negative, got {self.commission_wait}", key="IB_COMMISSION_WAIT"
            )

    @classmethod
    def from_settings(cls, source: SettingsSource) -> IBConfig:
        """From `IB_HOST`, `IB_PORT`, `IB_CLIENT_ID`, `IB_ACCOUNT`, `IB_PAPER` (default true), `IB_READONLY`,
        `IB_TIMEOUT`, `IB_RTH_ONLY` (default false), `IB_COMMISSION_WAIT` (s, default 5)."""
        paper = source.flag("IB_PAPER", True)
        return cls(
            host=source.text("IB_HOST", "127.0.0.1"),
            port=source.integer("IB_PORT", 4002 if paper else 4001),
            client_id=source.integer("IB_CLIENT_ID", 1),
            account=source.text("IB_ACCOUNT", ""),
            paper=paper,
            readonly=source.flag("IB_READONLY", False),
            connect_timeout=source.number("IB_TIMEOUT", 10.0),
            regular_hours_only=source.flag("IB_RTH_ONLY", False),
            commission_wait=source.number("IB_COMMISSION_WAIT", 5.0),
        )
