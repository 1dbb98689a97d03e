"""ccxt's exception tree translated into the project's errors, named by what the caller should do."""

from __future__ import annotations

import ccxt

from trading.brokers.errors import RateLimited
from trading.errors import BrokerError, FixRequest, RetryLater, StopTrading


def translate(exc: BaseException, venue: str, action: str, retry_after: float | None = None) -> BrokerError:
    """Order matters: ccxt's classes nest (RateLimitExceeded < DDoSProtection < NetworkError < OperationFailed).
    `retry_after` is the venue's Retry-After (seconds) for a 429, which ccxt keeps only in its last headers."""
    if isinstance(exc, BrokerError):
        return exc
    detail = str(exc)[:300]
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return RateLimited(f"{venue} rate limit on {action}", venue=venue, detail=detail, retry_after=retry_after)
    if isinstance(exc, ccxt.RequestTimeout | TimeoutError):
        return RetryLater(f"{venue} timed out on {action}", venue=venue, detail=detail)
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse | ccxt.NullResponse | ccxt.OnMaintenance):
        return RetryLater(f"{venue} unavailable on {action}", venue=venue, detail=detail)
    if isinstance(exc, ccxt.OperationFailed):
        # Binance -1000 / -1001 / -1006 (unknown or internal error: "execution status unknown").
        return RetryLater(f"{venue} failed {action}, outcome unknown", venue=venue, detail=detail)
    if isinstance(
        exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended | ccxt.AccountNotEnabled
    ):
        return StopTrading(f"{venue} refused the credentials or account on {action}", venue=venue, detail=detail)
    if isinstance(exc, ccxt.ExchangeError | ccxt.ArgumentsRequired | ccxt.NotSupported | ccxt.BadRequest):
        return FixRequest(f"{venue} rejected {action}: {detail}", venue=venue, detail=detail)
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        return RetryLater(f"{venue} sent a malformed response on {action}", venue=venue, detail=detail)
    return BrokerError(f"{venue} {action} failed: {type(exc).__name__}", venue=venue, detail=detail)
