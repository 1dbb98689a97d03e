"""Alpaca connection settings: keys, paper or live, data feed, and URL overrides for tests and proxies."""

from __future__ import annotations

from dataclasses import dataclass, field

from trading.brokers.credentials import Secret
from trading.brokers.settings import SettingsSource
from trading.errors import ConfigError

PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
LIVE_TRADING_URL = "https://api.alpaca.markets"


@dataclass(frozen=True)
class AlpacaConfig:
    """Alpaca settings. `repr` masks the keys (they are `Secret`s)."""

    api_key: Secret
    secret_key: Secret
    paper: bool = True
    feed: str = "iex"  # iex (free) or sip (subscription)
    venue: str = "ALPACA"  # the venue part of instrument ids this connection trades
    timeout: float = 10.0  # seconds per HTTP call
    rate_limit_per_minute: int = 200  # Alpaca's documented REST limit per account
    trading_url: str | None = None  # overrides for a proxy or a local test server
    data_url: str | None = None
    trading_stream_url: str | None = None
    stock_stream_url: str | None = None
    crypto_stream_url: str | None = None
    crypto_location: str = "us"
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ConfigError("Alpaca api_key is empty", key="ALPACA_API_KEY")
        if not self.secret_key:
            raise ConfigError("Alpaca secret_key is empty", key="ALPACA_SECRET_KEY")
        if self.feed not in ("iex", "sip"):
            raise ConfigError(f"ALPACA_FEED must be iex or sip, got {self.feed!r}", key="ALPACA_FEED")
        if self.timeout <= 0:
            raise ConfigError(f"ALPACA_TIMEOUT must be positive, got {self.timeout}", key="ALPACA_TIMEOUT")
        if self.rate_limit_per_minute <= 0:
            raise ConfigError("ALPACA_RATE_LIMIT must be positive", key="ALPACA_RATE_LIMIT")
        if not self.paper and self.trading_url is None and self.api_key.reveal().startswith("PK"):
            # Alpaca paper keys start with PK, live keys with AK: catch the mix-up before the first call.
            raise ConfigError("ALPACA_PAPER=false but the key looks like a paper key (PK...)", key="ALPACA_PAPER")

    @property
    def base_trading_url(self) -> str:
        if self.trading_url:
            return self.trading_url
        return PAPER_TRADING_URL if self.paper else LIVE_TRADING_URL

    @classmethod
    def from_settings(cls, source: SettingsSource) -> AlpacaConfig:
        """From `ALPACA_API_KEY`, `ALPACA_SECRET_KEY`, `ALPACA_PAPER` (default true), `ALPACA_FEED`,
        `ALPACA_TIMEOUT`, `ALPACA_RATE_LIMIT`, `ALPACA_TRADING_URL`, `ALPACA_DATA_URL`."""
        return cls(
            api_key=source.secret("ALPACA_API_KEY"),
            secret_key=source.secret("ALPACA_SECRET_KEY"),
            paper=source.flag("ALPACA_PAPER", True),
            feed=source.choice("ALPACA_FEED", "iex", ("iex", "sip")),
            timeout=source.number("ALPACA_TIMEOUT", 10.0),
            rate_limit_per_minute=source.integer("ALPACA_RATE_LIMIT", 200),
            trading_url=source.optional("ALPACA_TRADING_URL"),
            data_url=source.optional("ALPACA_DATA_URL"),
            trading_stream_url=source.optional("ALPACA_TRADING_STREAM_URL"),
            stock_stream_url=source.optional("ALPACA_STOCK_STREAM_URL"),
            crypto_stream_url=source.optional("ALPACA_CRYPTO_STREAM_URL"),
        )
