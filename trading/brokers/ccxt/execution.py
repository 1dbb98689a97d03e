"""A ccxt exchange behind the broker protocol, written against ccxt's unified API (Binance spot first).

One `ccxt.pro` exchange object serves REST (it extends `ccxt.async_support`) and websockets. It runs with
`number = str` so amounts and prices stay exact, and with ccxt's weighted rate limiter on, so requests queue
on our side before the exchange answers 429. ccxt never retries by itself; reads are retried here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.pro as ccxtpro

from trading.brokers.ccxt import parsing
from trading.brokers.ccxt.config import CcxtConfig
from trading.brokers.ccxt.errors import translate
from trading.brokers.protocol import (
    AccountReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    ReconciliationReport,
)
from trading.brokers.retry import Backoff, retry_read
from trading.brokers.wire import opt_dec
from trading.brokers.write_path import submit_once
from trading.data.bars import Bar
from trading.errors import FixRequest, OrderStateUnknown, RetryLater
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderType, TimeInForce

T = TypeVar("T")
log = logging.getLogger(__name__)

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
            ws[key] = url
    return exchange


class CcxtBroker:
    """One exchange account through ccxt."""

    def __init__(
        self,
        config: CcxtConfig,
        *,
        name: str | None = None,
        read_backoff: Backoff | None = None,
        lookup_backoff: Backoff | None = None,
        exchange: Any = None,
    ) -> None:
        self.name = name or config.exchange_id
        self.config = config
        self.venue = config.venue_name
        self.exchange = exchange if exchange is not None else build_exchange(config)
        self._read_backoff = read_backoff or Backoff()
        self._lookup_backoff = lookup_backoff or Backoff(attempts=5, base=0.5)
        self._symbol_by_coid: dict[str, str] = {}
        self._alias: dict[str, ClientOrderId] = {}  # venue client order id after a replace -> ours

    def __repr__(self) -> str:
        return f"CcxtBroker(name={self.name!r}, config={self.config!r})"

    # -- plumbing ---------------------------------------------------------------------------------------
    async def _once(self, action: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(call(), self.config.timeout + 1.0)
        except Exception as exc:
            raise translate(exc, self.venue, action) from exc

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
        if order.instrument_id.venue != self.venue:
            raise FixRequest(f"{order.instrument_id} is not a {self.venue} instrument", venue=self.venue)
        symbol, kind, side, amount, price, params = await self._order_arguments(order)
        self._symbol_by_coid[order.client_order_id] = symbol

        async def send() -> OrderReport:
            raw = await self._once(
                "create order", lambda: self.exchange.create_order(symbol, kind, side, amount, price, params)
            )
            return parsing.order_report(raw, self.venue)

        return await submit_once(
            order,
            venue=self.venue,
            send=send,
            lookup=lambda: self._fetch_by_coid(order.client_order_id, symbol),
            timeout=self.config.timeout + 2.0,
            lookup_backoff=self._lookup_backoff,
        )

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

    # -- market data ------------------------------------------------------------------------------------
    def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        """Trades through `watchTrades` where the exchange streams them, else tickers polled every
        `poll_interval` seconds. A dropped socket is re-watched with backoff (ccxt reconnects on the call)."""
        symbols = [i.symbol for i in instrument_ids]
        if self.exchange.has.get("watchTrades"):
            return self._watch_trades(symbols)
        return self._poll_tickers(symbols)

    async def _watch_trades(self, symbols: list[str]) -> AsyncIterator[MarketEvent]:
        await self._markets()
        seen: dict[str, set[str]] = {s: set() for s in symbols}
        failures = 0
        tasks: dict[asyncio.Task[Any], str] = {}
        try:
            while True:
                for symbol in symbols:
                    if symbol not in tasks.values():
                        tasks[asyncio.ensure_future(self.exchange.watch_trades(symbol))] = symbol
                done, _ = await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    symbol = tasks.pop(task)
                    try:
                        trades = task.result()
                    except (ccxt.NetworkError, ccxt.ExchangeError) as exc:
                        failures += 1
                        wait = self._read_backoff.delay(min(failures, 6))
                        log.warning(
                            "%s trade stream for %s dropped (%s); re-watching in %.2fs", self.venue, symbol, exc, wait
                        )
                        await asyncio.sleep(wait)
                        continue
                    failures = 0
                    for trade in trades:
                        key = str(trade.get("id"))
                        if key in seen[symbol]:
                            continue
                        seen[symbol].add(key)
                        if len(seen[symbol]) > 10_000:
                            seen[symbol].clear()
                        yield parsing.trade_event(trade, self.venue)
        finally:
            for task in tasks:
                task.cancel()

    async def _poll_tickers(self, symbols: list[str]) -> AsyncIterator[MarketEvent]:
        while True:
            for symbol in symbols:
                try:
                    ticker = await self._read("ticker", functools.partial(self.exchange.fetch_ticker, symbol))
                except RetryLater as exc:
                    log.warning("%s ticker poll for %s failed: %s", self.venue, symbol, exc)
                    continue
                event = parsing.quote_event(ticker, self.venue)
                if event is not None:
                    yield event
            await asyncio.sleep(self.config.poll_interval)

    async def bars(
        self, instrument_id: InstrumentId, timeframe: str = "1m", since_ns: int | None = None, limit: int | None = None
    ) -> list[Bar]:
        """Historical OHLCV through `fetchOHLCV`."""
        since = None if since_ns is None else since_ns // 1_000_000
        rows = await self._read(
            "ohlcv", lambda: self.exchange.fetch_ohlcv(instrument_id.symbol, timeframe, since, limit)
        )
        return [parsing.ohlcv_bar(row) for row in rows]


def _with_client_order_id(report: OrderReport, client_order_id: ClientOrderId | str) -> OrderReport:
    if report.client_order_id == client_order_id:
        return report
    return dataclasses.replace(report, client_order_id=ClientOrderId(str(client_order_id)))
