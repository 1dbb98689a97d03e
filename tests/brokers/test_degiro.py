"""Degiro (EXPERIMENTAL): the execution seam against a stub of degiro-connector's `API` object.

No Degiro server can run here and Degiro has no paper account, so nothing in this file has touched Degiro:
the stub answers the connector calls the adapter makes (`get_update`, `get_transactions_history`,
`get_orders_history`, `get_products_info`, `get_client_details`, a `ChartFetcher.get_chart`) with payloads
in the shapes the connector's models describe, and raises the connector's own login exceptions.
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from degiro_connector.core.exceptions import CaptchaRequiredError, DeGiroConnectionError

from trading.brokers.credentials import Secret
from trading.brokers.degiro.config import DegiroConfig
from trading.brokers.degiro.execution import DegiroBroker
from trading.brokers.retry import Backoff
from trading.brokers.settings import SettingsSource
from trading.errors import FixRequest, RetryLater, StopTrading
from trading.model.identifiers import InstrumentId
from trading.model.orders import OrderSide, OrderStatus

T0_NS = 1714660200 * 1_000_000_000  # 2024-05-02 14:30:00 UTC
DATE_HEADER = "Thu, 02 May 2024 14:31:30 GMT"


def _row(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "value": [{"name": k, "value": v} for k, v in fields.items()]}


def order_row(remaining: int, quantity: int = 10) -> dict[str, Any]:
    return _row(
        "order",
        {
            "id": "f1e2d3",
            "productId": 332111,
            "buysell": "B",
            "size": remaining,
            "quantity": quantity,
            "price": 12.34,
            "orderTypeId": 0,
            "orderTimeTypeId": 1,
        },
    )


class StubAPI:
    """What the adapter calls on degiro-connector's `API`, answering from attributes the test sets."""

    def __init__(self) -> None:
        self.session_storage = SimpleNamespace(session=requests.Session())
        self.orders: list[dict[str, Any]] = []
        self.transactions: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.date_header: str | None = DATE_HEADER
        self.login_error: BaseException | None = None
        self.login_hangs = False
        self.logins = 0
        self.fail_updates = False

    def _answered(self) -> None:
        response = requests.Response()
        if self.date_header:
            response.headers["Date"] = self.date_header
        for hook in self.session_storage.session.hooks["response"]:
            hook(response)

    def connect(self) -> None:
        self.logins += 1
        if self.login_hangs:
            threading.Event().wait(1.0)
        if self.login_error is not None:
            raise self.login_error

    def get_update(self, request_list: Any, raw: bool) -> dict[str, Any] | None:
        if self.fail_updates:
            return None
        self._answered()
        return {"orders": {"value": self.orders}, "portfolio": {"value": []}, "totalPortfolio": {"value": []}}

    def get_transactions_history(self, transaction_request: Any, raw: bool) -> dict[str, Any]:
        self._answered()
        return {"data": self.transactions}

    def get_orders_history(self, history_request: Any, raw: bool) -> dict[str, Any]:
        self._answered()
        return {"data": self.history}

    def get_products_info(self, product_list: list[int], raw: bool) -> dict[str, Any]:
        return {"data": {"332111": {"id": "332111", "vwdId": "360148977", "vwdIdentifierType": "issueid"}}}

    def get_client_details(self) -> dict[str, Any]:
        return {"data": {"id": 123456, "intAccount": 7654321}}

    def logout(self) -> None:
        pass


class StubCharts:
    def __init__(self) -> None:
        self.session_storage = SimpleNamespace(session=requests.Session())
        self.requests: list[Any] = []

    def get_chart(self, chart_request: Any, raw: bool) -> dict[str, Any]:
        self.requests.append(chart_request)
        return {
            "requestid": "1",
            "resolution": "PT1M",
            "start": "2024-05-02T14:28:00",
            "end": "2024-05-02T14:31:00",
            "series": [
                {
                    "id": "ohlc:issueid:360148977",
                    "type": "ohlc",
                    "times": "2024-05-02T14:28:00/PT1M",
                    "expires": "2024-05-02T14:32:00",
                    "data": [[0, 12.1, 12.3, 12.0, 12.2], [2, 12.2, 12.4, 12.2, 12.35], [3, 12.35, 12.4, 12.3, 12.3]],
                },
                {
                    "id": "volume:issueid:360148977",
                    "type": "time",
                    "times": "2024-05-02T14:28:00/PT1M",
                    "expires": "2024-05-02T14:32:00",
                    "data": [[0, 300], [2, 150], [3, 20]],
                },
            ],
        }


def config(**kwargs: Any) -> DegiroConfig:
    return DegiroConfig(
        username="trader", password=Secret("pw"), int_account=7654321, timeout=0.3, requests_per_second=1000.0, **kwargs
    )


def broker(api: StubAPI, **kwargs: Any) -> DegiroBroker:
    return DegiroBroker(config(poll_interval=0.01, **kwargs), api=api, charts=StubCharts())


def test_poll_reports_an_order_only_when_its_state_or_fills_change() -> None:
    api = StubAPI()
    degiro = broker(api)

    async def scenario() -> list[list[Any]]:
        await degiro.connect()
        polls = []
        api.orders = [order_row(remaining=10)]
        polls.append(await degiro.poll_reports())
        polls.append(await degiro.poll_reports())  # nothing changed: nothing reported
        api.orders = [order_row(remaining=6)]
        api.transactions = [
            {
                "id": 9001,
                "productId": 332111,
                "date": "2024-05-02T16:30:05+02:00",
                "buysell": "B",
                "price": 12.34,
                "quantity": 4,
                "totalFeesInBaseCurrency": -2.0,
                "feeInBaseCurrency": -2.0,
            },
        ]
        polls.append(await degiro.poll_reports())
        api.orders = []
        api.transactions.append(
            {
                "id": 9002,
                "orderId": "f1e2d3",
                "productId": 332111,
                "date": "2024-05-02T16:31:00+02:00",
                "buysell": "B",
                "price": 12.33,
                "quantity": 6,
                "feeInBaseCurrency": -1.0,
            }
        )
        api.history = [
            {
                "orderId": "f1e2d3",
                "status": "CONFIRMED",
                "size": 10,
                "totalTradedSize": 4,
                "active": True,
                "last": "2024-05-02T16:30:05+02:00",
            },
            {
                "orderId": "f1e2d3",
                "status": "CONFIRMED",
                "size": 10,
                "totalTradedSize": 10,
                "active": False,
                "last": "2024-05-02T16:31:00+02:00",
            },
        ]
        polls.append(await degiro.poll_reports())
        polls.append(await degiro.poll_reports())
        return polls

    first, second, third, fourth, fifth = asyncio.run(scenario())
    assert [r.order.status for r in first] == [OrderStatus.ACCEPTED] and first[0].fill is None
    assert first[0].order.instrument_id == InstrumentId("332111", "DEGIRO") and first[0].order.side is OrderSide.BUY
    assert second == [] and fifth == []
    (partial,) = third  # one report: the fill carries the order's new state
    assert partial.order.status is OrderStatus.PARTIALLY_FILLED and partial.order.filled_quantity == Decimal(4)
    assert (
        partial.fill is not None and partial.fill.trade_id == "9001" and partial.fill.client_order_id == "degiro-f1e2d3"
    )
    assert (partial.fill.quantity, partial.fill.price, partial.fill.commission, partial.fill.currency) == (
        Decimal(4),
        Decimal("12.34"),
        Decimal("2.0"),
        "EUR",
    )
    assert partial.fill.ts == T0_NS + 5 * 1_000_000_000
    (filled,) = fourth
    assert filled.order.status is OrderStatus.FILLED and filled.order.filled_quantity == Decimal(10)
    assert filled.fill is not None and filled.fill.trade_id == "9002" and filled.fill.quantity == Decimal(6)


def test_an_order_deleted_at_degiro_is_reported_canceled_once_the_history_says_so() -> None:
    api = StubAPI()
    degiro = broker(api)

    async def scenario() -> list[list[Any]]:
        api.orders = [order_row(remaining=10)]
        polls = [await degiro.poll_reports()]
        api.orders = []
        api.history = [{"orderId": "f1e2d3", "status": "CONFIRMED", "size": 10, "totalTradedSize": 0, "active": True}]
        polls.append(await degiro.poll_reports())  # the history lags the open list: wait
        api.history = [{"orderId": "f1e2d3", "status": "DELETED", "size": 10, "totalTradedSize": 0, "active": False}]
        polls.append(await degiro.poll_reports())
        return polls

    _, lagging, deleted = asyncio.run(scenario())
    assert lagging == []
    assert [r.order.status for r in deleted] == [OrderStatus.CANCELED] and "DELETED" in deleted[0].order.reason


def test_report_stream_ends_after_failed_polls_and_the_next_stream_logs_in_again() -> None:
    api = StubAPI()
    degiro = broker(api)

    async def scenario() -> None:
        await degiro.connect()
        api.fail_updates = True
        degiro._backoff = Backoff(attempts=1, base=0.01, cap=0.02)  # one read attempt per poll: a short test
        with pytest.raises(RetryLater):
            async for _ in degiro.execution_reports():
                pass
        api.fail_updates = False
        api.orders = [order_row(remaining=10)]
        stream: Any = degiro.execution_reports()
        report = await asyncio.wait_for(stream.__anext__(), 5)
        await stream.aclose()
        assert report.order.status is OrderStatus.ACCEPTED

    asyncio.run(scenario())
    assert api.logins == 2


def test_two_factor_account_without_a_totp_secret_stops_trading_naming_the_setting() -> None:
    api = StubAPI()
    api.login_error = DeGiroConnectionError(
        '2FA is enabled, please provide the "totp_secret".', SimpleNamespace(status=6)
    )
    with pytest.raises(StopTrading, match=r"DEGIRO_TOTP_SECRET.*credential store"):
        asyncio.run(broker(api).connect())
    api.login_error = DeGiroConnectionError("approve in app", SimpleNamespace(status=12))
    with pytest.raises(StopTrading, match="DEGIRO_TOTP_SECRET"):
        asyncio.run(broker(api).connect())
    api.login_error = CaptchaRequiredError("Captcha required.", SimpleNamespace(status=0))
    with pytest.raises(StopTrading, match="captcha"):
        asyncio.run(broker(api).connect())


def test_a_login_that_hangs_is_retry_later_after_the_timeout_never_a_hang() -> None:
    api = StubAPI()
    api.login_hangs = True
    with pytest.raises(RetryLater, match="timed out"):
        asyncio.run(broker(api).connect())


def test_totp_secret_comes_from_the_credential_store_when_the_environment_has_none() -> None:
    class Store:
        def get(self, name: str) -> Secret | None:
            return Secret("JBSWY3DPEHPK3PXP") if name == "DEGIRO_TOTP_SECRET" else None

    env = {
        "DEGIRO_USERNAME": "trader",
        "DEGIRO_PASSWORD": "pw",
        "DEGIRO_INT_ACCOUNT": "7654321",
        "DEGIRO_POLL_INTERVAL": "2",
    }
    loaded = DegiroConfig.from_settings(SettingsSource(env=env, store=Store()))  # type: ignore[arg-type]
    assert loaded.totp_secret is not None and loaded.totp_secret.reveal() == "JBSWY3DPEHPK3PXP"
    assert loaded.poll_interval == 2.0


def test_venue_time_is_degiros_date_header_else_the_newest_data_never_our_clock() -> None:
    api = StubAPI()
    assert asyncio.run(broker(api).venue_time_ns()) == T0_NS + 90 * 1_000_000_000
    api.date_header = None
    with pytest.raises(RetryLater, match="not returned a time"):
        asyncio.run(broker(api).venue_time_ns())
    degiro = broker(api)
    api.transactions = [
        {"id": 1, "productId": 1, "date": "2024-05-02T16:30:05+02:00", "buysell": "B", "price": 1, "quantity": 1}
    ]
    asyncio.run(degiro.poll_reports())
    assert asyncio.run(degiro.venue_time_ns()) == T0_NS + 5 * 1_000_000_000


def test_history_is_closed_one_minute_bars_from_the_chart_api() -> None:
    api = StubAPI()  # Degiro's clock: 14:31:30, so the 14:31 bar is still forming
    degiro = broker(api)
    bars = asyncio.run(
        degiro.history(InstrumentId("332111", "DEGIRO"), T0_NS - 3_600_000_000_000, T0_NS + 3_600_000_000_000)
    )
    assert [(b.ts, b.close, b.volume) for b in bars] == [
        (T0_NS - 120_000_000_000, 12.2, 300.0),
        (T0_NS, 12.35, 150.0),
    ]
    request = degiro._charts.requests[0]
    assert request.series == ["ohlc:issueid:360148977", "volume:issueid:360148977"]
    assert (request.resolution.value, request.period.value, request.tz) == ("PT1M", "P1D", "UTC")
    with pytest.raises(FixRequest, match="one week"):
        asyncio.run(degiro.history(InstrumentId("332111", "DEGIRO"), T0_NS - 8 * 86_400_000_000_000, T0_NS))
