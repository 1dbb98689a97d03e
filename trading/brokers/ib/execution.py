"""Interactive Brokers through ib_insync: one API session with TWS or IB Gateway.

IB Gateway and TWS restart once a day; when the socket drops, a reconnect loop with backoff brings the
session back (ib_insync re-syncs orders, positions and account values on connect). IB has no client order
id field: ours travels in `orderRef`, which IB keeps on the order and on every execution.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from ib_insync import IB, ExecutionFilter
from ib_insync.order import Trade

from trading.brokers.ib import parsing
from trading.brokers.ib.config import IBConfig
from trading.brokers.protocol import (
    AccountReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    QuoteEvent,
    ReconciliationReport,
    TradeEvent,
)
from trading.brokers.retry import Backoff, RateLimiter, retry_read
from trading.brokers.write_path import submit_once
from trading.errors import FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.model.orders import Order

log = logging.getLogger(__name__)
VENUE = "ib"


class IBBroker:
    """One TWS / IB Gateway session (stocks, futures, forex)."""

    def __init__(
        self, config: IBConfig, *, name: str = "ib", ib: IB | None = None, read_backoff: Backoff | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.venue = config.venue
        self.ib: Any = ib if ib is not None else IB()  # type: ignore[no-untyped-call]
        self._limiter = RateLimiter(config.messages_per_second, per=1.0)
        self._read_backoff = read_backoff or Backoff()
        self._reconnect = Backoff(attempts=1, base=config.reconnect_min, cap=config.reconnect_max)
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self.reconnect_attempts = 0
        self.ib.disconnectedEvent += self._on_disconnected

    def __repr__(self) -> str:
        return f"IBBroker(name={self.name!r}, config={self.config!r})"

    # -- connection -------------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect once; `RetryLater` if TWS / Gateway is not there or does not complete the handshake."""
        self._closing = False
        try:
            await self.ib.connectAsync(
                self.config.host,
                self.config.port,
                clientId=self.config.client_id,
                timeout=self.config.connect_timeout,
                readonly=self.config.readonly,
                account=self.config.account,
            )
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise RetryLater(
                f"IB API at {self.config.host}:{self.config.port} not ready: {exc!r}", venue=VENUE
            ) from exc
        if self.config.account and self.config.account not in self.ib.managedAccounts():
            self.ib.disconnect()
            raise StopTrading(f"IB login does not manage account {self.config.account}", venue=VENUE)

    def _on_disconnected(self) -> None:
        if self._closing:
            return
        log.warning("IB session to %s:%s dropped; reconnecting", self.config.host, self.config.port)
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to reconnect from
            if self._reconnect_task is None or self._reconnect_task.done():
                self._reconnect_task = asyncio.get_running_loop().create_task(self.reconnect_forever())

    async def reconnect_forever(self) -> None:
        """Try to connect with capped exponential backoff until connected or closed (daily gateway restart)."""
        attempt = 0
        while not self._closing and not self.ib.isConnected():
            self.reconnect_attempts += 1
            try:
                await self.connect()
                log.info("IB session restored after %d attempt(s)", attempt + 1)
                return
            except RetryLater as exc:
                wait = self._reconnect.delay(min(attempt, 10))
                log.warning("IB reconnect attempt %d failed (%s); next in %.1fs", attempt + 1, exc, wait)
                attempt += 1
                await asyncio.sleep(wait)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnect_task
        self.ib.disconnect()

    def _require_connection(self) -> None:
        if not self.ib.isConnected():
            raise RetryLater("IB session is not connected (gateway restarting?)", venue=VENUE)

    async def _read(self, action: str, call: Any) -> Any:
        async def once() -> Any:
            self._require_connection()
            await self._limiter.acquire()
            try:
                return await asyncio.wait_for(call(), self.config.request_timeout)
            except TimeoutError as exc:
                raise RetryLater(f"IB {action} timed out", venue=VENUE) from exc
            except ConnectionError as exc:
                raise RetryLater(f"IB {action}: connection lost", venue=VENUE) from exc

        return await retry_read(once, backoff=self._read_backoff, what=f"IB {action}")

    # -- orders -----------------------------------------------------------------------------------------
    def _trade_for(self, client_order_id: str) -> Trade | None:
        matches = [t for t in self.ib.trades() if t.order.orderRef == client_order_id]
        return matches[-1] if matches else None

    async def submit_order(self, order: Order) -> OrderReport:
        if order.instrument_id.venue != self.venue:
            raise FixRequest(f"{order.instrument_id} is not an {self.venue} instrument", venue=VENUE)
        self._require_connection()
        if self._trade_for(order.client_order_id) is not None:
            raise FixRequest(f"IB already has an order with orderRef {order.client_order_id}", venue=VENUE)
        contract = parsing.contract_for(order.instrument_id.symbol)
        ib_order = parsing.ib_order(order, self.config.account)

        async def send() -> OrderReport:
            await self._limiter.acquire()
            trade = self.ib.placeOrder(contract, ib_order)
            while trade.orderStatus.status in ("PendingSubmit", "ApiPending", ""):
                await trade.statusEvent
            return parsing.order_report(trade, self.venue)

        return await submit_once(
            order,
            venue=VENUE,
            send=send,
            lookup=lambda: self._lookup(order.client_order_id),
            timeout=self.config.request_timeout,
            lookup_backoff=self._read_backoff,
        )

    async def _lookup(self, client_order_id: str) -> OrderReport | None:
        await self._read("open orders", self.ib.reqAllOpenOrdersAsync)
        trade = self._trade_for(client_order_id)
        if trade is None:
            completed = await self._read("completed orders", lambda: self.ib.reqCompletedOrdersAsync(False))
            trade = next((t for t in completed if t.order.orderRef == client_order_id), None)
        if trade is None or trade.orderStatus.status in ("PendingSubmit", "ApiPending"):
            return None
        return parsing.order_report(trade, self.venue)

    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None:
        trade = self._trade_for(client_order_id)
        if trade is not None:
            return parsing.order_report(trade, self.venue)
        return await self._lookup(client_order_id)

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport:
        self._require_connection()
        trade = self._trade_for(client_order_id)
        if trade is None:
            raise FixRequest(f"IB has no order {client_order_id} in this session", venue=VENUE)
        if not _done(trade):
            await self._limiter.acquire()
            self.ib.cancelOrder(trade.order)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(trade.cancelledEvent, self.config.request_timeout)
        return parsing.order_report(trade, self.venue)

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport:
        """IB modifies an order by placing it again with the same order id (orderRef unchanged)."""
        self._require_connection()
        trade = self._trade_for(client_order_id)
        if trade is None or _done(trade):
            raise FixRequest(f"IB has no working order {client_order_id}", venue=VENUE)
        if quantity is not None:
            trade.order.totalQuantity = float(quantity)
        if limit_price is not None:
            trade.order.lmtPrice = float(limit_price)
        if stop_price is not None:
            trade.order.auxPrice = float(stop_price)
        await self._limiter.acquire()
        self.ib.placeOrder(trade.contract, trade.order)
        try:
            await asyncio.wait_for(trade.modifyEvent, self.config.request_timeout)
        except TimeoutError as exc:
            raise OrderStateUnknown(
                f"IB modify of {client_order_id} unanswered", venue=VENUE, client_order_id=client_order_id
            ) from exc
        return parsing.order_report(trade, self.venue)

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]:
        trades = await self._read("open orders", self.ib.reqAllOpenOrdersAsync)
        reports = [parsing.order_report(t, self.venue) for t in trades if t.order.orderRef]
        return [r for r in reports if instrument_id is None or r.instrument_id == instrument_id]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """Executions since `since_ns` (IB keeps them for the current day, up to 7 days in TWS)."""
        since = dt.datetime.fromtimestamp(since_ns / 1e9, tz=dt.UTC).strftime("%Y%m%d-%H:%M:%S")
        fills = await self._read("executions", lambda: self.ib.reqExecutionsAsync(ExecutionFilter(time=since)))
        return sorted((parsing.fill(f, self.venue) for f in fills), key=lambda f: f.ts)

    async def positions(self) -> list[PositionReport]:
        self._require_connection()
        return [parsing.position_report(p, self.venue) for p in self.ib.positions(self.config.account) if p.position]

    async def account(self) -> AccountReport:
        self._require_connection()
        return parsing.account_report(self.ib.accountValues(self.config.account), self.config.account)

    async def instrument(self, symbol: str) -> Instrument:
        contract = parsing.contract_for(symbol)
        details = await self._read("contract details", lambda: self.ib.reqContractDetailsAsync(contract))
        if not details:
            raise FixRequest(f"IB knows no contract {symbol}", venue=VENUE)
        return parsing.instrument(details[0].contract, details[0].minTick, self.venue)

    async def reconcile(self, since_ns: int) -> ReconciliationReport:
        return ReconciliationReport(
            await self.open_orders(),
            await self.fills_since(since_ns),
            await self.positions(),
            await self.account(),
            time.time_ns(),
        )

    # -- market data ------------------------------------------------------------------------------------
    async def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """Top-of-book quotes and last trades from `reqMktData` tickers."""
        self._require_connection()
        queue: asyncio.Queue[MarketEvent] = asyncio.Queue(10_000)
        tickers = {}
        for iid in instrument_ids:
            ticker = self.ib.reqMktData(parsing.contract_for(iid.symbol))
            tickers[id(ticker)] = iid

        def on_pending(pending: Any) -> None:
            for ticker in pending:
                iid = tickers.get(id(ticker))
                if iid is None:
                    continue
                for event in ticker_events(ticker, iid):
                    if not queue.full():
                        queue.put_nowait(event)

        self.ib.pendingTickersEvent += on_pending
        try:
            while True:
                yield await queue.get()
        finally:
            self.ib.pendingTickersEvent -= on_pending
            for iid in instrument_ids:
                with contextlib.suppress(Exception):
                    self.ib.cancelMktData(parsing.contract_for(iid.symbol))


def ticker_events(ticker: Any, iid: InstrumentId) -> list[MarketEvent]:
    events: list[MarketEvent] = []
    ts = parsing._ns(ticker.time) if ticker.time else time.time_ns()
    bid, ask = parsing.exact(ticker.bid), parsing.exact(ticker.ask)
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        events.append(
            QuoteEvent(
                iid,
                bid,
                ask,
                parsing.exact(ticker.bidSize) or Decimal(0),
                parsing.exact(ticker.askSize) or Decimal(0),
                ts,
            )
        )
    last = parsing.exact(ticker.last)
    if last is not None and last > 0:
        events.append(TradeEvent(iid, last, parsing.exact(ticker.lastSize) or Decimal(0), ts))
    return events


def _done(trade: Trade) -> bool:
    return trade.orderStatus.status in ("Filled", "Cancelled", "ApiCancelled", "Inactive")
