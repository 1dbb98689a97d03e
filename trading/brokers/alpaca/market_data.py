"""Alpaca market data: historical bars (paged by `next_page_token`) and the live stock / crypto streams."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from alpaca.data.enums import DataFeed
from alpaca.data.historical.crypto import CryptoHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.crypto import CryptoDataStream
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from trading.brokers.alpaca import parsing
from trading.brokers.alpaca.config import AlpacaConfig
from trading.brokers.alpaca.transport import AlpacaTransport, harden
from trading.brokers.protocol import BarEvent, MarketEvent
from trading.brokers.retry import Backoff, retry_read
from trading.data.bars import Bar
from trading.data.validation import check_bar
from trading.errors import ConfigError
from trading.model.identifiers import InstrumentId

T = TypeVar("T")
log = logging.getLogger(__name__)

_TIMEFRAME = re.compile(r"^(\d+)(Min|Hour|Day|Week|Month)$")
_UNITS = {
    "Min": TimeFrameUnit.Minute,
    "Hour": TimeFrameUnit.Hour,
    "Day": TimeFrameUnit.Day,
    "Week": TimeFrameUnit.Week,
    "Month": TimeFrameUnit.Month,
}
CHANNELS = ("bars", "quotes", "trades")


def timeframe(text: str) -> TimeFrame:
    """`1Min`, `5Min`, `1Hour`, `1Day` ... -> alpaca-py's TimeFrame."""
    match = _TIMEFRAME.match(text)
    if match is None:
        raise ConfigError(f"timeframe {text!r} is not like 1Min, 15Min, 1Hour, 1Day", key="timeframe")
    return TimeFrame(int(match[1]), _UNITS[match[2]])


class _Stream(Protocol):
    async def _run_forever(self) -> None: ...

    async def stop_ws(self) -> None: ...

    async def close(self) -> None: ...


async def bridge_stream(
    stream: _Stream,
    subscribe: Callable[[Callable[[Any], Awaitable[None]]], None],
    convert: Callable[[Any], list[T]],
    maxsize: int = 10_000,
) -> AsyncIterator[T]:
    """Run an alpaca-py websocket stream on this event loop and yield its converted messages.

    The library owns connecting, authenticating, resubscribing and reconnecting with backoff after a drop;
    this only moves messages into an async iterator and stops the stream when the consumer stops.
    """
    queue: asyncio.Queue[T] = asyncio.Queue(maxsize)

    async def handler(message: Any) -> None:
        for item in convert(message):
            if queue.full():  # a slow consumer loses the oldest data, never blocks the socket
                queue.get_nowait()
            queue.put_nowait(item)

    subscribe(handler)
    runner = asyncio.create_task(stream._run_forever())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            runner.result()  # re-raises what stopped the stream
            return
    finally:
        with contextlib.suppress(Exception):
            await stream.stop_ws()
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
        with contextlib.suppress(Exception):
            await stream.close()


class AlpacaMarketData:
    """Historical bars and live streams for one Alpaca account's data entitlement."""

    def __init__(self, config: AlpacaConfig, transport: AlpacaTransport, backoff: Backoff) -> None:
        self.config = config
        self.venue = config.venue
        self._transport = transport
        self._backoff = backoff
        key, secret = config.api_key.reveal(), config.secret_key.reveal()
        self._stocks = StockHistoricalDataClient(key, secret, raw_data=True, url_override=config.data_url)
        self._crypto = CryptoHistoricalDataClient(key, secret, raw_data=True, url_override=config.data_url)
        harden(self._stocks, config.timeout)
        harden(self._crypto, config.timeout)

    @staticmethod
    def is_crypto(instrument_id: InstrumentId) -> bool:
        return "/" in instrument_id.symbol

    async def bars(
        self,
        instrument_id: InstrumentId,
        start: dt.datetime,
        end: dt.datetime | None = None,
        timeframe_text: str = "1Min",
        limit: int | None = None,
    ) -> list[Bar]:
        """Historical bars, following `next_page_token` one rate-limited page at a time."""
        symbol = instrument_id.symbol
        frame = timeframe(timeframe_text)
        client: StockHistoricalDataClient | CryptoHistoricalDataClient
        if self.is_crypto(instrument_id):
            request: Any = CryptoBarsRequest(
                symbol_or_symbols=[symbol], timeframe=frame, start=start, end=end, limit=limit
            )
            client, path = self._crypto, f"/crypto/{self.config.crypto_location}/bars"
        else:
            request = StockBarsRequest(
                symbol_or_symbols=[symbol],
                timeframe=frame,
                start=start,
                end=end,
                limit=limit,
                feed=DataFeed(self.config.feed),
            )
            client, path = self._stocks, "/stocks/bars"
        params: dict[str, Any] = {
            key: (str(value) if isinstance(value, TimeFrame) else getattr(value, "value", value))
            for key, value in request.to_request_fields().items()
        }
        bars: list[Bar] = []
        token: str | None = None
        while True:
            page_params = dict(params)
            if token:
                page_params["page_token"] = token

            async def fetch(page_params: dict[str, Any] = page_params) -> Any:
                return await self._transport.call("bars", client.get, path, page_params)

            page = await retry_read(fetch, backoff=self._backoff, what="alpaca bars")
            bars.extend(parsing.rest_bar(raw) for raw in (page.get("bars") or {}).get(symbol, []))
            token = page.get("next_page_token")
            if not token or (limit is not None and len(bars) >= limit):
                return bars[:limit] if limit is not None else bars

    def stream(
        self, instrument_ids: Sequence[InstrumentId], channels: Sequence[str] = ("bars",)
    ) -> AsyncIterator[MarketEvent]:
        """Live bars / quotes / trades for stocks or crypto (not both in one call: they are two sockets)."""
        unknown = set(channels) - set(CHANNELS)
        if unknown:
            raise ConfigError(f"unknown Alpaca stream channel(s) {sorted(unknown)}", key="channels")
        kinds = {self.is_crypto(i) for i in instrument_ids}
        if len(kinds) != 1:
            raise ConfigError("stream stocks and crypto in separate calls", key="instrument_ids")
        key, secret = self.config.api_key.reveal(), self.config.secret_key.reveal()
        stream: StockDataStream | CryptoDataStream
        if kinds.pop():
            stream = CryptoDataStream(key, secret, raw_data=True, url_override=self.config.crypto_stream_url)
        else:
            stream = StockDataStream(
                key,
                secret,
                raw_data=True,
                feed=DataFeed(self.config.feed),
                url_override=self.config.stock_stream_url,
            )
        symbols = [i.symbol for i in instrument_ids]

        def subscribe(handler: Callable[[Any], Awaitable[None]]) -> None:
            for channel in channels:
                getattr(stream, f"subscribe_{channel}")(handler, *symbols)

        last_bar_ts: dict[InstrumentId, int] = {}

        def convert(message: Any) -> list[MarketEvent]:
            try:
                event = parsing.stream_event(message, self.venue)
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                log.warning("alpaca stream: dropped a malformed message (%r): %s", exc, str(message)[:200])
                return []
            if isinstance(event, BarEvent):
                # A bad bar never reaches a strategy; a repeat (a resend after a reconnect) is not news.
                problem = check_bar(event.bar, last_bar_ts.get(event.instrument_id))
                if problem is not None:
                    log.warning("alpaca stream: dropped a %s bar of %s: %r", problem, event.instrument_id, event.bar)
                    return []
                last_bar_ts[event.instrument_id] = event.bar.ts
            return [] if event is None else [event]

        return bridge_stream(stream, subscribe, convert)
