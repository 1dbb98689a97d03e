"""The storage layer's one exception."""

from __future__ import annotations

from trading.errors import TradingError


class StorageError(TradingError):
    """A storage server could not be started or reached. The message says which one, where, and why."""
