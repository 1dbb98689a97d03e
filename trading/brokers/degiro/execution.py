"""Degiro through degiro-connector. EXPERIMENTAL: an unofficial web API that may change without notice.

Supported: account, positions, open orders, placing (check + confirm) and deleting orders. No market data
stream and no fills query: `fills_since` returns nothing, so reconcile positions rather than fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from degiro_connector.trading.api import API
from degiro_connector.trading.models.account import UpdateOption, UpdateRequest
from degiro_connector.trading.models.credentials import Credentials
from degiro_connector.trading.models.order import Action, TimeType
from degiro_connector.trading.models.order import Order as DegiroOrder
from degiro_connector.trading.models.order import OrderType as DegiroType

from trading.brokers.degiro import parsing
from trading.brokers.degiro.config import DegiroConfig
from trading.brokers.protocol import AccountReport, MarketEvent, OrderReport, PositionReport, ReconciliationReport
from trading.brokers.retry import Backoff, RateLimiter, retry_read
from trading.errors import FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import AssetClass, Instrument
from trading.model.orders import Order, OrderType, TimeInForce

T = TypeVar("T")
VENUE = "degiro"
_UPDATE_OPTIONS = ("orders", "portfolio", "totalPortfolio")


class DegiroBroker:
    """One Degiro account (EXPERIMENTAL)."""

    experimental = True

    def __init__(self, config: DegiroConfig, *, name: str = "degiro", api: Any = None) -> None:
        self.name = name
        self.config = config
        self.venue = config.venue
        self._api = api
        self._limiter = RateLimiter(config.requests_per_second, per=1.0, burst=1)
        self._backoff = Backoff()
        self._coid_by_order: dict[str, ClientOrderId] = {}

    def __repr__(self) -> str:
        return f"DegiroBroker(name={self.name!r}, config={self.config!r}, experimental=True)"

    async def _call(self, action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        await self._limiter.acquire()
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), self.config.timeout)
        except TimeoutError as exc:
            raise RetryLater(f"degiro {action} timed out", venue=VENUE) from exc
        except ConnectionError as exc:
            raise RetryLater(f"degiro {action}: {exc}", venue=VENUE) from exc

    async def connect(self) -> None:
        if self._api is None:
            credentials = Credentials(
                username=self.config.username,
                password=self.config.password.reveal(),
                int_account=self.config.int_account,
                totp_secret_key=None if self.config.totp_secret is None else self.config.totp_secret.reveal(),
            )
            self._api = API(credentials=credentials)
        try:
            await self._call("connect", self._api.connect)
        except RetryLater:
            raise
        except Exception as exc:  # the connector raises plain exceptions for a refused login
            raise StopTrading(f"degiro login failed: {type(exc).__name__}", venue=VENUE) from exc

    async def close(self) -> None:
        if self._api is not None:
            with contextlib.suppress(Exception):  # logging out is best effort
                await self._call("logout", self._api.logout)

    async def _update(self) -> dict[str, Any]:
        requests = [UpdateRequest(option=UpdateOption(o), last_updated=0) for o in _UPDATE_OPTIONS]

        async def once() -> dict[str, Any]:
            result = await self._call("update", self._api.get_update, request_list=requests, raw=True)
            if not isinstance(result, dict):
                raise RetryLater("degiro update returned nothing", venue=VENUE)
            return result

        return await retry_read(once, backoff=self._backoff, what="degiro update")

    async def submit_order(self, order: Order) -> OrderReport:
        kinds = {
            OrderType.LIMIT: DegiroType.LIMIT,
            OrderType.MARKET: DegiroType.MARKET,
            OrderType.STOP: DegiroType.STOP_LOSS,
            OrderType.STOP_LIMIT: DegiroType.STOP_LIMIT,
        }
        if order.order_type not in kinds or order.time_in_force not in (TimeInForce.DAY, TimeInForce.GTC):
            raise FixRequest("degiro supports market/limit/stop/stop-limit orders, DAY or GTC", venue=VENUE)
        request = DegiroOrder(
            buy_sell=Action.BUY if order.side.value == "buy" else Action.SELL,
            order_type=kinds[order.order_type],
            price=None if order.limit_price is None else float(order.limit_price),
            stop_price=None if order.stop_price is None else float(order.stop_price),
            product_id=int(order.instrument_id.symbol),
            size=float(order.quantity),
            time_type=TimeType.GOOD_TILL_CANCELED if order.time_in_force is TimeInForce.GTC else TimeType.GOOD_TILL_DAY,
        )
        checked = await self._call("check order", self._api.check_order, order=request)
        if checked is None:
            raise FixRequest(f"degiro refused order {order.client_order_id} at check", venue=VENUE)
        try:
            confirmed = await self._call(
                "confirm order", self._api.confirm_order, confirmation_id=checked.confirmation_id, order=request
            )
        except RetryLater as exc:
            raise OrderStateUnknown(
                f"degiro confirm of {order.client_order_id} unanswered",
                venue=VENUE,
                client_order_id=order.client_order_id,
            ) from exc
        if confirmed is None or not getattr(confirmed, "order_id", None):
            raise FixRequest(f"degiro refused order {order.client_order_id} at confirm", venue=VENUE)
        self._coid_by_order[str(confirmed.order_id)] = order.client_order_id
        report = next((r for r in await self.open_orders() if r.client_order_id == order.client_order_id), None)
        if report is None:
            raise OrderStateUnknown(
                f"degiro order {confirmed.order_id} not listed yet", venue=VENUE, client_order_id=order.client_order_id
            )
        return report

    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None:
        return next((r for r in await self.open_orders() if r.client_order_id == client_order_id), None)

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport:
        report = await self.get_order(client_order_id)
        if report is None:
            raise FixRequest(f"degiro has no open order {client_order_id}", venue=VENUE)
        await self._call("delete order", self._api.delete_order, order_id=report.venue_order_id)
        return report

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport:
        raise FixRequest("degiro replace is not supported by this adapter: cancel and submit", venue=VENUE)

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]:
        update = await self._update()
        reports = []
        for item in parsing.rows(update.get("orders")):
            coid = self._coid_by_order.get(str(item.get("id")))
            report = parsing.order_report(item, self.venue, coid)
            if instrument_id is None or report.instrument_id == instrument_id:
                reports.append(report)
        return reports

    async def fills_since(self, since_ns: int) -> list[Fill]:
        return []

    async def positions(self) -> list[PositionReport]:
        return parsing.position_reports(await self._update(), self.venue)

    async def account(self) -> AccountReport:
        return parsing.account_report(await self._update(), self.config.int_account, self.config.currency)

    async def instrument(self, symbol: str) -> Instrument:
        return Instrument(InstrumentId(symbol, self.venue), AssetClass.EQUITY, self.config.currency, Decimal("0.01"))

    async def reconcile(self, since_ns: int) -> ReconciliationReport:
        update = await self._update()
        orders = [
            parsing.order_report(i, self.venue, self._coid_by_order.get(str(i.get("id"))))
            for i in parsing.rows(update.get("orders"))
        ]
        return ReconciliationReport(
            orders,
            [],
            parsing.position_reports(update, self.venue),
            parsing.account_report(update, self.config.int_account, self.config.currency),
            time.time_ns(),
        )

    async def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        raise FixRequest("degiro market data is not supported by this adapter", venue=VENUE)
        yield  # pragma: no cover - makes this an async generator
