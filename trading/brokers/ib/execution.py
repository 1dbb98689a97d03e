"""Interactive Brokers through ib_insync: one API session with TWS or IB Gateway.

IB Gateway and TWS restart once a day; when the socket drops, a reconnect loop with backoff brings the
session back (ib_insync re-syncs orders, positions and account values on connect), and the report and bar
streams end with `RetryLater` so their actor restarts them (and reconciles what was missed). IB has no
client order id field: ours travels in `orderRef`, which IB keeps on the order and on every execution.

Live bars come from `reqRealTimeBars` (5-second bars) folded into 1-minute bars (`ib.bars.MinuteBars`),
not from `keepUpToDate` historical bars: a keep-up-to-date bar is rewritten in place with no closed flag
(closed only once the next minute's first update comes) and each subscription is a historical-data request
under IB's pacing limits, while the :55 five-second bar closes a minute on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from ib_insync import IB, ExecutionFilter
from ib_insync import Fill as IBFill
from ib_insync.order import Trade

from trading.brokers.ib import parsing
from trading.brokers.ib.bars import MINUTE_NS, NS_PER_SECOND, MinuteBars
from trading.brokers.ib.config import IBConfig
from trading.brokers.protocol import (
    AccountReport,
    BarEvent,
    ExecutionReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    QuoteEvent,
    ReconciliationReport,
    TradeEvent,
)
from trading.brokers.retry import Backoff, RateLimiter, retry_read
from trading.brokers.write_path import submit_once
from trading.data.bars import Bar
from trading.errors import BrokerError, FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.model.orders import Order

log = logging.getLogger(__name__)
VENUE = "ib"
HISTORY_CHUNK_S = 86_400  # the longest duration IB serves 1-minute bars for in one request
HISTORY_TIMEOUT_S = 60.0  # historical data is slow to come (ib_insync's own default)
REALTIME_BAR_S = 5  # the only size IB's real-time bars come in


class IBBroker:
    """One TWS / IB Gateway session (stocks, futures, forex)."""

    def __init__(
        self, config: IBConfig, *, name: str = "ib", ib: Any = None, read_backoff: Backoff | None = None
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
        self._connect_lock = asyncio.Lock()
        self.reconnect_attempts = 0
        self.ib.disconnectedEvent += self._on_disconnected

    def __repr__(self) -> str:
        return f"IBBroker(name={self.name!r}, config={self.config!r})"

    # -- connection -------------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect; nothing to do when connected, so it is safe to call again (the report stream, the bar
        stream and the reconnect loop all call it; a lock keeps them from opening two sessions).
        `RetryLater` if TWS / Gateway is not there or does not complete the handshake."""
        async with self._connect_lock:
            self._closing = False
            if self.ib.isConnected():
                return
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

    async def _read(self, action: str, call: Any, timeout: float | None = None) -> Any:
        async def once() -> Any:
            self._require_connection()
            await self._limiter.acquire()
            try:
                return await asyncio.wait_for(call(), timeout or self.config.request_timeout)
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

    # -- the venue's streams and clock -----------------------------------------------------------------
    async def execution_reports(self) -> AsyncIterator[ExecutionReport]:
        """Our orders' updates (those with an `orderRef`) in arrival order, from ib_insync's events through a
        queue: `openOrderEvent` and `orderStatusEvent` as order reports, `execDetailsEvent` as a fill. A fill
        is queued when its commission report arrives (IB sends it right after the execution) or, failing
        that, after `commission_wait` seconds with zero commission, since the order manager books a trade id
        once. Ends with `RetryLater` when the session drops; the next call reconnects first."""
        await self.connect()
        queue: asyncio.Queue[ExecutionReport | RetryLater] = asyncio.Queue()
        waiting: dict[str, asyncio.TimerHandle] = {}  # execId -> the commission_wait timer
        loop = asyncio.get_running_loop()

        def report(trade: Trade, ib_fill: IBFill | None = None) -> None:
            try:
                order = parsing.order_report(trade, self.venue)
                fill = None if ib_fill is None else parsing.fill(ib_fill, self.venue)
            except (BrokerError, ValueError, ArithmeticError) as exc:
                log.warning("IB update for %s dropped as malformed: %s", trade.order.orderRef, exc)
                return
            queue.put_nowait(ExecutionReport(order, fill))

        def on_order(trade: Trade) -> None:
            if trade.order.orderRef:
                report(trade)

        def settle(trade: Trade, ib_fill: IBFill) -> None:
            timer = waiting.pop(ib_fill.execution.execId, None)
            if timer is not None:
                timer.cancel()
                report(trade, ib_fill)

        def on_execution(trade: Trade, ib_fill: IBFill) -> None:
            exec_id = ib_fill.execution.execId
            if not trade.order.orderRef or exec_id in waiting:
                return
            waiting[exec_id] = loop.call_later(self.config.commission_wait, late, trade, ib_fill)
            if ib_fill.commissionReport.execId:  # its commission came first
                settle(trade, ib_fill)

        def late(trade: Trade, ib_fill: IBFill) -> None:
            log.warning(
                "IB fill %s: no commission report after %.1fs", ib_fill.execution.execId, self.config.commission_wait
            )
            settle(trade, ib_fill)

        def on_commission(trade: Trade, ib_fill: IBFill, _: Any) -> None:
            settle(trade, ib_fill)

        def on_disconnect() -> None:
            queue.put_nowait(RetryLater("IB session dropped: execution reports stop until it is back", venue=VENUE))

        handlers: list[tuple[Any, Any]] = [
            (self.ib.openOrderEvent, on_order),
            (self.ib.orderStatusEvent, on_order),
            (self.ib.execDetailsEvent, on_execution),
            (self.ib.commissionReportEvent, on_commission),
            (self.ib.disconnectedEvent, on_disconnect),
        ]
        for event, handler in handlers:
            event.connect(handler)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, RetryLater):
                    raise item
                yield item
        finally:
            for event, handler in handlers:
                event.disconnect(handler)
            for timer in waiting.values():
                timer.cancel()

    async def venue_time_ns(self) -> int:
        """TWS / Gateway's clock (`reqCurrentTime`, whole seconds)."""
        moment = await self._read("current time", self.ib.reqCurrentTimeAsync)
        return parsing._ns(moment)

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        """Closed 1-minute bars with `start_ns <= ts < end_ns` from `reqHistoricalData`, a day per request
        (newest first); the bar still forming at the venue's clock is left out."""
        if end_ns <= start_ns:
            return []
        contract = parsing.contract_for(instrument_id.symbol)
        closed_before = min(end_ns, await self.venue_time_ns() - MINUTE_NS + 1)
        bars: dict[int, Bar] = {}
        chunk_end = closed_before
        while chunk_end > start_ns:
            seconds = min(HISTORY_CHUNK_S, max(60, -(-(chunk_end - start_ns) // NS_PER_SECOND)))
            until = dt.datetime.fromtimestamp(-(-chunk_end // NS_PER_SECOND), tz=dt.UTC)  # whole seconds, up
            request = functools.partial(
                self.ib.reqHistoricalDataAsync,
                contract,
                until,
                f"{seconds} S",
                "1 min",
                parsing.what_to_show(contract),
                self.config.regular_hours_only,
                formatDate=2,
                timeout=HISTORY_TIMEOUT_S,
            )
            for row in await self._read("historical bars", request, HISTORY_TIMEOUT_S) or []:
                bar = parsing.history_bar(row)
                if start_ns <= bar.ts < closed_before:
                    bars[bar.ts] = bar
            chunk_end -= seconds * NS_PER_SECOND
        return [bars[ts] for ts in sorted(bars)]

    async def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """One `BarEvent` per closed 1-minute bar, folded from `reqRealTimeBars` 5-second bars. Ends with
        `RetryLater` when the session drops (IB forgets the subscriptions); the next call reconnects."""
        await self.connect()
        queue: asyncio.Queue[BarEvent | RetryLater] = asyncio.Queue(10_000)
        subscriptions: list[tuple[Any, Any]] = []

        def on_disconnect() -> None:
            queue.put_nowait(RetryLater("IB session dropped: live bars stop until it is back", venue=VENUE))

        def listener(iid: InstrumentId, minutes: MinuteBars) -> Any:
            def on_update(bars: Any, has_new_bar: bool) -> None:
                if not has_new_bar or not bars:
                    return
                slice_ = bars[-1]
                ts = parsing._ns(slice_.time)
                for bar in minutes.add(ts, slice_.open_, slice_.high, slice_.low, slice_.close, float(slice_.volume)):
                    if queue.full():
                        log.warning("IB live bars: queue full, %s bar %s dropped", iid, bar.ts)
                    else:
                        queue.put_nowait(BarEvent(iid, bar))

            return on_update

        self.ib.disconnectedEvent += on_disconnect
        try:
            for iid in instrument_ids:
                contract = parsing.contract_for(iid.symbol)
                await self._limiter.acquire()
                bars = self.ib.reqRealTimeBars(
                    contract, REALTIME_BAR_S, parsing.what_to_show(contract), self.config.regular_hours_only
                )
                handler = listener(iid, MinuteBars())
                bars.updateEvent += handler
                subscriptions.append((bars, handler))
            while True:
                item = await queue.get()
                if isinstance(item, RetryLater):
                    raise item
                yield item
        finally:
            self.ib.disconnectedEvent -= on_disconnect
            for bars, handler in subscriptions:
                bars.updateEvent -= handler
                with contextlib.suppress(Exception):  # a dropped session has no subscription left to cancel
                    self.ib.cancelRealTimeBars(bars)

    async def quotes(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """Top-of-book quotes and last trades from `reqMktData` tickers (not used by the runtime)."""
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
