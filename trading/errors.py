"""The project's exceptions, named by what the caller should do.

```
TradingError                      base of everything raised on purpose
├── InvalidValue (ValueError)     a value failed validation at construction (NaN price, off-tick, wrong currency)
├── ConfigError (ValueError)      a configuration or strategy parameter is wrong; names the key
├── DataError (ValueError)        bad market data; names the file, row and reason
├── InvalidTransition             an order event is illegal in the order's current state (a bug or a corrupt feed)
└── BrokerError                   something at a venue went wrong; carries `venue` and the raw `detail`
    ├── RetryLater                temporary: network, timeout, 5xx, 429 (may carry `retry_after` seconds)
    │   └── OrderStateUnknown     an order write timed out: reconcile by client order id, never resubmit blindly
    ├── FixRequest                the venue refused the request as given (bad price, size, symbol, funds)
    └── StopTrading               needs a person: credentials, permissions, account blocked
```
A denied order is not an exception: the risk engine returns an `OrderDenied` event with a reason code.
"""

from __future__ import annotations


class TradingError(Exception):
    """Base class for every error this project raises on purpose."""


class InvalidValue(TradingError, ValueError):
    """A value failed validation where it was constructed."""


class ConfigError(TradingError, ValueError):
    """A configuration value is missing or wrong."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DataError(TradingError, ValueError):
    """Market data failed validation."""

    def __init__(self, message: str, *, source: str = "", row: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.reason = reason


class InvalidTransition(TradingError):
    """An order event is not allowed in the order's current state."""


class BrokerError(TradingError):
    """A venue call failed. `detail` keeps the venue's own words for the log (never secrets)."""

    def __init__(self, message: str, *, venue: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.venue = venue
        self.detail = detail


class RetryLater(BrokerError):
    """Temporary failure: the same call may succeed later."""

    def __init__(self, message: str, *, venue: str = "", detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, venue=venue, detail=detail)
        self.retry_after = retry_after


class OrderStateUnknown(RetryLater):
    """An order write got no answer: the order may or may not exist at the venue. Reconcile, don't resend."""

    def __init__(self, message: str, *, venue: str = "", client_order_id: str = "", detail: str = "") -> None:
        super().__init__(message, venue=venue, detail=detail)
        self.client_order_id = client_order_id


class FixRequest(BrokerError):
    """The venue refused the request as given; sending it again unchanged will fail again."""


class StopTrading(BrokerError):
    """A failure that needs a person (credentials, permissions, a blocked account)."""
