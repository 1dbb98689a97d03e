"""Exact conversions from venue payload values (strings, ints, ISO times) into core values.

Prices and quantities never pass through float: strings and ints go straight to Decimal. A JSON number that
a client library already decoded as float goes through its shortest repr (`to_decimal`), which is the text
the venue sent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from trading.errors import InvalidValue
from trading.model.instruments import to_decimal

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def dec(value: Any, what: str = "value") -> Decimal:
    if value is None or value == "":
        raise InvalidValue(f"{what} is missing")
    if isinstance(value, bool):
        raise InvalidValue(f"{what} must be a number, got {value!r}")
    return to_decimal(value, what=what)


def opt_dec(value: Any, what: str = "value") -> Decimal | None:
    if value is None or value == "":
        return None
    return dec(value, what)


def iso_to_ns(text: str | None) -> int:
    """`2022-03-18T14:03:13.661518592Z` -> int nanoseconds UTC (keeps all nine fraction digits)."""
    if not text:
        return 0
    body = text.strip()
    offset = "+00:00"
    if body.endswith(("Z", "z")):
        body = body[:-1]
    elif len(body) > 6 and body[-6] in "+-" and body[-3] == ":":
        body, offset = body[:-6], body[-6:]
    nanos = 0
    if "." in body:
        body, fraction = body.split(".", 1)
        nanos = int((fraction + "000000000")[:9])
    try:
        moment = dt.datetime.fromisoformat(body + offset)
    except ValueError as exc:
        raise InvalidValue(f"timestamp {text!r} is not ISO 8601") from exc
    seconds = (moment - _EPOCH) // dt.timedelta(seconds=1)
    return int(seconds) * 1_000_000_000 + nanos


def ms_to_ns(value: Any) -> int:
    return 0 if value is None else int(value) * 1_000_000


def ns_to_datetime(ts_ns: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=ts_ns // 1000)
