"""Shared broker pieces: credentials, settings validation, routing, backoff, rate limiting, the factory."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from trading import brokers
from trading.brokers import (
    Backoff,
    CredentialStore,
    FeeSchedule,
    OrderRouter,
    RateLimiter,
    RoutingTable,
    Secret,
    SettingsSource,
    config_from_settings,
    create_broker,
    retry_read,
)
from trading.brokers.alpaca.config import AlpacaConfig
from trading.brokers.alpaca.execution import AlpacaBroker
from trading.brokers.ccxt.execution import CcxtBroker
from trading.brokers.credentials import create_key_file, load_key
from trading.brokers.degiro import parsing as degiro
from trading.brokers.degiro.config import DegiroConfig
from trading.brokers.ib.execution import IBBroker
from trading.brokers.protocol import Broker
from trading.errors import ConfigError, FixRequest, RetryLater
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType

SECRET = "s3cr3t-do-not-log"


def test_public_api_is_what_we_meant() -> None:
    assert set(brokers.__all__) == {
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
    }


def test_secret_never_shows_in_repr_str_format_or_logs(caplog: Any) -> None:
    secret = Secret(SECRET)
    config = AlpacaConfig(api_key=Secret("AKLIVE"), secret_key=secret, paper=False)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("config %s %r %s", config, config, f"{secret}")
    assert SECRET not in caplog.text and SECRET not in repr(config) and SECRET not in str(secret)
    assert secret.reveal() == SECRET


def test_credentials_round_trip_through_the_encrypted_store(tmp_path: Path) -> None:
    env = {"DTO_HOME": str(tmp_path)}
    key_file = create_key_file(env)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    store = CredentialStore.open(env)
    store.set("ALPACA_SECRET_KEY", SECRET)
    raw = (tmp_path / "credentials.enc").read_bytes()
    assert SECRET.encode() not in raw
    assert stat.S_IMODE((tmp_path / "credentials.enc").stat().st_mode) == 0o600
    again = CredentialStore.open(env)
    assert again.get("ALPACA_SECRET_KEY") == Secret(SECRET) and SECRET not in repr(again)
    source = SettingsSource(env={"ALPACA_API_KEY": "PKX"}, store=again)
    assert AlpacaConfig.from_settings(source).secret_key.reveal() == SECRET


def test_key_from_env_wins_and_a_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    assert load_key({"DTO_SECRET_KEY": key, "DTO_HOME": str(tmp_path)}) == key.encode()
    path = create_key_file({"DTO_HOME": str(tmp_path)})
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        load_key({"DTO_HOME": str(tmp_path)})
    assert caught.value.key == "DTO_SECRET_KEY"
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        load_key({"DTO_SECRET_KEY": "short"})


def test_missing_and_wrong_settings_name_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_settings("alpaca", SettingsSource(env={"ALPACA_API_KEY": "PK1"}))
    assert caught.value.key == "ALPACA_SECRET_KEY"
    with pytest.raises(ConfigError) as caught:
        config_from_settings(
            "alpaca", SettingsSource(env={"ALPACA_API_KEY": "PK1", "ALPACA_SECRET_KEY": "x", "ALPACA_PAPER": "maybe"})
        )
    assert caught.value.key == "ALPACA_PAPER"
    with pytest.raises(ConfigError) as caught:
        config_from_settings("ib", SettingsSource(env={"IB_PORT": "seventy"}))
    assert caught.value.key == "IB_PORT"
    with pytest.raises(ConfigError) as caught:
        config_from_settings("degiro", SettingsSource(env={"DEGIRO_USERNAME": "me"}))
    assert caught.value.key == "DEGIRO_PASSWORD"
    with pytest.raises(ConfigError) as caught:
        config_from_settings("nope", SettingsSource(env={}))
    assert caught.value.key == "broker"


def test_create_broker_builds_each_adapter_and_each_satisfies_the_protocol() -> None:
    env = {
        "ALPACA_API_KEY": "PK1",
        "ALPACA_SECRET_KEY": SECRET,
        "CCXT_API_KEY": "k",
        "CCXT_SECRET": SECRET,
        "DEGIRO_USERNAME": "me",
        "DEGIRO_PASSWORD": SECRET,
        "DEGIRO_INT_ACCOUNT": "1234567",
    }
    built = {
        kind: create_broker(kind, config_from_settings(kind, SettingsSource(env=env)))
        for kind in ("alpaca", "ccxt", "ib", "degiro")
    }
    assert isinstance(built["alpaca"], AlpacaBroker) and isinstance(built["ccxt"], CcxtBroker)
    assert isinstance(built["ib"], IBBroker)
    for broker in built.values():
        assert isinstance(broker, Broker)
        assert SECRET not in repr(broker)
    asyncio.run(built["ccxt"].close())  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="needs a CcxtConfig"):
        create_broker("binance", built["alpaca"].config, kind="ccxt")  # type: ignore[attr-defined]


def _order(venue: str, broker: str = "", price: str | None = "100") -> Order:
    return Order(
        client_order_id=ClientOrderId("c1"),
        strategy_id=StrategyId("s"),
        instrument_id=InstrumentId("BTC/USDT", venue),
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT if price else OrderType.MARKET,
        quantity=Decimal("2"),
        limit_price=Decimal(price) if price else None,
        broker=broker,
    )


def test_routing_by_named_broker_by_venue_and_by_cost() -> None:
    table = RoutingTable(
        venues={"BINANCE": ["binance-main"], "CRYPTO": ["binance-main", "kraken"], "ALPACA": ["alpaca"]},
        fees={"binance-main": FeeSchedule(rate=Decimal("0.001")), "kraken": FeeSchedule(rate=Decimal("0.0016"))},
    )
    router = OrderRouter(table)
    assert router.route(_order("BINANCE")) == "binance-main"
    assert router.route(_order("CRYPTO", broker="kraken")) == "kraken"
    assert router.route(_order("CRYPTO")) == "binance-main"  # cheaper at 10 bps
    cheaper_kraken = OrderRouter(
        RoutingTable(
            venues={"CRYPTO": ["binance-main", "kraken"]},
            fees={"binance-main": FeeSchedule(per_order=Decimal("5")), "kraken": FeeSchedule(rate=Decimal("0.001"))},
        )
    )
    assert cheaper_kraken.route(_order("CRYPTO")) == "kraken"
    with pytest.raises(FixRequest, match="not connected"):
        router.route(_order("CRYPTO", broker="ftx"))
    with pytest.raises(FixRequest, match="no broker routes venue NYSE"):
        router.route(_order("NYSE"))
    assert OrderRouter(RoutingTable(default="paper")).route(_order("NYSE")) == "paper"
    with pytest.raises(ConfigError):
        RoutingTable(venues={"X": ["a"]}, fees={"b": FeeSchedule()})


def test_retry_read_backs_off_honours_retry_after_and_gives_up() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) < 3:
            raise RetryLater("busy", retry_after=0.05 if len(calls) == 1 else None)
        return "ok"

    assert asyncio.run(retry_read(flaky, backoff=Backoff(attempts=3, base=0.001, jitter=False))) == "ok"
    assert calls[1] - calls[0] >= 0.05
    calls.clear()

    async def down() -> str:
        calls.append(0)
        raise RetryLater("down")

    with pytest.raises(RetryLater):
        asyncio.run(retry_read(down, backoff=Backoff(attempts=2, base=0.001)))
    assert len(calls) == 2


def test_rate_limiter_spaces_calls_beyond_the_burst() -> None:
    async def scenario() -> float:
        limiter = RateLimiter(20, per=1.0, burst=2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(6):
            await limiter.acquire()
        return loop.time() - start

    elapsed = asyncio.run(scenario())
    assert 0.18 <= elapsed < 1.0  # 2 free, then 4 at 20/s


def test_degiro_update_rows_parse_into_positions_orders_and_account() -> None:
    update = {
        "portfolio": {
            "value": [
                {
                    "name": "positionrow",
                    "id": "332111",
                    "value": [
                        {"name": "id", "value": "332111"},
                        {"name": "positionType", "value": "PRODUCT"},
                        {"name": "size", "value": 10},
                        {"name": "breakEvenPrice", "value": 171.25},
                    ],
                },
                {
                    "name": "positionrow",
                    "id": "EUR",
                    "value": [
                        {"name": "id", "value": "EUR"},
                        {"name": "positionType", "value": "CASH"},
                        {"name": "size", "value": 500.5},
                    ],
                },
            ]
        },
        "orders": {
            "value": [
                {
                    "name": "order",
                    "id": "abc-1",
                    "value": [
                        {"name": "id", "value": "abc-1"},
                        {"name": "productId", "value": 332111},
                        {"name": "buysell", "value": "B"},
                        {"name": "orderTypeId", "value": 0},
                        {"name": "price", "value": 170.5},
                        {"name": "size", "value": 5},
                        {"name": "quantity", "value": 5},
                        {"name": "orderTimeTypeId", "value": 3},
                    ],
                }
            ]
        },
        "totalPortfolio": {
            "value": [
                {"name": "totalCash", "value": 500.5},
                {"name": "reportPortfValue", "value": 1712.5},
                {"name": "freeSpaceNew", "value": {"EUR": 480.25}},
            ]
        },
    }
    (position,) = degiro.position_reports(update, "DEGIRO")
    assert position.instrument_id == InstrumentId("332111", "DEGIRO") and position.avg_price == Decimal("171.25")
    (order,) = [degiro.order_report(r, "DEGIRO", "c9") for r in degiro.rows(update["orders"])]
    assert order.client_order_id == "c9" and order.limit_price == Decimal("170.5")
    assert order.status is OrderStatus.ACCEPTED
    account = degiro.account_report(update, 1234567, "EUR")
    assert account.equity == Decimal("2213.0") and account.buying_power == Decimal("480.25")
    assert SECRET not in repr(DegiroConfig(username="me", password=Secret(SECRET), int_account=1))
