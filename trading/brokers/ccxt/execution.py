"""A ccxt exchange behind the execution-client protocol, written against ccxt's unified API (Binance spot
first).

One `ccxt.pro` exchange object serves REST (it extends `ccxt.async_support`) and websockets. It runs with
`number = str` so amounts and prices stay exact, and with ccxt's weighted rate limiter on, so requests queue
on our side before the exchange answers 429. ccxt never retries by itself; reads are retried here, order
writes never: a create that gets no answer raises `OrderStateUnknown` and the caller looks the order up by
its client order id.

Streams: `execution_reports()` merges ccxt.pro's `watch_orders` and `watch_my_trades` (Binance spot: the
WebSocket API user data stream), `market_data()` turns `watch_ohlcv` 1-minute candles into one `BarEvent`
per closed candle. Both re-watch with backoff after a drop (ccxt reconnects on the next watch call).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.pro as ccxtpro

from trading.brokers.ccxt import parsing
from trading.brokers.ccxt.config import CcxtConfig
from trading.brokers.ccxt.errors import translate
from trading.brokers.errors import RateLimited
from trading.brokers.protocol import (
    AccountReport,
    BarEvent,
    ExecutionReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    ReconciliationReport,
)
from trading.brokers.retry import Backoff, retry_read
from trading.brokers.wire import opt_dec
from trading.data.bars import Bar
from trading.errors import BrokerError, FixRequest, OrderStateUnknown, RetryLater
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.model.orders import OPEN_STATUSES, Order, OrderStatus, OrderType, TimeInForce

T = TypeVar("T")
log = logging.getLogger(__name__)

MINUTE_MS = 60_000
NS_PER_MS = 1_000_000
OHLCV_PAGE = 1000  # Binance's most klines per request

_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}


def build_exchange(config: CcxtConfig) -> Any:
    """The ccxt.pro exchange object for `config`: sandbox first, then URL overrides on top of it."""
    settings: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": int(config.timeout * 1000),
        "options": {
            "defaultType": config.market_type,
            "fetchMarkets": {"types": ["spot" if config.market_type == "spot" else "linear"]},
            "fetchCurrencies": False,  # a private, heavy call ccxt makes on load otherwise
            "fetchMargins": False,  # margin pair lists (sapi): not needed for spot or futures orders
            "warnOnFetchOpenOrdersWithoutSymbol": False,
            **config.options,
        },
    }
    if config.api_key is not None and config.secret is not None:
        settings["apiKey"] = config.api_key.reveal()
        settings["secret"] = config.secret.reveal()
    if config.password is not None:
        settings["password"] = config.password.reveal()
    if config.rate_limit_ms is not None:
        settings["rateLimit"] = config.rate_limit_ms
    exchange_class = getattr(ccxtpro, config.exchange_id, None) or getattr(ccxt.async_support, config.exchange_id)
    exchange = exchange_class(settings)
    exchange.number = str
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    api = exchange.urls["api"]
    for key, url in config.url_overrides.items():
        api[key] = url
    if config.ws_url_overrides:
        ws = api.setdefault("ws", {})
        for key, url in config.ws_url_overrides.items():
            *parents, leaf = key.split(".")
            node = ws
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = url
    return exchange


class CcxtBroker:
    """One exchange account through ccxt (an `ExecutionClient`)."""

    def __init__(
        self,
        config: CcxtConfig,
        *,
        name: str | None = None,
        read_backoff: Backoff | None = None,
        stream_backoff: Backoff | None = None,
        exchange: Any = None,
    ) -> None:
        self.name = name or config.exchange_id
        self.config = config
        self.venue = config.venue_name
        self.exchange = exchange if exchange is not None else build_exchange(config)
        self._read_backoff = read_backoff or Backoff()
        self._stream_backoff = stream_backoff or Backoff(attempts=1, base=0.5, cap=30.0)
        self._symbol_by_coid: dict[str, str] = {}
        self._alias: dict[str, ClientOrderId] = {}  # venue client order id after a replace -> ours
        self.bad_candles = 0  # candles from the stream dropped as malformed (market_data)
        self._closed_klines: set[tuple[str, int]] | None = None

    def __repr__(self) -> str:
        return f"CcxtBroker(name={self.name!r}, config={self.config!r})"

    # -- plumbing ---------------------------------------------------------------------------------------
    async def _once(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(call(), self.config.timeout + 1.0)
        except Exception as exc:
            raise translate(exc, self.venue, action, self._retry_after(exc)) from exc

    def _retry_after(self, exc: BaseException) -> float | None:
        """A 429's Retry-After: ccxt raises DDoSProtection without it but keeps the last response's headers."""
        if not isinstance(exc, ccxt.DDoSProtection):
            return None
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    async def _read(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        return await retry_read(
            lambda: self._once(action, call), backoff=self._read_backoff, what=f"{self.venue} {action}"
        )

    # -- lifecycle --------------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Loads the exchange's markets (precision and limits); checks the keys with a balance read."""
        await self._read("load markets", self.exchange.load_markets)
        if self.exchange.apiKey:
            await self._read("balance", self.exchange.fetch_balance)

    async def close(self) -> None:
        await self.exchange.close()

    async def _markets(self) -> dict[str, Any]:
        if not self.exchange.markets:
            await self._read("load markets", self.exchange.load_markets)
        markets: dict[str, Any] = self.exchange.markets
        return markets

    # -- orders -----------------------------------------------------------------------------------------
    async def _order_arguments(self, order: Order) -> tuple[str, str, str, str, str | None, dict[str, Any]]:
        symbol = order.instrument_id.symbol
        markets = await self._markets()
        if symbol not in markets:
            raise FixRequest(f"{self.venue} has no market {symbol}", venue=self.venue)
        market = markets[symbol]
        try:
            amount = Decimal(self.exchange.amount_to_precision(symbol, str(order.quantity)))
        except ccxt.InvalidOrder as exc:
            raise FixRequest(f"{order.client_order_id}: {exc}", venue=self.venue) from exc
        minimum = opt_dec(((market.get("limits") or {}).get("amount") or {}).get("min"))
        if amount <= 0 or (minimum is not None and amount < minimum):
            raise FixRequest(
                f"{order.client_order_id}: amount {order.quantity} is below {symbol}'s minimum "
                f"{minimum} after rounding to the exchange's step",
                venue=self.venue,
            )
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.time_in_force is TimeInForce.DAY:
            raise FixRequest(f"{self.venue} has no DAY time in force; use GTC, IOC or FOK", venue=self.venue)
        if order.order_type is not OrderType.MARKET:
            params["timeInForce"] = _TIF[order.time_in_force]
        if order.reduce_only:
            params["reduceOnly"] = True
        price: str | None = None
        kind = "limit"
        if order.order_type is OrderType.MARKET:
            kind = "market"
        elif order.order_type is OrderType.LIMIT:
            price = str(order.limit_price)
        elif order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            params["triggerPrice"] = str(order.stop_price)
            if order.order_type is OrderType.STOP:
                kind = "market"
            else:
                price = str(order.limit_price)
        else:
            if not self.exchange.has.get("createTrailingPercentOrder") or order.trailing_percent is None:
                raise FixRequest(
                    f"{self.venue} trailing stops need trailing_percent and exchange support", venue=self.venue
                )
            kind = "market"
            params["trailingPercent"] = str(order.trailing_percent)
        return symbol, kind, order.side.value, str(amount), price, params

    async def submit_order(self, order: Order) -> OrderReport:
        """Sent once. No answer (timeout, 5xx, Binance's "execution status unknown"): `OrderStateUnknown`, and
        the caller looks the order up by client order id (`get_order`); a 429 is `RateLimited` (not taken)."""
        if order.instrument_id.venue != self.venue:
            raise FixRequest(f"{order.instrument_id} is not a {self.venue} instrument", venue=self.venue)
        symbol, kind, side, amount, price, params = await self._order_arguments(order)
        self._symbol_by_coid[order.client_order_id] = symbol
        try:
            raw = await self._once(
                "create order", lambda: self.exchange.create_order(symbol, kind, side, amount, price, params)
            )
        except RateLimited:
            raise
        except RetryLater as exc:
            raise OrderStateUnknown(
                f"{self.venue}: create of {order.client_order_id} unanswered ({exc}); look it up, never resend",
                venue=self.venue,
                client_order_id=order.client_order_id,
                detail=exc.detail,
            ) from exc
        return parsing.order_report(raw, self.venue)

    async def _fetch_by_coid(self, client_order_id: str, symbol: str) -> OrderReport | None:
        async def fetch() -> Any:
            return await self.exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id})

        try:
            raw = await self._read("order by client id", fetch)
        except FixRequest as exc:
            if isinstance(exc.__cause__, ccxt.OrderNotFound):
                return None
            raise
        return parsing.order_report(raw, self.venue)

    async def _symbol_for(self, client_order_id: ClientOrderId) -> str:
        known = self._symbol_by_coid.get(client_order_id)
        if known:
            return known
        for report in await self.open_orders():
            if report.client_order_id == client_order_id:
                return report.instrument_id.symbol
        if len(self.config.symbols) == 1:
            return self.config.symbols[0]
        raise FixRequest(
            f"{self.venue}: unknown symbol for {client_order_id} (not submitted here, not open)", venue=self.venue
        )

    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None:
        venue_coid = next((k for k, v in self._alias.items() if v == client_order_id), client_order_id)
        report = await self._fetch_by_coid(venue_coid, await self._symbol_for(client_order_id))
        return None if report is None else _with_client_order_id(report, client_order_id)

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport:
        symbol = await self._symbol_for(client_order_id)
        try:
            raw = await self._once(
                "cancel order",
                lambda: self.exchange.cancel_order(None, symbol, {"clientOrderId": client_order_id}),
            )
            if raw.get("status") and raw.get("amount") is not None:
                return _with_client_order_id(parsing.order_report(raw, self.venue), client_order_id)
        except RetryLater:
            pass  # the cancel may or may not have landed: the lookup says which
        except FixRequest as exc:
            if not isinstance(exc.__cause__, ccxt.OrderNotFound):
                raise
        report = await self.get_order(client_order_id)
        if report is None:
            raise FixRequest(f"{self.venue} has no order {client_order_id}", venue=self.venue)
        return report

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport:
        current = await self.get_order(client_order_id)
        if current is None or current.venue_order_id is None:
            raise FixRequest(f"{self.venue} has no order {client_order_id}", venue=self.venue)
        symbol = current.instrument_id.symbol
        amount = str(quantity if quantity is not None else current.quantity)
        price = limit_price if limit_price is not None else current.limit_price
        params: dict[str, Any] = {}
        if stop_price is not None:
            params["triggerPrice"] = str(stop_price)
        kind = "market" if current.order_type in (OrderType.MARKET, OrderType.STOP) else "limit"
        try:
            raw = await self._once(
                "edit order",
                lambda: self.exchange.edit_order(
                    current.venue_order_id,
                    symbol,
                    kind,
                    current.side.value,
                    amount,
                    None if price is None else str(price),
                    params,
                ),
            )
        except RetryLater as exc:
            raise OrderStateUnknown(
                f"{self.venue} replace of {client_order_id} unanswered",
                venue=self.venue,
                client_order_id=client_order_id,
            ) from exc
        report = parsing.order_report(raw, self.venue)
        if report.client_order_id and report.client_order_id != client_order_id:
            self._alias[report.client_order_id] = client_order_id
            self._symbol_by_coid[report.client_order_id] = symbol
        return _with_client_order_id(report, client_order_id)

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]:
        symbol = None if instrument_id is None else instrument_id.symbol
        raws = await self._read("open orders", lambda: self.exchange.fetch_open_orders(symbol))
        reports = []
        for raw in raws:
            report = parsing.order_report(raw, self.venue)
            ours = self._alias.get(report.client_order_id, report.client_order_id)
            reports.append(_with_client_order_id(report, ours))
        return reports

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """My trades since `since_ns` for each configured symbol (Binance needs a symbol per query)."""
        since_ms = since_ns // 1_000_000
        fills: list[Fill] = []
        symbols = self.config.symbols or tuple(sorted(set(self._symbol_by_coid.values())))
        for symbol in symbols:
            trades = await self._read("my trades", functools.partial(self.exchange.fetch_my_trades, symbol, since_ms))
            for trade in trades:
                coid = await self._client_order_id_for(trade)
                fills.append(parsing.fill(trade, self.venue, coid))
        return sorted(fills, key=lambda f: f.ts)

    async def _client_order_id_for(self, trade: dict[str, Any]) -> ClientOrderId:
        order_id = trade.get("order")
        if not order_id:
            return ClientOrderId("")
        raw = await self._read("order by id", lambda: self.exchange.fetch_order(order_id, trade["symbol"]))
        coid = str(raw.get("clientOrderId") or "")
        return self._alias.get(coid, ClientOrderId(coid))

    async def positions(self) -> list[PositionReport]:
        if self.config.market_type == "spot":
            balance = await self._read("balance", self.exchange.fetch_balance)
            return parsing.spot_positions(balance, await self._markets(), self.config.symbols, self.venue)
        raws = await self._read("positions", self.exchange.fetch_positions)
        return [parsing.contract_position(raw, self.venue) for raw in raws if raw.get("contracts")]

    async def account(self) -> AccountReport:
        balance = await self._read("balance", self.exchange.fetch_balance)
        return parsing.account_report(balance, self.exchange.id, self.config.quote_currency)

    async def instrument(self, symbol: str) -> Instrument:
        markets = await self._markets()
        if symbol not in markets:
            raise FixRequest(f"{self.venue} has no market {symbol}", venue=self.venue)
        return parsing.instrument(markets[symbol], self.venue, self.exchange.precisionMode)

    async def reconcile(self, since_ns: int) -> ReconciliationReport:
        open_orders = await self.open_orders()
        fills = await self.fills_since(since_ns)
        positions = await self.positions()
        account = await self.account()
        return ReconciliationReport(open_orders, fills, positions, account, time.time_ns())

    # -- venue clock and history ----------------------------------------------------------------------
    async def venue_time_ns(self) -> int:
        """The exchange's clock (`fetchTime`)."""
        ms = await self._read("time", self.exchange.fetch_time)
        return int(ms) * NS_PER_MS

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        """Closed 1-minute bars with `start_ns <= ts < end_ns`, paged through `fetchOHLCV` by `since`/`limit`.
        A candle still forming at the venue's clock is left out."""
        symbol = instrument_id.symbol
        closed_before = min(end_ns, await self.venue_time_ns() - MINUTE_MS * NS_PER_MS + 1)
        since = -(-start_ns // NS_PER_MS)  # the first whole millisecond at or after start
        until = -(-closed_before // NS_PER_MS) - 1
        bars: list[Bar] = []
        while since <= until:
            page_since = since
            rows = await self._read(
                "ohlcv",
                functools.partial(self.exchange.fetch_ohlcv, symbol, "1m", page_since, OHLCV_PAGE, {"until": until}),
            )
            for row in rows:
                ts = int(row[0]) * NS_PER_MS
                if start_ns <= ts < closed_before and (not bars or ts > bars[-1].ts):
                    bars.append(parsing.ohlcv_bar(row))
            if len(rows) < OHLCV_PAGE:
                break
            since = int(rows[-1][0]) + 1
        return bars

    async def bars(
        self, instrument_id: InstrumentId, timeframe: str = "1m", since_ns: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Historical OHLCV through `fetchOHLCV` (one page, any timeframe)."""
        since = None if since_ns is None else since_ns // 1_000_000
        rows = await self._read(
            "ohlcv", lambda: self.exchange.fetch_ohlcv(instrument_id.symbol, timeframe, since, limit)
        )
        return [parsing.ohlcv_bar(row) for row in rows]

    # -- execution reports ------------------------------------------------------------------------------
    def execution_reports(self) -> AsyncIterator[ExecutionReport]:
        """Order updates from `watchOrders` + `watchMyTrades` where the exchange streams them, else polled
        open orders and my trades every `poll_interval` seconds."""
        if self.exchange.has.get("watchOrders") and self.exchange.has.get("watchMyTrades"):
            return self._stream_reports()
        return self._poll_reports()

    async def _stream_reports(self) -> AsyncIterator[ExecutionReport]:
        """A fill comes from the trade stream with the order as that same venue event left it; order events
        without a fill (accepts, cancels, expiries) from the order stream. Binance sends both in one
        `executionReport`, so the order stream skips `TRADE` events to report each fill once."""
        await self._markets()
        queue: asyncio.Queue[ExecutionReport] = asyncio.Queue()
        tasks = [
            asyncio.ensure_future(self._pump("orders", self.exchange.watch_orders, self._order_updates, queue)),
            asyncio.ensure_future(self._pump("my trades", self.exchange.watch_my_trades, self._trade_updates, queue)),
        ]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(
        self,
        what: str,
        watch: Callable[[], Awaitable[list[dict[str, Any]]]],
        convert: Callable[[dict[str, Any]], ExecutionReport | None],
        queue: asyncio.Queue[ExecutionReport],
    ) -> None:
        failures = 0
        while True:
            try:
                items = await watch()
            except ccxt.BaseError as exc:
                failures += 1
                wait = self._stream_backoff.delay(min(failures, 6))
                log.warning("%s %s stream dropped (%s); re-watching in %.2fs", self.venue, what, exc, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            for item in items:
                try:
                    report = convert(item)
                except (BrokerError, ValueError, KeyError, TypeError) as exc:
                    log.warning("%s %s update dropped as malformed: %s", self.venue, what, exc)
                    continue
                if report is not None:
                    queue.put_nowait(report)

    def _order_updates(self, raw: dict[str, Any]) -> ExecutionReport | None:
        if (raw.get("info") or {}).get("x") == "TRADE":
            return None
        return ExecutionReport(self._ours(parsing.order_report(raw, self.venue)))

    def _trade_updates(self, raw: dict[str, Any]) -> ExecutionReport | None:
        info = raw.get("info") or {}
        order = self._ours(parsing.order_report(self.exchange.parse_ws_order(info), self.venue))
        return ExecutionReport(order, parsing.fill(raw, self.venue, order.client_order_id))

    def _ours(self, report: OrderReport) -> OrderReport:
        return _with_client_order_id(report, self._alias.get(report.client_order_id, report.client_order_id))

    async def _poll_reports(self) -> AsyncIterator[ExecutionReport]:
        """The fallback without websockets: changed open orders, orders that left the open list, new trades."""
        known: dict[ClientOrderId, tuple[OrderStatus, Decimal]] = {}
        seen_trades: set[str] = set()
        since_ns = await self.venue_time_ns()
        while True:
            try:
                open_now = {r.client_order_id: r for r in await self.open_orders()}
                for coid in [c for c in known if c not in open_now]:
                    final = await self.get_order(coid)
                    if final is not None:
                        open_now[coid] = final
                for coid, report in open_now.items():
                    if known.get(coid) != (report.status, report.filled_quantity):
                        yield ExecutionReport(report)
                    known[coid] = (report.status, report.filled_quantity)
                    if report.status not in OPEN_STATUSES:
                        known.pop(coid, None)  # reported closed: nothing more can change
                for fill in await self.fills_since(since_ns):
                    if fill.trade_id in seen_trades or not fill.client_order_id:
                        continue
                    seen_trades.add(fill.trade_id)
                    order = await self.get_order(fill.client_order_id)
                    if order is not None:
                        yield ExecutionReport(order, fill)
            except (RetryLater, FixRequest) as exc:
                log.warning("%s execution report poll failed: %s", self.venue, exc)
            await asyncio.sleep(self.config.poll_interval)

    # -- market data ------------------------------------------------------------------------------------
    def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """One `BarEvent` per closed 1-minute candle, from `watchOHLCV` where the exchange streams candles
        (re-watched with backoff after a drop), else from `fetchOHLCV` polled every `poll_interval` seconds.
        Malformed candles are dropped and counted in `bad_candles`."""
        symbols = [i.symbol for i in instrument_ids]
        if self.exchange.has.get("watchOHLCV"):
            return self._watch_bars(symbols)
        return self._poll_bars(symbols)

    def _track_closed_klines(self) -> set[tuple[str, int]]:
        """ccxt's unified candle drops Binance's closed flag (`k.x`); this keeps it, keyed by (market id, open
        ms), by wrapping the exchange object's kline handler (an instance attribute: ccxt itself is untouched).
        Exchanges without the flag still get each candle once a later one arrives."""
        if self._closed_klines is None:
            closed: set[tuple[str, int]] = set()
            handle = self.exchange.handle_ohlcv

            def handle_ohlcv(client: Any, message: Any) -> Any:
                kline = message.get("k") if isinstance(message, dict) else None
                if isinstance(kline, dict) and kline.get("x") is True:
                    closed.add((str(kline.get("s")), int(kline.get("t") or 0)))
                return handle(client, message)

            self.exchange.handle_ohlcv = handle_ohlcv
            self._closed_klines = closed
        return self._closed_klines

    async def _watch_bars(self, symbols: list[str]) -> AsyncIterator[MarketEvent]:
        markets = await self._markets()
        closed = self._track_closed_klines()
        forming: dict[str, list[Any]] = {}  # symbol -> the latest candle not yet known to be closed
        last: dict[str, int] = dict.fromkeys(symbols, -1)  # symbol -> open ms of the last bar emitted
        malformed: set[tuple[Any, ...]] = set()
        tasks: dict[asyncio.Task[Any], str] = {}
        failures = 0

        def events(symbol: str, rows: list[list[Any]]) -> list[BarEvent]:
            market_id = str(markets[symbol]["id"])
            out: list[BarEvent] = []
            for row in rows:
                start = int(row[0]) if row and row[0] is not None else -1
                if start <= last[symbol]:
                    closed.discard((market_id, start))
                    continue  # a bar already emitted (or older): each bar once
                if tuple(row) in malformed or self._checked_bar(row) is None:
                    malformed.add(tuple(row))  # counted once, though ccxt's cache shows it again
                    continue
                previous = forming.get(symbol)
                if previous is not None and int(previous[0]) < start:
                    out.append(self._bar_event(symbol, previous, last))  # a later candle closed it
                forming[symbol] = row
                if (market_id, start) in closed:
                    closed.discard((market_id, start))
                    del forming[symbol]
                    out.append(self._bar_event(symbol, row, last))
            return out

        try:
            while True:
                for symbol in symbols:
                    if symbol not in tasks.values():
                        tasks[asyncio.ensure_future(self.exchange.watch_ohlcv(symbol, "1m"))] = symbol
                    # ccxt wakes only a watch already waiting: a candle that came while none was (this
                    # generator was yielding) sits in its cache until the next message, so look there too.
                    for event in events(symbol, list(self._cached_candles(symbol))):
                        yield event
                done, _ = await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    symbol = tasks.pop(task)
                    try:
                        candles = task.result()
                    except ccxt.BaseError as exc:
                        failures += 1
                        wait = self._stream_backoff.delay(min(failures, 6))
                        log.warning("%s candles of %s dropped (%s); re-watch in %.2fs", self.venue, symbol, exc, wait)
                        await asyncio.sleep(wait)
                        continue
                    failures = 0
                    tasks[asyncio.ensure_future(self.exchange.watch_ohlcv(symbol, "1m"))] = symbol
                    for event in events(symbol, candles):
                        yield event
        finally:
            for task in tasks:
                task.cancel()

    def _cached_candles(self, symbol: str) -> list[list[Any]]:
        """ccxt.pro's candle cache for `symbol` (`exchange.ohlcvs`, part of its documented watch API)."""
        cache = (getattr(self.exchange, "ohlcvs", None) or {}).get(symbol) or {}
        return list(cache.get("1m") or [])

    def _bar_event(self, symbol: str, row: list[Any], last: dict[str, int]) -> BarEvent:
        last[symbol] = int(row[0])
        return BarEvent(InstrumentId(symbol, self.venue), parsing.ohlcv_bar(row))

    def _checked_bar(self, row: list[Any]) -> Bar | None:
        """The candle as a bar, or None (counted in `bad_candles`) when it is not a valid 1-minute OHLCV."""
        try:
            bar = parsing.ohlcv_bar(row)
        except (TypeError, ValueError, IndexError):
            bar = None
        valid = (
            bar is not None
            and int(row[0]) % MINUTE_MS == 0
            and all(math.isfinite(v) and v > 0 for v in (bar.open, bar.high, bar.low, bar.close))
            and bar.low <= min(bar.open, bar.close)
            and bar.high >= max(bar.open, bar.close)
            and math.isfinite(bar.volume)
            and bar.volume >= 0
        )
        if not valid:
            self.bad_candles += 1
            log.warning("%s dropped a malformed candle %r", self.venue, row)
            return None
        return bar

    async def _poll_bars(self, symbols: list[str]) -> AsyncIterator[MarketEvent]:
        last: dict[str, int] = dict.fromkeys(symbols, -1)
        while True:
            for symbol in symbols:
                try:
                    rows = await self._read(
                        "ohlcv", functools.partial(self.exchange.fetch_ohlcv, symbol, "1m", None, 3)
                    )
                except RetryLater as exc:
                    log.warning("%s candle poll for %s failed: %s", self.venue, symbol, exc)
                    continue
                for row in rows[:-1]:  # the newest candle may still be forming
                    if int(row[0]) > last[symbol] and self._checked_bar(row) is not None:
                        yield self._bar_event(symbol, row, last)
            await asyncio.sleep(self.config.poll_interval)


def _with_client_order_id(report: OrderReport, client_order_id: ClientOrderId | str) -> OrderReport:
    if report.client_order_id == client_order_id:
        return report
    return dataclasses.replace(report, client_order_id=ClientOrderId(str(client_order_id)))
