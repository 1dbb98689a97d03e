"""What a request must show before the gateway does any work for it: the API's routes need credentials (checked
for presence before the body is read; whether they are valid is `security.principal`'s job), a body is at most
`max_body_bytes` (413), and an address that failed authentication `auth_failures` times within
`auth_failure_window_s` is refused (429 with Retry-After) until its window ends.

Failures are counted per gateway replica in memory, by the address the connection comes from (never a header a
client can write): an attacker spread over N replicas gets N times the allowance, not an unlimited one."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_apps.errors import error_response

CREDENTIALED = ("/v1/", "/ready", "/metrics")  # every route here depends on `security.need` or takes X-API-Key
MAX_TRACKED = 100_000  # addresses remembered at once; past it, windows that ended are dropped first


@dataclass(slots=True)
class _Failures:
    ends: float
    count: int


class AuthFailures:
    """Failed authentications per client address, in fixed windows."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._by_address: dict[str, _Failures] = {}

    def retry_after(self, address: str) -> float:
        """Seconds until `address` may try again; 0.0 if it may now."""
        entry = self._by_address.get(address)
        if entry is None:
            return 0.0
        left = entry.ends - time.monotonic()
        if left <= 0:
            del self._by_address[address]
            return 0.0
        return left if entry.count >= self.limit else 0.0

    def failed(self, address: str) -> None:
        now = time.monotonic()
        entry = self._by_address.get(address)
        if entry is None or entry.ends <= now:
            if len(self._by_address) >= MAX_TRACKED:
                self._forget_ended(now)
            self._by_address[address] = _Failures(now + self.window_s, 1)
        else:
            entry.count += 1

    def _forget_ended(self, now: float) -> None:
        for address in [a for a, e in self._by_address.items() if e.ends <= now]:
            del self._by_address[address]
        while len(self._by_address) >= MAX_TRACKED:  # all still counting: the oldest window goes
            del self._by_address[next(iter(self._by_address))]


class AdmissionMiddleware:
    """Refuses, before the app runs: a locked-out address (429), an API request with no credentials (401), a body
    over the limit (413). Counts the app's own 401 answers as failed authentications of the address."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, auth_failures: AuthFailures) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.failures = auth_failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith(CREDENTIALED):  # /health, /ui, /docs: no body, no credentials
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        wait = self.failures.retry_after(address)
        if wait > 0:
            refusal = error_response(429, "auth_rate_limited", "too many failed authentications from this address; "
                                     f"retry after {wait:.0f}s", headers={"Retry-After": str(max(1, math.ceil(wait)))})
            await refusal(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not _has_credentials(headers):
            self.failures.failed(address)
            refusal = error_response(401, "unauthorized", "no credentials: send X-API-Key: <key> or Authorization: "
                                     "Bearer <token>", headers={"WWW-Authenticate": "Bearer, ApiKey"})
            await refusal(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(scope, receive, send)
            return
        if declared is None and b"transfer-encoding" in headers:  # chunked: no length to check up front
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                await self._too_large(scope, receive, send)
                return
            receive = _replay(body, receive)

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failures.failed(address)
            await send(message)

        await self.app(scope, receive, observed_send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = error_response(413, "payload_too_large", f"the request body is over {self.max_body_bytes:,} bytes")
        await refusal(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is over `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away: the app will see the disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _has_credentials(headers: dict[bytes, bytes]) -> bool:
    if headers.get(b"x-api-key", b"").strip():
        return True
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    return scheme.lower() == b"bearer" and bool(token.strip())
