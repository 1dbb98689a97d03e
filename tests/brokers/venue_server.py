"""A local venue for broker tests: an aiohttp server on 127.0.0.1:<free port>, in its own thread.

Routes are keyed by method + path (a trailing `*` matches a prefix). A route answers with a list of
`Reply`s (the last one repeats) or a function of the recorded request. Every request is recorded, so
tests assert what the real client library sent. WebSocket paths get an async handler.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    text: str | None = None  # raw body (for malformed answers); wins over `body`
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Recorded], Reply]
WsHandler = Callable[[web.WebSocketResponse, Recorded], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VenueServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Recorded] = []
        self.ws_connections: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self._ws: dict[str, WsHandler] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # -- configuration ------------------------------------------------------------------------------
    def route(self, method: str, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self._routes[(method.upper(), path)] = replies[0]
        else:
            self._routes[(method.upper(), path)] = [r for r in replies if isinstance(r, Reply)]

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.route(method, path, Reply(status, body))

    def websocket(self, path: str, handler: WsHandler) -> None:
        self._ws[path] = handler

    def calls(self, method: str, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and r.path == path]

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> VenueServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:  # replies still sleeping on a delay the client gave up on
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- dispatch -----------------------------------------------------------------------------------
    def _lookup(self, method: str, path: str) -> list[Reply] | Handler | None:
        exact = self._routes.get((method, path))
        if exact is not None:
            return exact
        best: tuple[int, list[Reply] | Handler] | None = None
        for (m, pattern), target in self._routes.items():
            matches = m == method and pattern.endswith("*") and path.startswith(pattern[:-1])
            if matches and (best is None or len(pattern) > best[0]):
                best = (len(pattern), target)
        return None if best is None else best[1]

    def _ws_lookup(self, path: str) -> WsHandler | None:
        for pattern, handler in self._ws.items():
            if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
                return handler
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            request.method, request.path, dict(request.query), await request.read(), dict(request.headers)
        )
        ws_handler = self._ws_lookup(request.path)
        if ws_handler is not None and request.headers.get("Upgrade", "").lower() == "websocket":
            with self._lock:
                self.ws_connections.append(recorded)
            ws = web.WebSocketResponse(autoping=True)
            await ws.prepare(request)
            await ws_handler(ws, recorded)
            return ws
        with self._lock:
            self.requests.append(recorded)
        target = self._lookup(request.method, request.path)
        if target is None:
            return web.json_response({"code": 40410000, "message": "not found"}, status=404)
        reply = target(recorded) if callable(target) else _next_reply(target)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.text is not None:
            return web.Response(
                status=reply.status, text=reply.text, headers=reply.headers, content_type="application/json"
            )
        if reply.body is None:
            return web.Response(status=reply.status, headers=reply.headers)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)


def _next_reply(replies: list[Reply]) -> Reply:
    """Replies are used in order; the last one repeats."""
    return replies.pop(0) if len(replies) > 1 else replies[0]


async def receive_json(ws: web.WebSocketResponse, timeout: float = 5.0) -> Any:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    if msg.type == WSMsgType.TEXT:
        return json.loads(msg.data)
    if msg.type == WSMsgType.BINARY:
        return msg.data
    raise ConnectionError(f"websocket closed: {msg.type}")
