# ruff: noqa: PLC0415  # lazy imports by design: each adapter pulls in a heavy client library
"""`create_broker(name, config)`: one adapter per venue behind the `Broker` protocol.

Adapters import their client libraries lazily here, so importing `trading.brokers` stays cheap.
"""

from __future__ import annotations

from typing import Any

from trading.brokers.protocol import Broker
from trading.brokers.settings import SettingsSource
from trading.errors import ConfigError

BROKER_KINDS = ("alpaca", "ccxt", "ib", "degiro")


def config_from_settings(kind: str, source: SettingsSource | None = None) -> Any:
    """Read and validate one adapter's settings (environment, then the encrypted store)."""
    source = source or SettingsSource()
    if kind == "alpaca":
        from trading.brokers.alpaca.config import AlpacaConfig

        return AlpacaConfig.from_settings(source)
    if kind == "ccxt":
        from trading.brokers.ccxt.config import CcxtConfig

        return CcxtConfig.from_settings(source)
    if kind == "ib":
        from trading.brokers.ib.config import IBConfig

        return IBConfig.from_settings(source)
    if kind == "degiro":
        from trading.brokers.degiro.config import DegiroConfig

        return DegiroConfig.from_settings(source)
    raise ConfigError(f"unknown broker kind {kind!r} (one of {', '.join(BROKER_KINDS)})", key="broker")


def create_broker(name: str, config: Any = None, *, kind: str | None = None) -> Broker:
    """Build the adapter for `kind` (default: `name`, e.g. "alpaca"); `config` defaults to the environment."""
    kind = kind or name
    if config is None:
        config = config_from_settings(kind)
    if kind == "alpaca":
        from trading.brokers.alpaca.config import AlpacaConfig
        from trading.brokers.alpaca.execution import AlpacaBroker

        _expect(config, AlpacaConfig, kind)
        return AlpacaBroker(config, name=name)
    if kind == "ccxt":
        from trading.brokers.ccxt.config import CcxtConfig
        from trading.brokers.ccxt.execution import CcxtBroker

        _expect(config, CcxtConfig, kind)
        return CcxtBroker(config, name=name)
    if kind == "ib":
        from trading.brokers.ib.config import IBConfig
        from trading.brokers.ib.execution import IBBroker

        _expect(config, IBConfig, kind)
        return IBBroker(config, name=name)
    if kind == "degiro":
        from trading.brokers.degiro.config import DegiroConfig
        from trading.brokers.degiro.execution import DegiroBroker

        _expect(config, DegiroConfig, kind)
        return DegiroBroker(config, name=name)
    raise ConfigError(f"unknown broker kind {kind!r} (one of {', '.join(BROKER_KINDS)})", key="broker")


def _expect(config: Any, cls: type, kind: str) -> None:
    if not isinstance(config, cls):
        raise ConfigError(f"broker {kind!r} needs a {cls.__name__}, got {type(config).__name__}", key="config")
