"""Alpaca's trading-updates and market-data websockets through alpaca-py's own stream clients."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import msgpack
from aiohttp import web
from broker_support import fixture_json
from test_alpaca_rest import AAPL, COID
from venue_server import Recorded, VenueServer, receive_json

from trading.brokers.alpaca.config import AlpacaConfig
from trading.brokers.alpaca.execution import AlpacaBroker
from trading.brokers.credentials import Secret
from trading.brokers.protocol import BarEvent, MarketEvent, QuoteEvent, TradeEvent
from trading.model.orders import OrderStatus


def streaming_broker(server: VenueServer) -> AlpacaBroker:
    return AlpacaBroker(
        AlpacaConfig(
            api_key=Secret("PKTESTKEY"),
            secret_key=Secret("very-secret-value"),
            trading_url=server.url,
            data_url=server.url,
            trading_stream_url=f"{server.ws_url}/stream",
            stock_stream_url=f"{server.ws_url}/v2/iex",
        )
    )


async def _hold_open(ws: web.WebSocketResponse) -> None:
    async for _ in ws:
        pass


def test_trade_updates_stream_yields_order_report_and_fill(server: VenueServer) -> None:
    auth_messages: list[Any] = []

    async def trading_stream(ws: web.WebSocketResponse, _: Recorded) -> None:
        auth_messages.append(await receive_json(ws))
        await ws.send_str(
            json.dumps({"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}})
        )
        listen = await receive_json(ws)
        assert listen == {"action": "listen", "data": {"streams": ["trade_updates"]}}
        await ws.send_str(json.dumps({"stream": "listening", "data": {"streams": ["trade_updates"]}}))
        await ws.send_bytes(json.dumps(fixture_json("synthetic/alpaca_trade_update_fill.json")["message"]).encode())
        await _hold_open(ws)

    server.websocket("/stream", trading_stream)

    async def first_update() -> Any:
        updates = streaming_broker(server).order_updates()
        try:
            return await asyncio.wait_for(anext(updates), 5)
        finally:
            await updates.aclose()  # type: ignore[attr-defined]

    report, fill = asyncio.run(first_update())
    assert auth_messages[0]["action"] == "authenticate"
    assert report.client_order_id == COID and report.status is OrderStatus.FILLED
    assert report.avg_fill_price == Decimal("120.37")
    assert fill is not None and fill.price == Decimal("120.37") and fill.quantity == Decimal(1)
    assert fill.trade_id == "7f3e0c1d-6a2b-4c8d-9e0f-1a2b3c4d5e6f" and fill.ts == 1615919882100000001


def _ts(ns: int) -> msgpack.Timestamp:
    return msgpack.Timestamp.from_unix_nano(ns)


def test_market_data_stream_reconnects_after_the_socket_drops_mid_stream(server: VenueServer) -> None:
    subscriptions: list[Any] = []
    connections = 0

    async def data_stream(ws: web.WebSocketResponse, _: Recorded) -> None:
        nonlocal connections
        connections += 1
        await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await receive_json(ws))
        assert auth["action"] == "auth" and auth["key"] == "PKTESTKEY"
        await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        subscriptions.append(msgpack.unpackb(await receive_json(ws)))
        await ws.send_bytes(
            msgpack.packb([{"T": "subscription", "bars": ["AAPL"], "quotes": ["AAPL"], "trades": ["AAPL"]}])
        )
        t0 = 1_700_000_000_000_000_000
        if connections == 1:
            await ws.send_bytes(
                msgpack.packb(
                    [
                        {
                            "T": "b",
                            "S": "AAPL",
                            "o": 174.0,
                            "h": 174.84,
                            "l": 172.31,
                            "c": 174.61,
                            "v": 85998033,
                            "t": _ts(t0),
                        }
                    ],
                    datetime=False,
                )
            )
            await ws.close()  # dropped mid-stream
            return
        await ws.send_bytes(
            msgpack.packb(
                [
                    {"T": "q", "S": "AAPL", "bp": 161.1, "bs": 2, "ap": 161.11, "as": 13, "t": _ts(t0 + 1)},
                    {"T": "t", "S": "AAPL", "p": 161.2958, "s": 100, "t": _ts(t0 + 2), "i": 22730},
                ]
            )
        )
        await _hold_open(ws)

    server.websocket("/v2/iex", data_stream)

    async def collect() -> list[MarketEvent]:
        stream = streaming_broker(server).data.stream([AAPL], channels=("bars", "quotes", "trades"))
        events: list[MarketEvent] = []
        try:
            async for event in stream:
                events.append(event)
                if len(events) == 3:
                    return events
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return events

    bar, quote, trade = asyncio.run(asyncio.wait_for(collect(), 10))
    assert connections == 2
    assert subscriptions[0]["action"] == "subscribe" and subscriptions[1]["bars"] == ["AAPL"]
    assert isinstance(bar, BarEvent) and bar.bar.close == 174.61 and bar.bar.ts == 1_700_000_000_000_000_000
    assert isinstance(quote, QuoteEvent) and quote.bid == Decimal("161.1") and quote.ask_size == Decimal(13)
    assert isinstance(trade, TradeEvent) and trade.price == Decimal("161.2958") and trade.instrument_id == AAPL
