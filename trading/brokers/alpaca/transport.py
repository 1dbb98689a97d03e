"""The synchronous alpaca-py REST clients made safe to call from asyncio.

alpaca-py uses `requests` without a timeout and retries 429/504 by itself, POSTs included. Here every call
gets a socket timeout, the library's own retry is switched off (reads are retried by `retry_read`, writes
never), calls run in a worker thread, and each waits on the connection's rate limiter first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from alpaca.common.rest import RESTClient
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response

from trading.brokers.alpaca.errors import translate
from trading.brokers.errors import RateLimited
from trading.brokers.retry import RateLimiter

T = TypeVar("T")


class _TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._timeout = timeout

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Response:
        return super().send(
            request,
            stream=stream,
            timeout=timeout or self._timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def harden(client: RESTClient, timeout: float) -> None:
    """Give `client` a socket timeout and no internal retries (attributes are alpaca-py 0.4x internals;
    tests/brokers check that a 504 on POST is sent exactly once, so a library change would show)."""
    adapter = _TimeoutAdapter(timeout)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    client._retry = 0
    client._retry_codes = []


class AlpacaTransport:
    """Runs blocking alpaca-py calls in a thread with a deadline, a rate limit and error translation."""

    def __init__(self, limiter: RateLimiter, timeout: float) -> None:
        self.limiter = limiter
        self.timeout = timeout

    async def call(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        await self.limiter.acquire()
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.timeout + 1.0)
        except Exception as exc:
            error = translate(exc, action)
            if isinstance(error, RateLimited):
                self.limiter.pause(error.retry_after or 1.0)
            raise error from exc
