"""Broker adapters behind one protocol: Alpaca (alpaca-py), crypto exchanges (ccxt), Interactive Brokers
(ib_insync) and Degiro (degiro-connector, experimental). No Ray in here: actors host these objects.

Public API: the protocol and report types, `create_broker`, routing, retry / rate limiting and credentials.
"""

from trading.brokers.credentials import CredentialStore, Secret
from trading.brokers.errors import RateLimited
from trading.brokers.protocol import (
    AccountReport,
    BarEvent,
    Broker,
    MarketEvent,
    OrderReport,
    PositionReport,
    QuoteEvent,
    ReconciliationReport,
    TradeEvent,
)
from trading.brokers.registry import BROKER_KINDS, config_from_settings, create_broker
from trading.brokers.retry import Backoff, RateLimiter, retry_read
from trading.brokers.routing import FeeSchedule, OrderRouter, RoutingTable
from trading.brokers.settings import SettingsSource

__all__ = [
    "BROKER_KINDS",
    "AccountReport",
    "Backoff",
    "BarEvent",
    "Broker",
    "CredentialStore",
    "FeeSchedule",
    "MarketEvent",
    "OrderReport",
    "OrderRouter",
    "PositionReport",
    "QuoteEvent",
    "RateLimited",
    "RateLimiter",
    "ReconciliationReport",
    "RoutingTable",
    "Secret",
    "SettingsSource",
    "TradeEvent",
    "config_from_settings",
    "create_broker",
    "retry_read",
]
