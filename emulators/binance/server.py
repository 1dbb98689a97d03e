"""A Binance spot server over one `EmulatedExchange`: the REST API, the market streams and the WebSocket API's
user data stream, as the real ccxt (`ccxt.pro.binance`) calls them, plus fault injection for tests.

Served (everything ccxt's spot methods need, nothing more):
- REST `/api/v3/`: `ping`, `time`, `exchangeInfo` (load_markets), `klines` (fetch_ohlcv), signed `order`
  POST/GET/DELETE (create_order, fetch_order, cancel_order), `openOrders`, `myTrades`, `account`
  (fetch_balance). Signed calls need `X-MBX-APIKEY`, `timestamp` and an HMAC-SHA256 `signature` with the
  emulator's secret.
- market streams on any path under `/ws` or `/stream`: `SUBSCRIBE` to `<id>@kline_1m` (one event per recorded
  bar, `x` true: the recorded data holds closed bars only) and `<id>@trade` (the emulated venue's own
  executions, the only trades it knows).
- the WebSocket API at `/ws-api/v3`: `userDataStream.subscribe.signature` (what ccxt 4.5 uses for spot
  watch_orders / watch_my_trades / watch_balance), then `executionReport` and `outboundAccountPosition` events.

Venue time is the recorded data's clock (`EmulatedExchange.now_ns`): `/api/v3/time`, `transactTime`, event
times. A request's `timestamp` is checked against the wall clock or the venue clock (either within
`recvWindow` passes), since a client stamps requests with its own clock and may or may not have adjusted it
to the venue's.

Spot balances: the core account holds quote cash and base positions, so the quote asset's total is the cash
and the base asset's total is the position. `locked` is what open orders hold: a buy holds its remaining
quantity times its limit price (the last close for market and stop orders), a sell its remaining quantity.
Commissions are charged in the quote asset (the core account's currency).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from emulators.binance import wire
from emulators.binance.wire import BinanceError, OrderIds
from emulators.exchange import BarClosed, EmulatedExchange, ExchangeEvent, OrderUpdate
from trading.messages import OrderAccepted, OrderCanceled, OrderExpired, OrderFilled, OrderRejected
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, StrategyId
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderSide, OrderType

log = logging.getLogger(__name__)

ZERO = Decimal(0)
STRATEGY = StrategyId("binance-api")  # core strategy id of orders that came in through the API
DEFAULT_RECV_WINDOW_MS = 5000


@dataclass(frozen=True, slots=True)
class SpotMarket:
    """One exchange symbol served as a Binance spot market."""

    symbol: str  # the exchange's (and ccxt's) unified symbol, "ETH/BTC"
    market_id: str  # Binance's, "ETHBTC"
    base: str
    quote: str
    instrument: Instrument
    interval_ms: int


@dataclass(eq=False)  # compared and hashed by identity: connections live in sets
class _Connection:
    """One websocket with an ordered outbox: events reach each client in the order the venue made them."""

    ws: web.WebSocketResponse
    streams: set[str] = field(default_factory=set)
    user_data: bool = False
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    async def write(self) -> None:
        while (text := await self.outbox.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


@dataclass
class _Faults:
    order_error: BinanceError | None = None
    order_hang_s: float | None = None
    rate_limited: int = 0
    retry_after_s: int = 1


class BinanceSpotEmulator:
    """Binance spot on 127.0.0.1 over `exchange`, in its own thread (`start`/`stop`, or `with`)."""

    def __init__(
        self,
        exchange: EmulatedExchange,
        *,
        api_key: str = "emulator-api-key",
        secret: str = "emulator-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        min_notional: Decimal = Decimal("0.0001"),
    ) -> None:
        self.exchange = exchange
        self.api_key = api_key
        self.secret = secret
        self.host = host
        self.port = port
        self.min_notional = min_notional
        self.markets: dict[str, SpotMarket] = {}
        for symbol in exchange.symbols:
            base, _, quote = symbol.partition("/")
            instrument = exchange.instrument(symbol)
            if not quote or instrument.currency != quote:
                raise ValueError(f"{symbol}: a Binance spot symbol is BASE/QUOTE with the instrument in QUOTE")
            self.markets[base + quote] = SpotMarket(
                symbol, base + quote, base, quote, instrument, exchange.bar_interval_ns(symbol) // wire.NS_PER_MS
            )
        self._by_symbol = {m.symbol: m for m in self.markets.values()}
        self.order_posts: Counter[str] = Counter()  # order POSTs that arrived, per newClientOrderId
        self.requests: list[tuple[str, str]] = []  # (method, path) of every REST request, in arrival order
        self._faults = _Faults()
        self._ids_lock = threading.Lock()  # the id maps are read by REST handlers and written by listeners
        self._order_ids: dict[str, OrderIds] = {}
        self._coid_by_order_id: dict[int, str] = {}
        self._order_seq = itertools.count(1)
        self._trade_ids: dict[str, int] = {}
        self._trade_seq = itertools.count(1)
        self._refused: set[str] = set()  # client order ids the venue rejected on arrival: never "existed"
        self._cum_quote: dict[str, Decimal] = {}  # per client order id, as the stream has reported it
        self._market_conns: set[_Connection] = set()
        self._user_conns: set[_Connection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="binance-emulator", daemon=True)
        self._runner: web.AppRunner | None = None
        self._pacer: asyncio.Task[None] | None = None
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> BinanceSpotEmulator:
        """Serve in a background thread; returns once the port is bound."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.exchange.subscribe(self._on_exchange_event)
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.exchange.unsubscribe(self._on_exchange_event)
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> BinanceSpotEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
        for conn in [*self._market_conns, *self._user_conns]:
            conn.outbox.put_nowait(None)
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def pace(self, interval_s: float) -> None:
        """Advance the recorded clock one bar every `interval_s` seconds (the demo; tests call `advance`)."""
        self._call(self._start_pacer(interval_s))

    async def _start_pacer(self, interval_s: float) -> None:
        self._pacer = asyncio.get_running_loop().create_task(self.exchange.run(interval_s))

    def advance(self, bars: int = 1) -> int:
        """Publish the next `bars` bar times (matching first, then events); returns how many were published."""
        done = 0
        while done < bars and self.exchange.advance():
            done += 1
        return done

    # -- where to point a client ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """ccxt's `urls['api']['public']` and `['private']`."""
        return f"{self.url}/api/v3"

    @property
    def stream_url(self) -> str:
        """ccxt's `urls['api']['ws']['spot']` (market streams)."""
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def ws_api_url(self) -> str:
        """ccxt's `urls['api']['ws']['ws-api']['spot']` (WebSocket API: the user data stream)."""
        return f"ws://{self.host}:{self.port}/ws-api/v3"

    def environment(self) -> dict[str, str]:
        """The CCXT_* settings (`trading.brokers.ccxt.config`) that point the ccxt adapter here."""
        quotes = sorted({m.quote for m in self.markets.values()})
        return {
            "CCXT_EXCHANGE": "binance",
            "CCXT_API_KEY": self.api_key,
            "CCXT_SECRET": self.secret,
            "CCXT_SANDBOX": "false",
            "CCXT_MARKET_TYPE": "spot",
            "CCXT_QUOTE": quotes[0],
            "CCXT_SYMBOLS": ",".join(m.symbol for m in self.markets.values()),
            "CCXT_URLS": f"public={self.rest_url},private={self.rest_url}",
            "CCXT_WS_URLS": f"spot={self.stream_url},ws-api.spot={self.ws_api_url}",
        }

    # -- fault injection (each applies once, to what comes next) -------------------------------------------
    def fail_next_order(self, status: int = 500) -> None:
        """The next order POST is taken by the venue, then answered with an error: 500 is Binance's internal
        error (-1001), 503 its "Unknown error, please check your request or try again later." (-1000),
        both of which Binance documents as "execution status unknown"."""
        error = wire.UNKNOWN_EXECUTION if status == 503 else wire.INTERNAL_ERROR
        self._faults.order_error = BinanceError.of(status, error)

    def hang_next_order(self, seconds: float) -> None:
        """The next order POST answers nothing for `seconds` (past the client's timeout); the venue takes the
        order only then, as a slow matching engine would."""
        self._faults.order_hang_s = seconds

    def rate_limit_next(self, requests: int, retry_after_s: int = 1) -> None:
        """The next `requests` REST requests are refused with 429 (-1003) and `Retry-After: retry_after_s`."""
        self._faults.rate_limited = requests
        self._faults.retry_after_s = retry_after_s

    def drop_user_stream(self) -> None:
        """Close every WebSocket API connection (the user data stream), as a network drop would."""
        self._call(self._drop(self._user_conns))

    def drop_market_stream(self) -> None:
        """Close every market stream connection."""
        self._call(self._drop(self._market_conns))

    def place_by_hand(
        self,
        symbol: str,
        side: OrderSide,
        quantity: Decimal,
        order_type: OrderType = OrderType.MARKET,
        *,
        limit_price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """An order placed outside the system under test (the venue's website): the streams report it."""
        return self.exchange.submit_by_hand(
            symbol, side, quantity, order_type, limit_price=limit_price, client_order_id=client_order_id
        )

    @property
    def user_stream_connections(self) -> int:
        return len(self._user_conns)

    @property
    def market_stream_connections(self) -> int:
        return len(self._market_conns)

    def _call(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _drop(self, conns: set[_Connection]) -> None:
        for conn in list(conns):
            conns.discard(conn)
            conn.outbox.put_nowait(None)
            await conn.ws.close()

    # -- ids ------------------------------------------------------------------------------------------------
    def _ids(self, order: Order) -> OrderIds:
        with self._ids_lock:
            ids = self._order_ids.get(order.client_order_id)
            if ids is None:
                market = self._by_symbol[self.exchange.symbol_of(order.instrument_id)]
                ids = OrderIds(next(self._order_seq), market.market_id, wire.ms(self.exchange.now_ns))
                self._order_ids[order.client_order_id] = ids
                self._coid_by_order_id[ids.order_id] = order.client_order_id
            return ids

    def _trade_id(self, fill: Fill) -> int:
        with self._ids_lock:
            trade_id = self._trade_ids.get(fill.trade_id)
            if trade_id is None:
                trade_id = self._trade_ids[fill.trade_id] = next(self._trade_seq)
            return trade_id

    # -- dispatch -------------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if path.startswith("/ws-api"):
                return await self._ws_api(request)
            if path.startswith(("/ws", "/stream")):
                return await self._market_stream(request)
        self.requests.append((request.method, path))
        query = request.query_string
        body = (await request.read()).decode()
        if (request.method, path) == ("POST", "/api/v3/order"):
            # Counted on arrival, refused or not: tests check that the client sent each order once.
            self.order_posts[wire.params_of(query, body).get("newClientOrderId", "")] += 1
        try:
            if self._faults.rate_limited > 0:
                self._faults.rate_limited -= 1
                retry = str(self._faults.retry_after_s)
                error = BinanceError.of(429, wire.TOO_MANY_REQUESTS)
                error.headers["Retry-After"] = retry
                raise error
            handler = self._routes().get((request.method, path))
            if handler is None:
                raise BinanceError(404, -1000, f"Unknown endpoint {request.method} {path}")
            return web.json_response(await handler(request, query, body))
        except BinanceError as exc:
            return web.json_response(exc.body, status=exc.status, headers=exc.headers)

    def _routes(self) -> dict[tuple[str, str], Callable[[web.Request, str, str], Awaitable[Any]]]:
        return {
            ("GET", "/api/v3/ping"): self._ping,
            ("GET", "/api/v3/time"): self._time,
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/klines"): self._klines,
            ("POST", "/api/v3/order"): self._new_order,
            ("GET", "/api/v3/order"): self._get_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("GET", "/api/v3/myTrades"): self._my_trades,
            ("GET", "/api/v3/account"): self._account,
        }

    def _signed(self, request: web.Request, query: str, body: str) -> dict[str, str]:
        """The request's parameters once its key, timestamp and signature check out (Binance's checks)."""
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise BinanceError.of(401, wire.BAD_API_KEY)
        payload, signature = wire.signed_payload(query, body)
        if not signature:
            raise wire.missing("signature")
        if signature != wire.sign(payload, self.secret):
            raise BinanceError.of(400, wire.BAD_SIGNATURE)
        params = wire.params_of(query, body)
        self._check_timestamp(params.get("timestamp"), params.get("recvWindow"))
        return params

    def _check_timestamp(self, stamp: str | None, recv_window: str | None) -> None:
        if not stamp:
            raise wire.missing("timestamp")
        try:
            sent = int(stamp)
            window = int(recv_window) if recv_window else DEFAULT_RECV_WINDOW_MS
        except ValueError:
            raise wire.missing("timestamp") from None
        clocks = (time.time_ns() // wire.NS_PER_MS, wire.ms(self.exchange.now_ns))
        if not any(now - window <= sent <= now + 1000 for now in clocks):
            raise BinanceError.of(400, wire.BAD_TIMESTAMP)

    def _market(self, params: dict[str, str]) -> SpotMarket:
        market_id = params.get("symbol")
        if not market_id:
            raise wire.missing("symbol")
        market = self.markets.get(market_id.upper())
        if market is None:
            raise BinanceError.of(400, wire.BAD_SYMBOL)
        return market

    # -- public REST ----------------------------------------------------------------------------------------
    async def _ping(self, request: web.Request, query: str, body: str) -> Any:
        return {}

    async def _time(self, request: web.Request, query: str, body: str) -> Any:
        return {"serverTime": wire.ms(self.exchange.now_ns)}

    async def _exchange_info(self, request: web.Request, query: str, body: str) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": wire.ms(self.exchange.now_ns),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            ],
            "exchangeFilters": [],
            "symbols": [
                wire.symbol_info(m.instrument, m.market_id, m.base, m.quote, self.min_notional)
                for m in self.markets.values()
            ],
        }

    async def _klines(self, request: web.Request, query: str, body: str) -> Any:
        """Published bars only; the newest `limit` without `startTime`, else the first `limit` from it."""
        params = wire.params_of(query, body)
        market = self._market(params)
        if params.get("interval") != "1m" or market.interval_ms != 60_000:
            raise BinanceError.of(400, wire.BAD_INTERVAL)
        limit = min(int(params.get("limit") or 500), 1000)
        start = params.get("startTime")
        end = params.get("endTime")
        end_ns = (int(end) + 1) * wire.NS_PER_MS if end else self.exchange.now_ns + 1
        bars = self.exchange.history(market.symbol, int(start) * wire.NS_PER_MS if start else 0, end_ns)
        bars = bars[:limit] if start else bars[-limit:]
        return [wire.kline_row(market.instrument, bar, market.interval_ms) for bar in bars]

    # -- orders ---------------------------------------------------------------------------------------------
    async def _new_order(self, request: web.Request, query: str, body: str) -> Any:
        params = self._signed(request, query, body)
        market = self._market(params)
        coid = params.get("newClientOrderId") or f"emu-{next(self._order_seq)}"
        order = self._order_from(params, market, ClientOrderId(coid))
        if self.exchange.order(coid) is not None or coid in self._refused:
            raise BinanceError.of(400, wire.DUPLICATE_ORDER)
        self._check_balance(order, market)
        hang, self._faults.order_hang_s = self._faults.order_hang_s, None
        if hang is not None:
            # The venue takes the order after the client gave up: `call_later` runs even if aiohttp cancels
            # this handler when the client disconnects.
            self._loop.call_later(hang, self._submit_quietly, order)
            await asyncio.sleep(hang + 0.05)
            return self._new_order_answer(order, market, params)
        self._submit(order)
        error, self._faults.order_error = self._faults.order_error, None
        if error is not None:
            raise error  # after the venue took it: the answer is lost, the order is not
        return self._new_order_answer(order, market, params)

    def _submit(self, order: Order) -> None:
        self._ids(order)
        events = self.exchange.submit(order)
        rejected = next((e for e in events if isinstance(e, OrderRejected)), None)
        if rejected is not None:
            self._refused.add(order.client_order_id)
            raise BinanceError(400, -2010, rejected.reason or "Order rejected.")

    def _submit_quietly(self, order: Order) -> None:
        try:
            self._submit(order)
        except BinanceError as exc:
            log.info("late order %s refused: %s", order.client_order_id, exc.msg)

    def _new_order_answer(self, order: Order, market: SpotMarket, params: dict[str, str]) -> dict[str, Any]:
        current = self.exchange.order(order.client_order_id) or order
        fills = [f for f in self.exchange.fills() if f.client_order_id == order.client_order_id]
        fill_rows = [
            {
                "price": wire.num(f.price),
                "qty": wire.num(f.quantity),
                "commission": wire.num(f.commission),
                "commissionAsset": market.quote,
                "tradeId": self._trade_id(f),
            }
            for f in fills
        ]
        cum_quote = sum((f.quantity * f.price for f in fills), ZERO)
        response_type = (params.get("newOrderRespType") or "FULL").upper()
        return wire.new_order_body(current, self._ids(current), cum_quote, fill_rows, response_type)

    def _order_from(self, params: dict[str, str], market: SpotMarket, coid: ClientOrderId) -> Order:
        """A core order from Binance's parameters, after Binance's own checks (types, filters)."""
        side = wire.SIDES.get(params.get("side", "").upper())
        if side is None:
            raise BinanceError.of(400, wire.BAD_SIDE)
        kind = wire.ORDER_TYPES.get(params.get("type", "").upper())
        if kind is None:
            raise BinanceError.of(400, wire.BAD_ORDER_TYPE)
        quantity = _decimal(params, "quantity")
        price = _decimal(params, "price") if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = _decimal(params, "stopPrice") if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        tif_text = params.get("timeInForce")
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not tif_text:
            raise wire.missing("timeInForce")
        tif = wire.TIME_IN_FORCE.get((tif_text or "GTC").upper())
        if tif is None:
            raise BinanceError.of(400, wire.BAD_TIF)
        instrument = market.instrument
        if quantity < max(instrument.min_quantity, instrument.lot_size) or quantity % instrument.lot_size:
            raise wire.filter_failure("LOT_SIZE")
        for value in (price, stop):
            if value is not None and (value <= 0 or value % instrument.tick_size):
                raise wire.filter_failure("PRICE_FILTER")
        reference = price or stop or self.exchange.last_price(market.symbol)
        if reference is not None and quantity * reference < self.min_notional:
            raise wire.filter_failure("NOTIONAL")
        return Order(
            client_order_id=coid,
            strategy_id=STRATEGY,
            instrument_id=instrument.id,
            side=side,
            order_type=kind,
            quantity=quantity,
            limit_price=price,
            stop_price=stop,
            time_in_force=tif,
            ts_init=self.exchange.now_ns,
        )

    def _check_balance(self, order: Order, market: SpotMarket) -> None:
        balances = self.balances()
        if order.side is OrderSide.SELL:
            needed, asset = order.quantity, market.base
        else:
            price = _holding_price(order, self.exchange.last_price(market.symbol))
            notional = order.quantity * price
            fees = self.exchange.venue.config.fees.commission(market.instrument, order.quantity, price)
            needed, asset = notional + fees, market.quote
        if needed > balances.get(asset, (ZERO, ZERO))[0]:
            raise BinanceError.of(400, wire.INSUFFICIENT_BALANCE)

    def _visible(self, coid: str | None) -> Order | None:
        if not coid or coid in self._refused:
            return None
        return self.exchange.order(coid)

    def _find(self, params: dict[str, str], missing_error: tuple[int, str]) -> tuple[Order, SpotMarket]:
        market = self._market(params)
        coid = params.get("origClientOrderId")
        if not coid and params.get("orderId"):
            with self._ids_lock:
                coid = self._coid_by_order_id.get(int(params["orderId"]))
        if not coid and not params.get("orderId"):
            raise wire.missing("orderId")
        order = self._visible(coid)
        if order is None or order.instrument_id != market.instrument.id:
            raise BinanceError.of(400, missing_error)
        return order, market

    def _order_body(self, order: Order) -> dict[str, Any]:
        fills = [f for f in self.exchange.fills() if f.client_order_id == order.client_order_id]
        cum_quote = sum((f.quantity * f.price for f in fills), ZERO)
        return wire.order_body(order, self._ids(order), cum_quote, wire.ms(order.ts_last or self.exchange.now_ns))

    async def _get_order(self, request: web.Request, query: str, body: str) -> Any:
        order, _ = self._find(self._signed(request, query, body), wire.UNKNOWN_ORDER)
        return self._order_body(order)

    async def _cancel_order(self, request: web.Request, query: str, body: str) -> Any:
        order, _ = self._find(self._signed(request, query, body), wire.UNKNOWN_ORDER_CANCEL)
        if not order.is_open:
            raise BinanceError.of(400, wire.UNKNOWN_ORDER_CANCEL)
        self.exchange.cancel(order.client_order_id)
        canceled = self.exchange.order(order.client_order_id) or order
        answer = self._order_body(canceled)
        answer["origClientOrderId"] = canceled.client_order_id
        answer["transactTime"] = wire.ms(self.exchange.now_ns)
        return answer

    async def _open_orders(self, request: web.Request, query: str, body: str) -> Any:
        params = self._signed(request, query, body)
        market = self._market(params) if params.get("symbol") else None
        return [
            self._order_body(o)
            for o in self.exchange.orders(open_only=True)
            if market is None or o.instrument_id == market.instrument.id
        ]

    async def _my_trades(self, request: web.Request, query: str, body: str) -> Any:
        params = self._signed(request, query, body)
        market = self._market(params)
        start = int(params.get("startTime") or 0)
        end = int(params["endTime"]) if params.get("endTime") else None
        from_id = int(params.get("fromId") or 0)
        limit = min(int(params.get("limit") or 500), 1000)
        rows = []
        for fill in self.exchange.fills():
            if fill.instrument_id != market.instrument.id:
                continue
            order = self.exchange.order(fill.client_order_id)
            if order is None:
                continue
            row = wire.trade_body(fill, self._ids(order), self._trade_id(fill), market.quote)
            if row["time"] < start or (end is not None and row["time"] > end) or row["id"] < from_id:
                continue
            if params.get("orderId") and row["orderId"] != int(params["orderId"]):
                continue
            rows.append(row)
        return rows[:limit]

    async def _account(self, request: web.Request, query: str, body: str) -> Any:
        self._signed(request, query, body)
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": wire.ms(self.exchange.now_ns),
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": wire.num(free), "locked": wire.num(locked)}
                for asset, (free, locked) in self.balances().items()
            ],
            "permissions": ["SPOT"],
        }

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Asset -> (free, locked), Binance's view of the core account (module doc)."""
        totals: dict[str, Decimal] = {}
        locked: dict[str, Decimal] = {}
        for market in self.markets.values():
            totals[market.quote] = self.exchange.cash
            totals[market.base] = totals.get(market.base, ZERO) + self.exchange.account.quantity(market.instrument.id)
        for order in self.exchange.orders(open_only=True):
            market = self._by_symbol[self.exchange.symbol_of(order.instrument_id)]
            leaves = order.quantity - order.filled_quantity
            if order.side is OrderSide.SELL:
                locked[market.base] = locked.get(market.base, ZERO) + leaves
            else:
                price = _holding_price(order, self.exchange.last_price(market.symbol))
                locked[market.quote] = locked.get(market.quote, ZERO) + leaves * price
        return {asset: (total - locked.get(asset, ZERO), locked.get(asset, ZERO)) for asset, total in totals.items()}

    # -- streams --------------------------------------------------------------------------------------------
    async def _serve_ws(
        self,
        request: web.Request,
        conns: set[_Connection],
        on_text: Callable[[_Connection, Any], Awaitable[None]],
        streams: set[str] | None = None,
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws, set(streams or ()))
        writer = asyncio.get_running_loop().create_task(conn.write())
        conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(msg.data)
                except json.JSONDecodeError:
                    conn.outbox.put_nowait(json.dumps({"error": {"code": -1100, "msg": "Malformed JSON."}}))
                    continue
                await on_text(conn, message)
        finally:
            conns.discard(conn)
            conn.outbox.put_nowait(None)
            await writer
        return ws

    async def _market_stream(self, request: web.Request) -> web.WebSocketResponse:
        raw_stream = request.path.rsplit("/", 1)[-1]

        async def on_text(conn: _Connection, message: Any) -> None:
            method = message.get("method") if isinstance(message, dict) else None
            streams = message.get("params") or [] if isinstance(message, dict) else []
            if method == "SUBSCRIBE":
                conn.streams.update(streams)
                conn.outbox.put_nowait(json.dumps({"result": None, "id": message.get("id")}))
            elif method == "UNSUBSCRIBE":
                conn.streams.difference_update(streams)
                conn.outbox.put_nowait(json.dumps({"result": None, "id": message.get("id")}))
            elif method == "LIST_SUBSCRIPTIONS":
                conn.outbox.put_nowait(json.dumps({"result": sorted(conn.streams), "id": message.get("id")}))
            else:
                error = {"code": 2, "msg": "Invalid request: unknown method"}
                conn.outbox.put_nowait(json.dumps({"error": error, "id": message.get("id")}))

        initial = {raw_stream} if "@" in raw_stream else set()  # a raw stream in the path: /ws/ethbtc@kline_1m
        return await self._serve_ws(request, self._market_conns, on_text, initial)

    async def _ws_api(self, request: web.Request) -> web.WebSocketResponse:
        async def on_text(conn: _Connection, message: Any) -> None:
            if not isinstance(message, dict):
                return
            request_id = message.get("id")
            method = message.get("method")
            params = message.get("params") or {}
            try:
                if method == "userDataStream.subscribe.signature":
                    self._check_ws_signature(params)
                    conn.user_data = True
                    result: Any = {"subscriptionId": 0}
                elif method == "userDataStream.unsubscribe":
                    conn.user_data = False
                    result = {}
                elif method == "ping":
                    result = {}
                elif method == "time":
                    result = {"serverTime": wire.ms(self.exchange.now_ns)}
                else:
                    raise BinanceError(400, -1020, "This operation is not supported.")
                answer = {"id": request_id, "status": 200, "result": result, "rateLimits": []}
            except BinanceError as exc:
                answer = {"id": request_id, "status": exc.status, "error": exc.body, "rateLimits": []}
            conn.outbox.put_nowait(json.dumps(answer))

        return await self._serve_ws(request, self._user_conns, on_text)

    def _check_ws_signature(self, params: dict[str, Any]) -> None:
        if params.get("apiKey") != self.api_key:
            raise BinanceError.of(401, wire.BAD_API_KEY)
        if params.get("signature") != wire.sign(wire.ws_signed_payload(params), self.secret):
            raise BinanceError.of(400, wire.BAD_SIGNATURE)
        self._check_timestamp(str(params.get("timestamp") or ""), str(params.get("recvWindow") or ""))

    # -- venue events -> stream events ----------------------------------------------------------------------
    def _on_exchange_event(self, event: ExchangeEvent) -> None:
        """Called by the exchange in whatever thread stepped it, with its lock held: build the payloads now
        (the state is this event's), send them from the server's loop."""
        now_ms = wire.ms(self.exchange.now_ns)
        if isinstance(event, BarClosed):
            market = self._by_symbol[event.symbol]
            stream = f"{market.market_id.lower()}@kline_1m"
            payload = wire.kline_event(market.instrument, market.market_id, event.bar, market.interval_ms, now_ms, True)
            self._send_market(stream, payload)
            return
        user_events = self._user_events(event, now_ms)
        if user_events:
            texts = [json.dumps({"subscriptionId": 0, "event": e}) for e in user_events]
            self._loop.call_soon_threadsafe(self._send_user, texts)

    def _user_events(self, update: OrderUpdate, now_ms: int) -> list[dict[str, Any]]:
        order, message = update.order, update.message
        if order.client_order_id in self._refused or isinstance(message, OrderRejected):
            return []  # Binance refuses such an order in the REST answer; the stream never sees it
        execution = {
            OrderAccepted: "NEW",
            OrderFilled: "TRADE",
            OrderCanceled: "CANCELED",
            OrderExpired: "EXPIRED",
        }.get(type(message))
        if execution is None:
            return []  # stop triggers and in-place updates: Binance spot reports neither
        ids = self._ids(order)
        market = self._by_symbol[self.exchange.symbol_of(order.instrument_id)]
        events: list[dict[str, Any]] = []
        fill = update.fill
        trade_id = -1
        cum_quote = self._cum_quote.get(order.client_order_id, ZERO)
        if fill is not None:
            trade_id = self._trade_id(fill)
            cum_quote += fill.quantity * fill.price
            self._cum_quote[order.client_order_id] = cum_quote
            self._send_market(
                f"{market.market_id.lower()}@trade", wire.trade_event(market.market_id, fill, trade_id, now_ms)
            )
        events.append(
            wire.execution_report(
                order,
                ids,
                execution=execution,
                event_ms=now_ms,
                cum_quote=cum_quote,
                fill=fill,
                trade_id=trade_id,
                commission_asset=market.quote,
            )
        )
        if fill is not None or execution == "NEW":
            balances = self.balances()
            changed = {a: balances[a] for a in (market.base, market.quote) if a in balances}
            events.append(wire.account_position(now_ms, changed))
        return events

    def _send_market(self, stream: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        self._loop.call_soon_threadsafe(self._send_stream, stream, text)

    def _send_stream(self, stream: str, text: str) -> None:
        for conn in self._market_conns:
            if stream in conn.streams:
                conn.outbox.put_nowait(text)

    def _send_user(self, texts: list[str]) -> None:
        for conn in self._user_conns:
            if conn.user_data:
                for text in texts:
                    conn.outbox.put_nowait(text)


def _decimal(params: dict[str, str], name: str) -> Decimal:
    text = params.get(name)
    if not text:
        raise wire.missing(name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise wire.missing(name) from None
    if not value.is_finite() or value <= 0:
        raise wire.missing(name)
    return value


def _holding_price(order: Order, last: Decimal | None) -> Decimal:
    """What a buy holds per unit: its limit, else its stop, else the last close (market orders)."""
    price = order.limit_price or order.stop_price or last
    return price if price is not None else ZERO
