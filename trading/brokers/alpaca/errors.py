"""Alpaca failures translated into the project's errors, named by what the caller should do."""

from __future__ import annotations

import json

import requests
from alpaca.common.exceptions import APIError

from trading.brokers.errors import RateLimited
from trading.errors import BrokerError, FixRequest, RetryLater, StopTrading

VENUE = "alpaca"
INSUFFICIENT_FUNDS = 40310000  # Alpaca answers 403 with this code for buying power, not for auth


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _code_and_message(error: APIError) -> tuple[int | None, str]:
    try:
        body = json.loads(str(error))
    except ValueError:
        return None, str(error)[:300]
    if not isinstance(body, dict):
        return None, str(error)[:300]
    code = body.get("code")
    return (int(code) if isinstance(code, int) else None), str(body.get("message", ""))


def translate(exc: BaseException, action: str) -> BrokerError:
    """One Alpaca / requests failure -> RetryLater, FixRequest or StopTrading (never carries the keys)."""
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code
        code, message = _code_and_message(exc)
        detail = f"HTTP {status} code {code}: {message}"
        if status == 429:
            return RateLimited(
                f"alpaca rate limit on {action}",
                venue=VENUE,
                detail=detail,
                retry_after=_retry_after(exc.response),
            )
        if status is not None and status >= 500:
            return RetryLater(f"alpaca server error on {action}", venue=VENUE, detail=detail)
        if status == 401 or (status == 403 and code != INSUFFICIENT_FUNDS):
            return StopTrading(f"alpaca refused the credentials on {action}: {message}", venue=VENUE, detail=detail)
        return FixRequest(f"alpaca rejected {action}: {message}", venue=VENUE, detail=detail)
    if isinstance(exc, requests.Timeout | TimeoutError):
        return RetryLater(f"alpaca timed out on {action}", venue=VENUE, detail=type(exc).__name__)
    if isinstance(exc, requests.ConnectionError):
        return RetryLater(f"alpaca unreachable on {action}", venue=VENUE, detail=type(exc).__name__)
    if isinstance(exc, ValueError | KeyError | TypeError):
        # A body that is not the JSON Alpaca documents (truncated, HTML from a proxy): transient for us.
        return RetryLater(f"alpaca sent a malformed response on {action}", venue=VENUE, detail=repr(exc)[:300])
    if isinstance(exc, requests.RequestException):
        return RetryLater(f"alpaca request failed on {action}", venue=VENUE, detail=type(exc).__name__)
    return BrokerError(f"alpaca {action} failed: {type(exc).__name__}", venue=VENUE, detail=repr(exc)[:300])


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.status_code == 404
