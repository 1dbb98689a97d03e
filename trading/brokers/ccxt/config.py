"""Settings for one ccxt exchange connection (Binance first; any ccxt exchange id works by name)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ccxt

from trading.brokers.credentials import Secret
from trading.brokers.settings import SettingsSource
from trading.errors import ConfigError

MARKET_TYPES = ("spot", "swap", "future")


@dataclass(frozen=True)
class CcxtConfig:
    """One exchange account. `repr` masks the credentials (`Secret`)."""

    exchange_id: str = "binance"
    api_key: Secret | None = None
    secret: Secret | None = None
    password: Secret | None = None  # some exchanges (OKX, KuCoin) need a passphrase
    sandbox: bool = True  # Binance spot testnet (testnet.binance.vision) unless set false
    venue: str = ""  # the venue part of instrument ids; defaults to the exchange id upper-cased
    market_type: str = "spot"
    quote_currency: str = "USDT"  # the account currency for AccountReport.cash / equity
    symbols: tuple[str, ...] = ()  # symbols to reconcile fills for (Binance needs a symbol per trade query)
    timeout: float = 10.0  # seconds per HTTP call
    rate_limit_ms: int | None = None  # ccxt's weighted throttle; None keeps the exchange's documented limit
    poll_interval: float = 2.0  # seconds between polls where the exchange has no websocket method
    url_overrides: dict[str, str] = field(default_factory=dict)  # urls['api'] keys -> URL (proxies, emulators)
    # urls['api']['ws'] keys -> URL; a dotted key reaches a nested one ("ws-api.spot": Binance's WebSocket API)
    ws_url_overrides: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # passed to ccxt's `options`

    def __post_init__(self) -> None:
        if self.exchange_id not in ccxt.exchanges:
            raise ConfigError(f"CCXT_EXCHANGE {self.exchange_id!r} is not a ccxt exchange id", key="CCXT_EXCHANGE")
        if self.market_type not in MARKET_TYPES:
            raise ConfigError(f"CCXT_MARKET_TYPE must be one of {MARKET_TYPES}", key="CCXT_MARKET_TYPE")
        if (self.api_key is None) != (self.secret is None):
            missing = "CCXT_SECRET" if self.secret is None else "CCXT_API_KEY"
            raise ConfigError(f"{missing} is missing (key and secret come as a pair)", key=missing)
        if self.timeout <= 0:
            raise ConfigError("CCXT_TIMEOUT must be positive", key="CCXT_TIMEOUT")

    @property
    def venue_name(self) -> str:
        return self.venue or self.exchange_id.upper()

    @classmethod
    def from_settings(cls, source: SettingsSource) -> CcxtConfig:
        """From `CCXT_EXCHANGE` (default binance), `CCXT_API_KEY`, `CCXT_SECRET`, `CCXT_PASSWORD`,
        `CCXT_SANDBOX` (default true), `CCXT_VENUE`, `CCXT_MARKET_TYPE`, `CCXT_QUOTE`, `CCXT_SYMBOLS`,
        `CCXT_TIMEOUT`, and URL overrides `CCXT_URLS` (`public=URL,private=URL`: ccxt's `urls['api']` keys)
        and `CCXT_WS_URLS` (`spot=URL,ws-api.spot=URL`: keys of `urls['api']['ws']`, dotted when nested)."""
        symbols = tuple(s.strip() for s in source.text("CCXT_SYMBOLS", "").split(",") if s.strip())
        password = source.optional("CCXT_PASSWORD")
        return cls(
            exchange_id=source.text("CCXT_EXCHANGE", "binance"),
            api_key=source.secret("CCXT_API_KEY"),
            secret=source.secret("CCXT_SECRET"),
            password=Secret(password) if password else None,
            sandbox=source.flag("CCXT_SANDBOX", True),
            venue=source.text("CCXT_VENUE", ""),
            market_type=source.choice("CCXT_MARKET_TYPE", "spot", MARKET_TYPES),
            quote_currency=source.text("CCXT_QUOTE", "USDT"),
            symbols=symbols,
            timeout=source.number("CCXT_TIMEOUT", 10.0),
            url_overrides=_url_map(source.text("CCXT_URLS", ""), "CCXT_URLS"),
            ws_url_overrides=_url_map(source.text("CCXT_WS_URLS", ""), "CCXT_WS_URLS"),
        )


def _url_map(text: str, key: str) -> dict[str, str]:
    """`name=URL,name=URL` -> {name: URL}."""
    urls: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, url = item.partition("=")
        if not sep or not name.strip() or "://" not in url:
            raise ConfigError(f"{key} entries are name=URL, got {item!r}", key=key)
        urls[name.strip()] = url.strip()
    return urls
