"""Degiro through degiro-connector. EXPERIMENTAL: an unofficial web API that may change without notice.

Supported: account, positions, open orders, placing (check + confirm) and deleting orders. No market data
stream and no fills query: `fills_since` returns nothing, so reconcile positions rather than fills.

The execution seam: Degiro pushes nothing, so `execution_reports()` polls the open orders and the day's
transactions every `poll_interval` seconds and reports an order only when its state or fills changed.
`history()` reads Degiro's chart API (1-minute bars, the last day or week). Degiro has no clock endpoint:
`venue_time_ns()` is the `Date` header of Degiro's latest HTTP answer (its server's clock, whole seconds),
else the newest time in the data it returned; never this machine's clock.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import datetime as dt
import email.utils
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from degiro_connector.core.exceptions import CaptchaRequiredError, DeGiroConnectionError, MaintenanceError
from degiro_connector.quotecast.models.chart import ChartRequest, Interval
from degiro_connector.trading.api import API
from degiro_connector.trading.models.account import UpdateOption, UpdateRequest
from degiro_connector.trading.models.credentials import Credentials
from degiro_connector.trading.models.order import Action, TimeType
from degiro_connector.trading.models.order import HistoryRequest as OrdersHistoryRequest
from degiro_connector.trading.models.order import Order as DegiroOrder
from degiro_connector.trading.models.order import OrderType as DegiroType
from degiro_connector.trading.models.transaction import HistoryRequest as TransactionsRequest

from trading.brokers.degiro import parsing
from trading.brokers.degiro.config import DegiroConfig
from trading.brokers.protocol import (
    AccountReport,
    ExecutionReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    ReconciliationReport,
)
from trading.brokers.retry import Backoff, RateLimiter, retry_read
from trading.brokers.wire import iso_to_ns
from trading.data.bars import Bar
from trading.errors import BrokerError, FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import AssetClass, Instrument
from trading.model.orders import Order, OrderStatus, OrderType, TimeInForce

T = TypeVar("T")
VENUE = "degiro"
_UPDATE_OPTIONS = ("orders", "portfolio", "totalPortfolio")
MINUTE_NS = 60_000_000_000
POLL_FAILURES_BEFORE_RELOGIN = 3  # consecutive failed polls end the stream; the next one logs in again
TOTP_HINT = (
    "set DEGIRO_TOTP_SECRET (the base32 secret behind the authenticator app's codes) in the environment or in "
    "the credential store"
)
_OPEN = frozenset({OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
log = logging.getLogger(__name__)


class DegiroBroker:
    """One Degiro account (EXPERIMENTAL)."""

    experimental = True

    def __init__(self, config: DegiroConfig, *, name: str = "degiro", api: Any = None, charts: Any = None) -> None:
        self.name = name
        self.config = config
        self.venue = config.venue
        self._api = api
        self._charts = charts  # a ChartFetcher (built on first use: it needs the user token)
        self._limiter = RateLimiter(config.requests_per_second, per=1.0, burst=1)
        self._backoff = Backoff()
        self._coid_by_order: dict[str, ClientOrderId] = {}
        # What the report poller last saw, per Degiro order id (kept across stream restarts).
        self._orders: dict[str, OrderReport] = {}
        self._seen_transactions: set[str] = set()
        self._relogin = False
        self._server_time_ns: int | None = None  # the Date header of Degiro's latest answer
        self._data_time_ns: int | None = None  # the newest time in data Degiro returned
        if api is not None:
            self._watch_server_time(api)

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
        """Log in (again: safe to call after a dropped session). A refused login, a two-factor account without
        `DEGIRO_TOTP_SECRET`, a captcha or an in-app approval raise `StopTrading` saying what to do, never
        wait for a person; maintenance and timeouts are `RetryLater`."""
        if self._api is None:
            credentials = Credentials(
                username=self.config.username,
                password=self.config.password.reveal(),
                int_account=self.config.int_account,
                totp_secret_key=None if self.config.totp_secret is None else self.config.totp_secret.reveal(),
            )
            self._api = API(credentials=credentials)
        self._watch_server_time(self._api)
        await self._limiter.acquire()
        try:
            await asyncio.wait_for(asyncio.to_thread(self._api.connect), self.config.timeout)
        except TimeoutError as exc:
            raise RetryLater("degiro login timed out", venue=VENUE) from exc
        except MaintenanceError as exc:
            raise RetryLater(f"degiro is in scheduled maintenance: {exc}", venue=VENUE) from exc
        except CaptchaRequiredError as exc:
            raise StopTrading("degiro wants a captcha: log in once in a browser and solve it", venue=VENUE) from exc
        except DeGiroConnectionError as exc:
            status = getattr(getattr(exc, "error_details", None), "status", None)
            if status == 6:
                raise StopTrading(f"degiro account has two-factor login: {TOTP_HINT}", venue=VENUE) from exc
            if status == 12:
                raise StopTrading(
                    f"degiro asks to approve the login in its app, which cannot be done unattended: switch the "
                    f"account to authenticator-app codes and {TOTP_HINT}",
                    venue=VENUE,
                ) from exc
            raise StopTrading(f"degiro login failed: {exc}", venue=VENUE) from exc
        except (binascii.Error, ValueError) as exc:  # pyotp on a secret that is not base32
            raise StopTrading(f"DEGIRO_TOTP_SECRET is not a valid TOTP secret: {TOTP_HINT}", venue=VENUE) from exc
        except (ConnectionError, OSError) as exc:
            raise RetryLater(f"degiro login: {exc}", venue=VENUE) from exc
        except Exception as exc:  # the connector raises plain exceptions for a refused login
            raise StopTrading(f"degiro login failed: {type(exc).__name__}", venue=VENUE) from exc
        self._relogin = False

    def _watch_server_time(self, client: Any) -> None:
        """Keep the `Date` header of every answer on the connector's requests session (Degiro's clock)."""
        session = getattr(getattr(client, "session_storage", None), "session", None)
        hooks = getattr(session, "hooks", None)
        if isinstance(hooks, dict):
            response_hooks = hooks.setdefault("response", [])
            if self._note_server_time not in response_hooks:
                response_hooks.append(self._note_server_time)

    def _note_server_time(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        header = getattr(response, "headers", {}).get("Date")
        if header:
            with contextlib.suppress(TypeError, ValueError):
                moment = email.utils.parsedate_to_datetime(header)
                self._server_time_ns = int(moment.timestamp()) * 1_000_000_000
        return response

    def _note_data_time(self, ts: int) -> None:
        if ts > 0 and (self._data_time_ns is None or ts > self._data_time_ns):
            self._data_time_ns = ts

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

    # -- the execution seam -----------------------------------------------------------------------------
    async def execution_reports(self) -> AsyncIterator[ExecutionReport]:
        """Polled every `poll_interval` s: a report per order whose state or filled quantity changed, and
        one per new transaction of the day (with its fill). After `POLL_FAILURES_BEFORE_RELOGIN` failed
        polls in a row the stream ends with `RetryLater`; the next call logs in again first."""
        if self._relogin:
            await self.connect()
        failures = 0
        while True:
            try:
                reports = await self.poll_reports()
                failures = 0
            except RetryLater as exc:
                failures += 1
                log.warning("degiro report poll %d failed: %s", failures, exc)
                if failures >= POLL_FAILURES_BEFORE_RELOGIN:
                    self._relogin = True
                    raise
                reports = []
            for report in reports:
                yield report
            await asyncio.sleep(self.config.poll_interval)

    async def poll_reports(self) -> list[ExecutionReport]:
        """One poll: the day's new fills (each with its order as now), then orders whose state changed."""
        update = await self._update()
        now: dict[str, OrderReport] = {}
        for item in parsing.rows(update.get("orders")):
            report = parsing.order_report(item, self.venue, self._coid_by_order.get(str(item.get("id"))))
            now[str(report.venue_order_id)] = report
        gone = [oid for oid, last in self._orders.items() if oid not in now and last.status in _OPEN]
        if gone:
            finals = await self._orders_history()
            for oid in gone:
                row = finals.get(oid)
                final = None if row is None else parsing.final_order_report(row, self._orders[oid])
                if final is not None:  # else the history lags: next poll
                    now[oid] = final
        changed = {oid: r for oid, r in now.items() if _state(self._orders.get(oid)) != _state(r)}
        self._orders.update(now)
        out: list[ExecutionReport] = []
        for item in await self._transactions():
            owner = self._order_of(item)
            if owner is None:
                log.warning("degiro transaction %s matches no known order: left to reconciliation", item.get("id"))
                continue
            order = self._orders[owner]
            try:
                fill = parsing.transaction_fill(item, self.venue, order.client_order_id, self.config.currency)
            except (BrokerError, ValueError, ArithmeticError, KeyError) as exc:
                log.warning("degiro transaction %s dropped as malformed: %s", item.get("id"), exc)
                continue
            out.append(ExecutionReport(order, fill))
            changed.pop(owner, None)  # the fill's report carries the order's new state
        out += [ExecutionReport(report) for report in changed.values()]
        return out

    def _order_of(self, item: dict[str, Any]) -> str | None:
        """The Degiro order a transaction belongs to: its `orderId` where the row has one, else the only
        order we track on the same product and side (Degiro's transaction rows may not carry the order)."""
        order_id = item.get("orderId")
        if order_id is not None and str(order_id) in self._orders:
            return str(order_id)
        side = "buy" if item.get("buysell") == "B" else "sell"
        candidates = [
            oid
            for oid, r in self._orders.items()
            if r.instrument_id.symbol == str(item.get("productId")) and r.side.value == side
        ]
        return candidates[0] if len(candidates) == 1 else None

    async def _transactions(self) -> list[dict[str, Any]]:
        """The day's transactions not seen before (the request covers yesterday to tomorrow: Degiro's day
        is Amsterdam's, ours UTC)."""
        today = dt.datetime.now(dt.UTC).date()  # a date range for the request only, never market time
        request = TransactionsRequest(from_date=today - dt.timedelta(days=1), to_date=today + dt.timedelta(days=1))
        answer = await self._call(
            "transactions", self._api.get_transactions_history, transaction_request=request, raw=True
        )
        if not isinstance(answer, dict):
            raise RetryLater("degiro transactions returned nothing", venue=VENUE)
        fresh = []
        for item in answer.get("data") or []:
            key = str(item.get("id"))
            if key in self._seen_transactions:
                continue
            if item.get("date"):
                with contextlib.suppress(BrokerError, ValueError):
                    self._note_data_time(iso_to_ns(str(item["date"])))
            if self._order_of(item) is not None or item.get("orderId") is None:
                self._seen_transactions.add(key)
            fresh.append(item)
        return fresh

    async def _orders_history(self) -> dict[str, dict[str, Any]]:
        """The newest orders-history row per Degiro order id, for orders that left the open list."""
        today = dt.datetime.now(dt.UTC).date()  # a date range for the request only, never market time
        request = OrdersHistoryRequest(from_date=today - dt.timedelta(days=1), to_date=today + dt.timedelta(days=1))
        answer = await self._call("orders history", self._api.get_orders_history, history_request=request, raw=True)
        if not isinstance(answer, dict):
            raise RetryLater("degiro orders history returned nothing", venue=VENUE)
        newest: dict[str, dict[str, Any]] = {}
        for row in answer.get("data") or []:
            oid = str(row.get("orderId"))
            if oid not in newest or str(row.get("last") or "") >= str(newest[oid].get("last") or ""):
                newest[oid] = row
        return newest

    async def venue_time_ns(self) -> int:
        """Degiro's clock as its server last stated it (the `Date` header of a fresh answer), else the newest
        time in data Degiro returned. `RetryLater` if neither exists yet."""
        await self._update()
        if self._server_time_ns is not None:
            return self._server_time_ns
        if self._data_time_ns is not None:
            return self._data_time_ns
        raise RetryLater("degiro has not returned a time yet (no Date header, no timed data)", venue=VENUE)

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        """Closed 1-minute bars with `start_ns <= ts < end_ns` from Degiro's chart API, which serves them for
        a period back from now (the last day, or the last week); older starts are a `FixRequest`."""
        if end_ns <= start_ns:
            return []
        now = await self.venue_time_ns()
        span = now - start_ns
        if span <= 86_400 * 1_000_000_000:
            period = Interval.P1D
        elif span <= 7 * 86_400 * 1_000_000_000:
            period = Interval.P1W
        else:
            raise FixRequest("degiro history: 1-minute bars go back one week at most", venue=VENUE)
        series = await self._chart_series(instrument_id.symbol)
        charts = await self._chart_fetcher()
        request = ChartRequest(
            culture="en-US",
            period=period,
            requestid="1",
            resolution=Interval.PT1M,
            series=[f"ohlc:{series}", f"volume:{series}"],
            tz="UTC",
        )
        chart = await self._call("chart", charts.get_chart, chart_request=request, raw=True)
        if not isinstance(chart, dict):
            raise RetryLater(f"degiro chart for {instrument_id} returned nothing", venue=VENUE)
        bars = parsing.chart_bars(chart)
        if bars:
            self._note_data_time(bars[-1].ts)
        closed_before = min(end_ns, now - MINUTE_NS + 1)
        return [bar for bar in bars if start_ns <= bar.ts < closed_before]

    async def _chart_series(self, product_id: str) -> str:
        """`issueid:<vwdId>` (or the product's other vwd identifier) for the chart API."""
        if not product_id.isdigit():
            raise FixRequest(f"degiro instrument symbol must be a product id, got {product_id!r}", venue=VENUE)
        answer = await self._call(
            "products info", self._api.get_products_info, product_list=[int(product_id)], raw=True
        )
        info = ((answer or {}).get("data") or {}).get(product_id) if isinstance(answer, dict) else None
        if not info or not info.get("vwdId"):
            raise FixRequest(f"degiro has no chart for product {product_id} (no vwdId)", venue=VENUE)
        return f"{info.get('vwdIdentifierType') or 'issueid'}:{info['vwdId']}"

    async def _chart_fetcher(self) -> Any:
        if self._charts is None:
            details = await self._call("client details", self._api.get_client_details)
            user_token = ((details or {}).get("data") or {}).get("id") if isinstance(details, dict) else None
            if not user_token:
                raise RetryLater("degiro client details have no user id for the chart API", venue=VENUE)
            try:  # the connector's chart module needs polars, which it does not install by itself
                from degiro_connector.quotecast.tools.chart_fetcher import ChartFetcher  # noqa: PLC0415  (polars: optional)
            except ImportError as exc:
                raise FixRequest(f"degiro history needs the chart API's dependency: {exc}", venue=VENUE) from exc
            self._charts = ChartFetcher(user_token=int(user_token))
        self._watch_server_time(self._charts)
        return self._charts

    async def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        raise FixRequest("degiro market data is not supported by this adapter", venue=VENUE)
        yield  # pragma: no cover - makes this an async generator


def _state(report: OrderReport | None) -> tuple[Any, ...] | None:
    if report is None:
        return None
    return (report.status, report.filled_quantity, report.quantity, report.limit_price, report.stop_price)
