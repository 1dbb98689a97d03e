"""An Alpaca venue emulator: Alpaca's trading REST, trade_updates stream, market-data REST and stock stream,
served on 127.0.0.1 by aiohttp over an `EmulatedExchange`, so alpaca-py talks to it unchanged.

Run it: `python -m emulators.alpaca --data data/mplfinance/SP500_NOV2019_IDayRVol.csv --symbol SPY --speed 60`
prints the `ALPACA_*` variables to export. The bundled file is the S&P 500 *index* in 1-minute bars; serving
it as SPY is the demo's choice (prices are index points, not the ETF's), nothing more.

Wire formats follow alpaca-py 0.44 (trading/client.py, trading/stream.py, data/historical/stock.py,
data/live/websocket.py): JSON with Alpaca's field names, decimals as strings, RFC 3339 times; the
trade_updates socket (`/stream`) speaks JSON, the stock socket (`/v2/iex`, `/v2/sip`) msgpack. Venue time
is the recorded data's clock, never the wall clock (`/v2/clock`, order and fill times).

Alpaca's replace: PATCH creates a new order (new id, new client order id) and the old one becomes
`replaced`; here the venue modifies its order in place and the emulator keeps the Alpaca chain of ids on
top. The stream then sends `replaced` (the old order) and `new` (its replacement). Only bars are streamed:
trades and quotes subscriptions are acknowledged but the recorded data has none.

Faults (methods, callable from any thread; each is consumed by the next matching request):
`fail_next_submit`, `hang_next_submit`, `rate_limit_next`, `drop_trade_updates`, `drop_data_stream`,
`refuse_trade_updates` / `refuse_data_stream`, and `place_order_by_hand`. `submits` counts every order
POST that reached the venue per client order id.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import copy
import datetime as dt
import json
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import msgpack
from aiohttp import WSMsgType, web

from emulators.exchange import BarClosed, EmulatedExchange, ExchangeEvent, OrderUpdate
from trading.data.bars import Bar
from trading.data.loaders import load_bars
from trading.messages import OrderAccepted, OrderCanceled, OrderExpired, OrderFilled, OrderRejected
from trading.model.identifiers import ClientOrderId, StrategyId
from trading.model.instruments import Instrument, TradingSession, equity
from trading.model.orders import ContingencyType, Order, OrderSide, OrderStatus, OrderType, TimeInForce

NEW_YORK = ZoneInfo("America/New_York")
_NS = uuid.UUID("6f1c1c8e-6a7e-4b8a-9d0e-2f3c4b5a6d7e")  # namespace for stable ids derived from venue ids
EMULATOR_STRATEGY = StrategyId("alpaca")
MAX_BARS_PAGE = 10_000

_STATUS = {
    OrderStatus.INITIALIZED: "pending_new",
    OrderStatus.SUBMITTED: "pending_new",
    OrderStatus.ACCEPTED: "new",
    OrderStatus.TRIGGERED: "new",
    OrderStatus.PENDING_UPDATE: "pending_replace",
    OrderStatus.PENDING_CANCEL: "pending_cancel",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.DENIED: "rejected",
}
_TIF = {t.value: t for t in TimeInForce}
_TYPES = {t.value: t for t in OrderType}


class AlpacaError(Exception):
    """An error answer in Alpaca's shape: HTTP status and `{"code": ..., "message": ...}`."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message}
        if self.code is not None:
            body["code"] = self.code
        return web.json_response(body, status=self.status)


def _unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, 40010001, message)


def rfc3339(ts_ns: int) -> str:
    """`2019-11-05T14:30:00Z` (fractions only when there are any, to the nanosecond)."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    text = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{nanos:09d}Z" if nanos else f"{text}Z"


def _parse_time(text: str, what: str) -> int:
    try:
        when = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise _unprocessable(f"invalid {what}: {text}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def _dec(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _unprocessable(f"invalid {what}: {value}") from None
    if not number.is_finite() or number <= 0:
        raise _unprocessable(f"{what} must be > 0")
    return number


def _s(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass
class _Record:
    """Alpaca's view of one venue order: its ids, class and replacement chain."""

    id: str
    client_order_id: str
    venue_coid: ClientOrderId
    created_ns: int
    order_class: str = "simple"
    legs: list[str] = field(default_factory=list)  # record ids
    replaced_by: str | None = None
    replaces: str | None = None
    replaced_ns: int | None = None
    # Set when replaced: the venue order lives on in the replacement, this one shows what it was then.
    frozen: Order | None = None


class AlpacaEmulator:
    """The Alpaca server. `start()` runs it in a background thread; `with AlpacaEmulator(...) as server:`."""

    def __init__(
        self,
        exchange: EmulatedExchange,
        *,
        api_key: str = "PKEMULATOR0000000000",
        secret_key: str = "emulator-secret-key",
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = "EMU000001",
        bars_page_size: int = 1000,
    ) -> None:
        self.exchange = exchange
        self.api_key = api_key
        self.secret_key = secret_key
        self.host = host
        self.port = port or _free_port(host)
        self.account_id = account_id
        self.bars_page_size = bars_page_size  # Alpaca's default `limit` for bars
        self.submits: Counter[str] = Counter()  # order POSTs that reached the venue, per client order id
        self._records: dict[str, _Record] = {}
        self._by_client_id: dict[str, _Record] = {}
        self._current: dict[ClientOrderId, _Record] = {}  # venue order -> its live Alpaca record
        self._lock = threading.RLock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="alpaca-emulator", daemon=True)
        self._runner: web.AppRunner | None = None
        self._trade_sockets: set[web.WebSocketResponse] = set()
        self._data_sockets: dict[web.WebSocketResponse, dict[str, set[str]]] = {}
        self._fail_next_submit: int | None = None
        self._hang_next_submit: float | None = None
        self._rate_limited = 0
        self._retry_after = 1.0
        self._refuse_trade_updates = False
        self._refuse_data = False
        self._clock_task: concurrent.futures.Future[None] | None = None
        # Everything sent on the streams goes through one queue drained by one task, so messages leave in the
        # order the venue produced them (a task per message could interleave at its awaits).
        self._outbox: asyncio.Queue[ExchangeEvent | dict[str, Any]] | None = None
        self._pump: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def env(self, feed: str = "iex") -> dict[str, str]:
        """The settings `AlpacaConfig.from_settings` reads, pointed at this server."""
        return {
            "ALPACA_API_KEY": self.api_key,
            "ALPACA_SECRET_KEY": self.secret_key,
            "ALPACA_TRADING_URL": self.url,
            "ALPACA_DATA_URL": self.url,
            "ALPACA_TRADING_STREAM_URL": f"{self.ws_url}/stream",
            "ALPACA_STOCK_STREAM_URL": f"{self.ws_url}/v2/{feed}",
        }

    def start(self) -> AlpacaEmulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> AlpacaEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start_clock(self, interval_s: float) -> None:
        """Advance the exchange one bar time every `interval_s` seconds in the server's loop (demos)."""
        self._clock_task = asyncio.run_coroutine_threadsafe(self.exchange.run(interval_s), self._loop)

    def advance(self) -> bool:
        """Step the exchange's clock once (tests); stream messages follow on the server's loop."""
        return self.exchange.advance()

    def call(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run a coroutine function on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        trading = [
            web.get("/v2/account", self._account),
            web.get("/v2/orders", self._list_orders),
            web.post("/v2/orders", self._submit),
            web.delete("/v2/orders", self._cancel_all),
            web.get("/v2/orders:by_client_order_id", self._by_client_order_id),
            web.get("/v2/orders/{order_id}", self._get_order),
            web.patch("/v2/orders/{order_id}", self._replace),
            web.delete("/v2/orders/{order_id}", self._cancel),
            web.get("/v2/positions", self._positions),
            web.delete("/v2/positions", self._close_all_positions),
            web.get("/v2/positions/{symbol}", self._position),
            web.delete("/v2/positions/{symbol}", self._close_position),
            web.get("/v2/clock", self._clock),
            web.get("/v2/assets/{symbol}", self._asset),
            web.get("/v2/account/activities", self._activities),
            web.get("/v2/account/activities/{activity_type}", self._activities),
            web.get("/v2/stocks/bars", self._bars),
            web.get("/v2/stocks/{symbol}/bars", self._bars),
            web.get("/stream", self._trade_updates_socket),
            web.get("/v2/iex", self._data_socket),
            web.get("/v2/sip", self._data_socket),
        ]
        app.add_routes(trading)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self._outbox = asyncio.Queue()
        self._pump = asyncio.create_task(self._drain_outbox())
        self.exchange.subscribe(self._on_exchange_event)

    async def _shutdown(self) -> None:
        self.exchange.unsubscribe(self._on_exchange_event)
        if self._clock_task is not None:
            self._clock_task.cancel()
        if self._pump is not None:
            self._pump.cancel()
        for ws in [*self._trade_sockets, *self._data_sockets]:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---------------------------------------------------------------------------------------------- faults
    def fail_next_submit(self, status: int = 500) -> None:
        """The next order POST is accepted by the venue, then answered `status` (the client cannot know)."""
        with self._lock:
            self._fail_next_submit = status

    def hang_next_submit(self, seconds: float) -> None:
        """The next order POST waits `seconds` (past the client's timeout), then the venue accepts it."""
        with self._lock:
            self._hang_next_submit = seconds

    def rate_limit_next(self, requests: int, retry_after: float = 1.0) -> None:
        """The next `requests` HTTP requests answer 429 with `Retry-After` (nothing reaches the venue)."""
        with self._lock:
            self._rate_limited = requests
            self._retry_after = retry_after

    def drop_trade_updates(self, *, refuse_reconnects: bool = False) -> None:
        """Close every trade_updates socket; with `refuse_reconnects`, answer new ones 503 until allowed."""
        self.refuse_trade_updates(refuse_reconnects)
        self.call(lambda: _close_all(list(self._trade_sockets)))

    def refuse_trade_updates(self, refuse: bool = True) -> None:
        """Refuse (503) or allow new trade_updates connections."""
        self._refuse_trade_updates = refuse

    def drop_data_stream(self, *, refuse_reconnects: bool = False) -> None:
        """Close every stock-data socket; with `refuse_reconnects`, answer new ones 503 until allowed."""
        self.refuse_data_stream(refuse_reconnects)
        self.call(lambda: _close_all(list(self._data_sockets)))

    def refuse_data_stream(self, refuse: bool = True) -> None:
        """Refuse (503) or allow new stock-data connections."""
        self._refuse_data = refuse

    def place_order_by_hand(
        self,
        symbol: str,
        side: str,
        qty: Decimal,
        order_type: str = "market",
        *,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        time_in_force: str = "gtc",
    ) -> dict[str, Any]:
        """An order placed outside the system under test (Alpaca's dashboard): returns its Alpaca JSON."""
        order = self.exchange.submit_by_hand(
            symbol,
            OrderSide(side),
            qty,
            OrderType(order_type),
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=TimeInForce(time_in_force),
            client_order_id=str(uuid.uuid4()),
        )
        with self._lock:
            return self._order_json(self._record_for(order))

    def connections(self) -> tuple[int, int]:
        """(trade_updates sockets listening, authenticated stock-data sockets)."""
        return len(self._trade_sockets), len(self._data_sockets)

    def bar_subscribers(self, symbol: str) -> int:
        """How many stock-data sockets are subscribed to `symbol`'s bars (tests wait for it before stepping)."""
        return sum(1 for s in list(self._data_sockets.values()) if symbol in s["bars"] or "*" in s["bars"])

    # ----------------------------------------------------------------------------------------- middleware
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in ("/stream", "/v2/iex", "/v2/sip"):
            return await handler(request)  # websockets authenticate inside the protocol
        key = request.headers.get("APCA-API-KEY-ID")
        secret = request.headers.get("APCA-API-SECRET-KEY")
        if not key or not secret:
            return AlpacaError(401, 40110000, "request is not authorized").response()
        if key != self.api_key or secret != self.secret_key:
            return AlpacaError(403, None, "forbidden.").response()
        with self._lock:
            limited = self._rate_limited > 0
            if limited:
                self._rate_limited -= 1
        if limited:
            response = AlpacaError(429, 42910000, "rate limit exceeded").response()
            response.headers["Retry-After"] = f"{self._retry_after:g}"
            return response
        try:
            return await handler(request)
        except AlpacaError as error:
            return error.response()

    # ------------------------------------------------------------------------------------------ account
    async def _account(self, request: web.Request) -> web.Response:
        ex = self.exchange
        marks = ex.marks()
        long_value = sum((p.market_value(marks[i]) for i, p in ex.positions().items() if p.quantity > 0), Decimal(0))
        short_value = sum((p.market_value(marks[i]) for i, p in ex.positions().items() if p.quantity < 0), Decimal(0))
        cash, equity = ex.cash, ex.equity()
        body = {
            "id": str(uuid.uuid5(_NS, self.account_id)),
            "account_number": self.account_id,
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": ex.account.currency,
            "buying_power": _s(max(cash, Decimal(0))),
            "regt_buying_power": _s(max(cash, Decimal(0))),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _s(max(cash, Decimal(0))),
            "cash": _s(cash),
            "accrued_fees": "0",
            "portfolio_value": _s(equity),
            "equity": _s(equity),
            "last_equity": _s(ex.account.starting_cash),
            "long_market_value": _s(long_value),
            "short_market_value": _s(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "multiplier": "1",
            "daytrade_count": 0,
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "shorting_enabled": True,
            "created_at": rfc3339(ex.now_ns),
        }
        return web.json_response(body)

    async def _clock(self, request: web.Request) -> web.Response:
        now = self.exchange.now_ns
        symbol = self.exchange.symbols[0]
        instrument = self.exchange.instrument(symbol)
        next_open, next_close = _next_session(instrument, now)
        return web.json_response(
            {
                "timestamp": _ny(now),
                "is_open": self.exchange.is_open(symbol),
                "next_open": _ny(next_open),
                "next_close": _ny(next_close),
            }
        )

    async def _asset(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        try:
            instrument = self.exchange.instrument(symbol)
        except KeyError:
            raise AlpacaError(404, 40410000, f"asset not found for {symbol}") from None
        return web.json_response(_asset_json(symbol, instrument))

    # ----------------------------------------------------------------------------------------------- orders
    def _record_for(self, order: Order) -> _Record:
        """The live Alpaca record of a venue order, made on first sight for orders placed elsewhere."""
        record = self._current.get(order.client_order_id)
        if record is None:
            record = _Record(str(uuid.uuid4()), order.client_order_id, order.client_order_id, order.ts_init)
            self._remember(record)
        return record

    def _remember(self, record: _Record) -> None:
        self._records[record.id] = record
        self._by_client_id[record.client_order_id] = record
        self._current[record.venue_coid] = record

    def _order_of(self, record: _Record) -> Order:
        if record.frozen is not None:
            return record.frozen
        order = self.exchange.order(record.venue_coid)
        assert order is not None  # records are made for venue orders only
        return order

    def _order_json(self, record: _Record, order: Order | None = None) -> dict[str, Any]:
        order = order or self._order_of(record)
        if record.replaced_by is not None:
            status = "replaced"
        elif self._held(order):
            status = "held"
        else:
            status = _STATUS[order.status]
        updated = max(order.ts_last, record.created_ns)
        closed = order.ts_last if order.is_closed else None
        symbol = self.exchange.symbol_of(order.instrument_id)
        return {
            "id": record.id,
            "client_order_id": record.client_order_id,
            "created_at": rfc3339(record.created_ns),
            "updated_at": rfc3339(updated),
            "submitted_at": rfc3339(record.created_ns),
            "filled_at": rfc3339(order.ts_last) if order.status is OrderStatus.FILLED else None,
            "expired_at": rfc3339(closed) if closed and order.status is OrderStatus.EXPIRED else None,
            "canceled_at": rfc3339(closed) if closed and order.status is OrderStatus.CANCELED else None,
            "failed_at": rfc3339(closed) if closed and order.status is OrderStatus.REJECTED else None,
            "replaced_at": None if record.replaced_ns is None else rfc3339(record.replaced_ns),
            "replaced_by": record.replaced_by,
            "replaces": record.replaces,
            "asset_id": str(uuid.uuid5(_NS, symbol)),
            "symbol": symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": _s(order.quantity),
            "filled_qty": _s(order.filled_quantity),
            "filled_avg_price": _s(order.avg_fill_price),
            "order_class": record.order_class,
            "order_type": order.order_type.value,
            "type": order.order_type.value,
            "side": order.side.value,
            "position_intent": None,
            "time_in_force": order.time_in_force.value,
            "limit_price": _s(order.limit_price),
            "stop_price": _s(order.stop_price),
            "status": status,
            "extended_hours": False,
            "legs": [self._order_json(self._records[leg]) for leg in record.legs] or None,
            "trail_percent": _s(order.trailing_percent),
            "trail_price": _s(order.trailing_offset),
            "hwm": None,
            "commission": "0",
        }

    def _held(self, order: Order) -> bool:
        """A bracket / OTO leg waiting for its parent's fill (Alpaca's `held`)."""
        if order.parent_id is None or not order.is_open:
            return False
        parent = self.exchange.order(order.parent_id)
        return parent is not None and parent.status is not OrderStatus.FILLED

    def _record_by_id(self, order_id: str) -> _Record:
        record = self._records.get(order_id)
        if record is None:
            raise AlpacaError(404, 40410000, "order not found")
        return record

    async def _list_orders(self, request: web.Request) -> web.Response:
        query = request.query
        status = query.get("status", "open")
        nested = query.get("nested", "false").lower() == "true"
        symbols = set(filter(None, query.get("symbols", "").split(",")))
        limit = min(int(query.get("limit", "50")), 500)
        with self._lock:
            for order in self.exchange.orders():
                self._record_for(order)

            def wanted(record: _Record) -> bool:
                order = self._order_of(record)
                is_open = order.is_open and record.replaced_by is None
                if (status == "open" and not is_open) or (status == "closed" and is_open):
                    return False
                return not symbols or self.exchange.symbol_of(order.instrument_id) in symbols

            rows = [r for r in self._records.values() if wanted(r)]
            if nested:
                # Legs travel inside their parent; a leg whose parent is filtered out is listed on its own.
                nested_legs = {leg for r in rows for leg in r.legs}
                rows = [r for r in rows if r.id not in nested_legs]
            rows.sort(key=lambda r: r.created_ns, reverse=query.get("direction", "desc") == "desc")
            return web.json_response([self._order_json(r) for r in rows[:limit]])

    async def _get_order(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self._order_json(self._record_by_id(request.match_info["order_id"])))

    async def _by_client_order_id(self, request: web.Request) -> web.Response:
        coid = request.query.get("client_order_id", "")
        with self._lock:
            record = self._by_client_id.get(coid)
            if record is None:
                order = self.exchange.order(coid)  # placed by hand at the exchange
                if order is None:
                    raise AlpacaError(404, 40410000, "order not found")
                record = self._record_for(order)
            return web.json_response(self._order_json(record))

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict):
            raise _unprocessable("request body must be a JSON object")
        with self._lock:
            coid = str(body.get("client_order_id") or uuid.uuid4())
            self.submits[coid] += 1
            hang, self._hang_next_submit = self._hang_next_submit, None
            fail, self._fail_next_submit = self._fail_next_submit, None
        if hang:
            await asyncio.sleep(hang)
        with self._lock:
            answer = self._place(body, coid)
        if fail:
            raise AlpacaError(fail, 50010000, "internal server error occurred")
        return web.json_response(answer)

    def _place(self, body: dict[str, Any], coid: str) -> dict[str, Any]:
        """Validate an order POST like Alpaca and send its orders (parent first, then legs) to the venue."""
        if coid in self._by_client_id or self.exchange.order(coid) is not None:
            raise _unprocessable("client_order_id must be unique")
        symbol = str(body.get("symbol", ""))
        try:
            instrument = self.exchange.instrument(symbol)
        except KeyError:
            raise _unprocessable(f"asset {symbol!r} not found") from None
        if body.get("notional") is not None:
            raise _unprocessable("notional orders are not supported by this emulator")
        side = str(body.get("side", ""))
        if side not in ("buy", "sell"):
            raise _unprocessable(f"invalid side: {side!r}")
        order_type = _TYPES.get(str(body.get("type") or body.get("order_type") or ""))
        if order_type is None:
            raise _unprocessable(f"invalid order type: {body.get('type')!r}")
        tif = _TIF.get(str(body.get("time_in_force", "")))
        if tif is None:
            raise _unprocessable(f"invalid time_in_force: {body.get('time_in_force')!r}")
        qty = _dec(body.get("qty"), "qty")
        if qty is None:
            raise _unprocessable("qty is required")
        if qty % instrument.lot_size:
            raise _unprocessable(f"qty must be a multiple of {instrument.lot_size}")
        limit = _dec(body.get("limit_price"), "limit_price")
        stop = _dec(body.get("stop_price"), "stop_price")
        trail_price = _dec(body.get("trail_price"), "trail_price")
        trail_percent = _dec(body.get("trail_percent"), "trail_percent")
        order_class = str(body.get("order_class") or "simple")
        take_profit = body.get("take_profit") or {}
        stop_loss = body.get("stop_loss") or {}
        tp_limit = _dec(take_profit.get("limit_price"), "take_profit.limit_price")
        sl_stop = _dec(stop_loss.get("stop_price"), "stop_loss.stop_price")
        sl_limit = _dec(stop_loss.get("limit_price"), "stop_loss.limit_price")
        if order_class == "oco" and limit is None:
            limit = tp_limit  # the OCO's own order is its take-profit limit
        needs = {
            OrderType.LIMIT: ("limit_price", limit),
            OrderType.STOP: ("stop_price", stop),
            OrderType.STOP_LIMIT: ("limit_price", limit),
        }
        if order_type in needs and needs[order_type][1] is None:
            raise _unprocessable(f"{needs[order_type][0]} is required for {order_type.value} orders")
        if order_type is OrderType.STOP_LIMIT and stop is None:
            raise _unprocessable("stop_price is required for stop_limit orders")
        if order_type is OrderType.TRAILING_STOP and (trail_price is None) == (trail_percent is None):
            raise _unprocessable("trailing_stop orders need exactly one of trail_price, trail_percent")
        for name, price in (("limit_price", limit), ("stop_price", stop), ("take_profit", tp_limit)):
            if price is not None and price % instrument.tick_size:
                raise _unprocessable(f"invalid {name} {price}: sub-penny increment does not fulfill minimum")
        if order_class not in ("simple", "bracket", "oco", "oto"):
            raise _unprocessable(f"invalid order_class: {order_class!r}")
        if order_class == "bracket" and (tp_limit is None or sl_stop is None):
            raise _unprocessable("bracket orders require take_profit.limit_price and stop_loss.stop_price")
        if order_class in ("oco", "oto") and tp_limit is None and sl_stop is None:
            raise _unprocessable(f"{order_class} orders require take_profit or stop_loss")
        if order_class == "oco" and (tp_limit is None or sl_stop is None or order_type is not OrderType.LIMIT):
            raise _unprocessable("oco orders are limit orders with take_profit and stop_loss")
        if side == "buy" and order_class != "oco":
            reference = limit or stop or self.exchange.last_price(symbol)
            if reference is not None and qty * reference > self.exchange.cash:
                raise AlpacaError(403, 40310000, "insufficient buying power")

        now = self.exchange.now_ns
        main = Order(
            ClientOrderId(coid),
            EMULATOR_STRATEGY,
            instrument.id,
            OrderSide(side),
            order_type,
            qty,
            limit_price=limit if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
            stop_price=stop if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
            trailing_offset=trail_price,
            trailing_percent=trail_percent,
            time_in_force=tif,
            ts_init=now,
        )
        record = _Record(str(uuid.uuid4()), coid, main.client_order_id, now, order_class)
        exit_side = OrderSide.SELL if side == "buy" else OrderSide.BUY
        legs: list[Order] = []
        if order_class in ("bracket", "oto", "oco"):
            if tp_limit is not None and order_class != "oco":
                legs.append(self._leg(main, exit_side, OrderType.LIMIT, qty, tif, now, limit=tp_limit))
            if sl_stop is not None:
                kind = OrderType.STOP if sl_limit is None else OrderType.STOP_LIMIT
                side_of_stop = main.side if order_class == "oco" else exit_side
                legs.append(self._leg(main, side_of_stop, kind, qty, tif, now, limit=sl_limit, stop=sl_stop))
            if order_class == "oco":
                main.contingency = ContingencyType.OCO
                main.linked_ids = tuple(leg.client_order_id for leg in legs)
                for leg in legs:
                    leg.contingency = ContingencyType.OCO
                    leg.linked_ids = (main.client_order_id,)
            else:
                main.contingency = ContingencyType.OTO
                main.linked_ids = tuple(leg.client_order_id for leg in legs)
                ids = [leg.client_order_id for leg in legs]
                for leg in legs:
                    leg.parent_id = main.client_order_id
                    if len(legs) == 2:  # a bracket's exits cancel each other
                        leg.contingency = ContingencyType.OCO
                        leg.linked_ids = tuple(i for i in ids if i != leg.client_order_id)
        self._remember(record)
        for leg in legs:
            leg_record = _Record(str(uuid.uuid4()), leg.client_order_id, leg.client_order_id, now, order_class)
            self._remember(leg_record)
            record.legs.append(leg_record.id)
        self.exchange.submit(main)
        for leg in legs:
            self.exchange.submit(leg)
        return self._order_json(record)

    @staticmethod
    def _leg(
        main: Order,
        side: OrderSide,
        kind: OrderType,
        qty: Decimal,
        tif: TimeInForce,
        now: int,
        *,
        limit: Decimal | None = None,
        stop: Decimal | None = None,
    ) -> Order:
        return Order(
            ClientOrderId(str(uuid.uuid4())),
            main.strategy_id,
            main.instrument_id,
            side,
            kind,
            qty,
            limit_price=limit,
            stop_price=stop,
            time_in_force=tif,
            ts_init=now,
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        with self._lock:
            record = self._record_by_id(request.match_info["order_id"])
            order = self._order_of(record)
            if record.replaced_by is not None or not order.is_open:
                state = "replaced" if record.replaced_by else _STATUS[order.status]
                raise AlpacaError(422, 42210000, f'order is already in "{state}" state')
            self.exchange.cancel(record.venue_coid)
        return web.Response(status=204)

    async def _cancel_all(self, request: web.Request) -> web.Response:
        with self._lock:
            answers = []
            for order in self.exchange.orders(open_only=True):
                record = self._record_for(order)
                self.exchange.cancel(order.client_order_id)
                answers.append({"id": record.id, "status": 200, "body": self._order_json(record)})
        return web.json_response(answers, status=207)

    async def _replace(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            old = self._record_by_id(request.match_info["order_id"])
            order = self._order_of(old)
            if old.replaced_by is not None or not order.is_open:
                raise AlpacaError(422, 42210000, "order is not open: cannot replace")
            new_coid = str(body.get("client_order_id") or uuid.uuid4())
            if new_coid in self._by_client_id:
                raise _unprocessable("client_order_id must be unique")
            qty = _dec(body.get("qty"), "qty")
            limit = _dec(body.get("limit_price"), "limit_price")
            stop = _dec(body.get("stop_price"), "stop_price")
            before = copy.copy(order)
            events = self.exchange.replace(old.venue_coid, quantity=qty, limit_price=limit, stop_price=stop)
            rejected = [e for e in events if isinstance(e, OrderRejected)]
            if rejected:
                raise _unprocessable(rejected[0].reason)
            now = self.exchange.now_ns
            new = _Record(
                str(uuid.uuid4()), new_coid, old.venue_coid, now, old.order_class, list(old.legs), replaces=old.id
            )
            old.replaced_by, old.replaced_ns, old.frozen = new.id, now, before
            self._remember(new)
            replaced_json = self._order_json(old)
            new_json = self._order_json(new)
        ts = rfc3339(self.exchange.now_ns)
        assert self._outbox is not None
        self._outbox.put_nowait({"event": "replaced", "timestamp": ts, "order": replaced_json})
        self._outbox.put_nowait({"event": "new", "timestamp": ts, "order": new_json})
        return web.json_response(new_json)

    # ------------------------------------------------------------------------------------------- positions
    def _position_json(self, symbol: str) -> dict[str, Any] | None:
        instrument = self.exchange.instrument(symbol)
        position = self.exchange.positions().get(instrument.id)
        if position is None:
            return None
        mark = self.exchange.marks()[instrument.id]
        quantity = position.quantity
        cost = abs(quantity) * position.avg_price
        value = position.market_value(mark)
        unrealized = position.unrealized_pnl(mark)
        return {
            "asset_id": str(uuid.uuid5(_NS, symbol)),
            "symbol": symbol,
            "exchange": "ARCA",
            "asset_class": "us_equity",
            "asset_marginable": False,
            "avg_entry_price": _s(position.avg_price),
            "qty": _s(abs(quantity)),
            "qty_available": _s(abs(quantity)),
            "side": "long" if quantity > 0 else "short",
            "market_value": _s(value),
            "cost_basis": _s(cost),
            "unrealized_pl": _s(unrealized),
            "unrealized_plpc": _s(unrealized / cost) if cost else "0",
            "unrealized_intraday_pl": _s(unrealized),
            "unrealized_intraday_plpc": _s(unrealized / cost) if cost else "0",
            "current_price": _s(mark),
            "lastday_price": _s(mark),
            "change_today": "0",
        }

    async def _positions(self, request: web.Request) -> web.Response:
        rows = [self._position_json(s) for s in self.exchange.symbols]
        return web.json_response([row for row in rows if row is not None])

    async def _position(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        row = self._position_json(symbol) if symbol in self.exchange.symbols else None
        if row is None:
            raise AlpacaError(404, 40410000, "position does not exist")
        return web.json_response(row)

    def _close(self, symbol: str) -> dict[str, Any]:
        instrument = self.exchange.instrument(symbol)
        quantity = self.exchange.account.quantity(instrument.id)
        if quantity == 0:
            raise AlpacaError(404, 40410000, "position does not exist")
        side = "sell" if quantity > 0 else "buy"
        body = {"symbol": symbol, "qty": str(abs(quantity)), "side": side, "type": "market", "time_in_force": "day"}
        return self._place(body, str(uuid.uuid4()))

    async def _close_position(self, request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        if symbol not in self.exchange.symbols:
            raise AlpacaError(404, 40410000, "position does not exist")
        with self._lock:
            return web.json_response(self._close(symbol))

    async def _close_all_positions(self, request: web.Request) -> web.Response:
        with self._lock:
            answers = []
            for instrument_id in self.exchange.positions():
                symbol = self.exchange.symbol_of(instrument_id)
                answers.append({"symbol": symbol, "status": 200, "body": self._close(symbol)})
        return web.json_response(answers, status=207)

    # ------------------------------------------------------------------------------------------ activities
    def _activity_json(self, index: int) -> dict[str, Any]:
        fill = self.exchange.fills()[index]
        order = self.exchange.order(fill.client_order_id)
        assert order is not None
        record = self._record_for(order)
        cumulative = sum(
            (f.quantity for f in self.exchange.fills()[: index + 1] if f.client_order_id == fill.client_order_id),
            Decimal(0),
        )
        stamp = dt.datetime.fromtimestamp(fill.ts // 1_000_000_000, tz=dt.UTC).strftime("%Y%m%d%H%M%S")
        return {
            "id": f"{stamp}{(fill.ts // 1_000_000) % 1000:03d}::{execution_id(fill.trade_id)}",
            "activity_type": "FILL",
            "transaction_time": rfc3339(fill.ts),
            "type": "fill" if cumulative == order.quantity else "partial_fill",
            "price": _s(fill.price),
            "qty": _s(fill.quantity),
            "side": fill.side.value,
            "symbol": self.exchange.symbol_of(fill.instrument_id),
            "leaves_qty": _s(order.quantity - cumulative),
            "order_id": record.id,
            "cum_qty": _s(cumulative),
            "order_status": "filled" if cumulative == order.quantity else "partially_filled",
        }

    async def _activities(self, request: web.Request) -> web.Response:
        kind = request.match_info.get("activity_type") or request.query.get("activity_types", "FILL")
        if "FILL" not in kind.upper().split(","):
            return web.json_response([])
        query = request.query
        after = _parse_time(query["after"], "after") if "after" in query else None
        until = _parse_time(query["until"], "until") if "until" in query else None
        page_size = min(int(query.get("page_size", "100")), 100)
        with self._lock:  # rows and fills read together: a fill landing in between would misalign them
            fills = self.exchange.fills()
            rows = [self._activity_json(i) for i in range(len(fills))]
        rows = [
            row
            for row, fill in zip(rows, fills, strict=True)
            if (after is None or fill.ts > after) and (until is None or fill.ts <= until)
        ]
        if query.get("direction", "desc") == "desc":
            rows.reverse()
        token = query.get("page_token")
        if token:
            ids = [row["id"] for row in rows]
            rows = rows[ids.index(token) + 1 :] if token in ids else []
        return web.json_response(rows[:page_size])

    # --------------------------------------------------------------------------------------- market data
    async def _bars(self, request: web.Request) -> web.Response:
        query = request.query
        single = request.match_info.get("symbol")
        symbols = [single] if single else [s for s in query.get("symbols", "").split(",") if s]
        if not symbols:
            raise AlpacaError(400, None, "missing symbols")
        if query.get("timeframe", "1Min") not in ("1Min", "1T"):
            raise AlpacaError(400, None, "this emulator serves timeframe 1Min only")
        limit = min(int(query.get("limit", self.bars_page_size)), MAX_BARS_PAGE)
        start = _parse_time(query["start"], "start") if "start" in query else 0
        end = _parse_time(query["end"], "end") if "end" in query else self.exchange.now_ns
        resume: tuple[str, int] | None = None
        if query.get("page_token"):
            try:
                symbol_text, ts_text = base64.b64decode(query["page_token"]).decode().split("|")
                resume = (symbol_text, int(ts_text))
            except (ValueError, UnicodeDecodeError):
                raise AlpacaError(400, None, "invalid page_token") from None
        pages: dict[str, list[dict[str, Any]]] = {}
        count = 0
        token: str | None = None
        for symbol in symbols:
            if resume is not None and resume[0] in symbols and symbols.index(symbol) < symbols.index(resume[0]):
                continue  # pages before the one the token resumes
            if symbol not in self.exchange.symbols:
                continue
            first = resume[1] if resume is not None and symbol == resume[0] else start
            bars = self.exchange.history(symbol, first, end)
            room = limit - count
            if len(bars) > room:
                token = base64.b64encode(f"{symbol}|{bars[room].ts}".encode()).decode()
                bars = bars[:room]
            if bars:
                pages[symbol] = [_bar_json(b) for b in bars]
            count += len(bars)
            if token is not None:
                break
        if single:
            return web.json_response({"bars": pages.get(single, []), "symbol": single, "next_page_token": token})
        return web.json_response({"bars": pages, "next_page_token": token})

    # ----------------------------------------------------------------------------------------- websockets
    async def _trade_updates_socket(self, request: web.Request) -> web.StreamResponse:
        if self._refuse_trade_updates:
            return web.Response(status=503, text="stream unavailable")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        try:
            auth = await _receive_json(ws)
            data = (auth or {}).get("data") or {}
            if data.get("key_id") != self.api_key or data.get("secret_key") != self.secret_key:
                reply = {"stream": "authorization", "data": {"status": "unauthorized", "action": "authenticate"}}
                await ws.send_bytes(json.dumps(reply).encode())
                await ws.close()
                return ws
            reply = {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
            await ws.send_bytes(json.dumps(reply).encode())
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                body = json.loads(message.data)
                if body.get("action") == "listen":
                    streams = [s for s in (body.get("data") or {}).get("streams", []) if s == "trade_updates"]
                    if streams:
                        self._trade_sockets.add(ws)
                    else:
                        self._trade_sockets.discard(ws)
                    await ws.send_bytes(json.dumps({"stream": "listening", "data": {"streams": streams}}).encode())
        finally:
            self._trade_sockets.discard(ws)
        return ws

    async def _data_socket(self, request: web.Request) -> web.StreamResponse:
        if self._refuse_data:
            return web.Response(status=503, text="stream unavailable")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        subscriptions: dict[str, set[str]] = {"bars": set(), "trades": set(), "quotes": set()}
        try:
            await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
            auth = await _receive_msgpack(ws)
            if not auth or auth.get("key") != self.api_key or auth.get("secret") != self.secret_key:
                await ws.send_bytes(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
                await ws.close()
                return ws
            await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
            self._data_sockets[ws] = subscriptions
            async for message in ws:
                if message.type is not WSMsgType.BINARY:
                    break
                body = msgpack.unpackb(message.data)
                action = body.get("action")
                for channel, subscribed in subscriptions.items():
                    wanted = set(body.get(channel) or ())
                    if action == "subscribe":
                        subscribed.update(wanted)
                    elif action == "unsubscribe":
                        subscribed.difference_update(wanted)
                reply: dict[str, Any] = {"T": "subscription"}
                reply.update({channel: sorted(symbols) for channel, symbols in subscriptions.items()})
                reply.update({k: [] for k in ("updatedBars", "dailyBars", "statuses", "lulds", "corrections")})
                await ws.send_bytes(msgpack.packb([reply]))
        finally:
            self._data_sockets.pop(ws, None)
        return ws

    # ------------------------------------------------------------------------------------ exchange events
    def _on_exchange_event(self, event: ExchangeEvent) -> None:
        # Called in whichever thread moved the exchange (a test's, or this loop's): hand it to the loop.
        assert self._outbox is not None
        self._loop.call_soon_threadsafe(self._outbox.put_nowait, event)

    async def _drain_outbox(self) -> None:
        assert self._outbox is not None
        while True:
            item = await self._outbox.get()
            if isinstance(item, dict):
                await self._broadcast_trade_update(item)
            else:
                await self._publish(item)

    async def _publish(self, event: ExchangeEvent) -> None:
        if isinstance(event, BarClosed):
            message = msgpack.packb([_stream_bar(event.symbol, event.bar)], use_bin_type=True)
            for ws, subscriptions in list(self._data_sockets.items()):
                if event.symbol in subscriptions["bars"] or "*" in subscriptions["bars"]:
                    await _send_quietly(ws, message)
            return
        update = self._trade_update(event)
        if update is not None:
            await self._broadcast_trade_update(update)

    def _trade_update(self, update: OrderUpdate) -> dict[str, Any] | None:
        message = update.message
        with self._lock:
            record = self._record_for(update.order)
            order_json = self._order_json(record, update.order)
        ts = rfc3339(self.exchange.now_ns)
        if isinstance(message, OrderAccepted):
            return {"event": "new", "timestamp": rfc3339(message.ts), "order": order_json}
        if isinstance(message, OrderFilled):
            fill = message.fill
            full = update.order.filled_quantity == update.order.quantity
            return {
                "event": "fill" if full else "partial_fill",
                "execution_id": execution_id(fill.trade_id),
                "price": _s(fill.price),
                "qty": _s(fill.quantity),
                "position_qty": _s(message.position_quantity),
                "timestamp": rfc3339(fill.ts),
                "order": order_json,
            }
        if isinstance(message, OrderCanceled):
            return {"event": "canceled", "timestamp": ts, "order": order_json}
        if isinstance(message, OrderExpired):
            return {"event": "expired", "timestamp": ts, "order": order_json}
        if isinstance(message, OrderRejected) and not update.order.is_open:  # not a refused replace
            return {"event": "rejected", "timestamp": ts, "order": order_json}
        return None  # triggers and leg quantity updates have no Alpaca event

    async def _broadcast_trade_update(self, data: dict[str, Any]) -> None:
        frame = json.dumps({"stream": "trade_updates", "data": data}).encode()
        for ws in list(self._trade_sockets):
            await _send_quietly(ws, frame)


# ---------------------------------------------------------------------------------------------- helpers
def execution_id(trade_id: str) -> str:
    """A stable Alpaca-style execution id (a UUID) for a venue trade id."""
    return str(uuid.uuid5(_NS, trade_id))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


async def _close_all(sockets: list[web.WebSocketResponse]) -> None:
    for ws in sockets:
        await ws.close()


async def _send_quietly(ws: web.WebSocketResponse, frame: bytes) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError):  # the peer is gone; its handler cleans up
        await ws.send_bytes(frame)


async def _receive_json(ws: web.WebSocketResponse) -> Any:
    message = await ws.receive(timeout=10)
    if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return None
    return json.loads(message.data)


async def _receive_msgpack(ws: web.WebSocketResponse) -> Any:
    message = await ws.receive(timeout=10)
    if message.type is not WSMsgType.BINARY:
        return None
    return msgpack.unpackb(message.data)


def _bar_json(bar: Bar) -> dict[str, Any]:
    return {
        "t": rfc3339(bar.ts),
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": int(bar.volume),
        "n": 0,
        "vw": bar.close,
    }


def _stream_bar(symbol: str, bar: Bar) -> dict[str, Any]:
    return {
        "T": "b",
        "S": symbol,
        "o": bar.open,
        "h": bar.high,
        "l": bar.low,
        "c": bar.close,
        "v": int(bar.volume),
        "t": msgpack.Timestamp.from_unix_nano(bar.ts),
        "n": 0,
        "vw": bar.close,
    }


def _asset_json(symbol: str, instrument: Instrument) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_NS, symbol)),
        "class": "us_equity",
        "exchange": "ARCA",
        "symbol": symbol,
        "name": f"{symbol} (emulated from recorded bars)",
        "status": "active",
        "tradable": True,
        "marginable": False,
        "shortable": instrument.shortable,
        "easy_to_borrow": instrument.shortable,
        "fractionable": instrument.lot_size < 1,
        "maintenance_margin_requirement": 100,
        "attributes": [],
    }


def _ny(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=NEW_YORK).isoformat()


def _next_session(instrument: Instrument, now_ns: int) -> tuple[int, int]:
    """(next open, next close) after `now_ns` from the instrument's first session (a day apart without one)."""
    if not instrument.sessions:
        return now_ns, now_ns + 86_400_000_000_000
    session = instrument.sessions[0]
    zone = ZoneInfo(session.timezone)
    local = dt.datetime.fromtimestamp(now_ns / 1e9, tz=zone)
    next_open = next_close = None
    for days in range(10):
        day = (local + dt.timedelta(days=days)).date()
        if day.weekday() not in session.weekdays:
            continue
        opens = dt.datetime.combine(day, session.open, tzinfo=zone)
        closes = dt.datetime.combine(day, session.close, tzinfo=zone)
        if next_open is None and opens > local:
            next_open = opens
        if next_close is None and closes > local:
            next_close = closes
        if next_open and next_close:
            break
    assert next_open is not None and next_close is not None
    return int(next_open.timestamp()) * 1_000_000_000, int(next_close.timestamp()) * 1_000_000_000


def main(argv: list[str] | None = None) -> None:
    """`python -m emulators.alpaca --data FILE --symbol SPY --speed 60`: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m emulators.alpaca", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="recorded 1-minute bars (any format load_bars reads)")
    parser.add_argument("--symbol", default="SPY", help="the symbol to serve the bars under")
    parser.add_argument("--speed", type=float, default=60.0, help="replay speed: 60 = one 1-minute bar a second")
    parser.add_argument("--tz", default="America/New_York", help="time zone of the file's naive timestamps")
    parser.add_argument("--session", default="09:30-16:00", help="regular session in --tz ('' = none)")
    parser.add_argument("--cash", default="100000", help="starting cash (USD)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    args = parser.parse_args(argv)
    sessions = (TradingSession.parse(args.session, args.tz),) if args.session else ()
    instrument = equity(args.symbol, venue="ALPACA", sessions=sessions)
    series = load_bars(args.data, tz=args.tz)
    exchange = EmulatedExchange({args.symbol: (instrument, series)}, cash=Decimal(args.cash))
    server = AlpacaEmulator(exchange, port=args.port).start()
    for key, value in server.env().items():
        print(f"export {key}={value}")
    interval = exchange.bar_interval_ns(args.symbol) / 1e9 / args.speed
    print(f"# {len(series)} bars of {args.symbol}, one every {interval:g}s; Ctrl-C stops", flush=True)
    server.start_clock(interval)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
