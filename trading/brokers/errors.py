"""Broker-side refinements of `trading.errors` shared by the venue adapters."""

from __future__ import annotations

from trading.errors import RetryLater


class RateLimited(RetryLater):
    """The venue refused the call for rate (HTTP 429 / 418): not processed, safe to send later."""
