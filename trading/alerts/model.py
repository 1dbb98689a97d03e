"""What an alert is, and how delivering one can fail.

```
TradingError
└── DeliveryError              a channel could not deliver an alert; carries `channel`
    ├── DeliverLater           temporary (connection refused, timeout, 5xx, 429): retried with backoff;
    │                          `retry_after` is the wait the service asked for, if it said
    └── Undeliverable          the service refused the request as given (bad token, unknown chat, 4xx):
                               retrying cannot help, the alert goes to the dead letters
```
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trading.errors import TradingError


class AlertRule(StrEnum):
    """The situations an alert can be raised for (the `rule:` names in `notifications.rules`)."""

    RISK_STATE_CHANGED = "risk_state_changed"
    KILL_SWITCH = "kill_switch"
    BREAKER_TRIPPED = "breaker_tripped"
    ORDER_DENIED = "order_denied"
    ORDER_REJECTED = "order_rejected"
    FILL = "fill"
    STRATEGY_ERROR = "strategy_error"
    STRATEGY_STOPPED = "strategy_stopped"
    DAILY_PNL = "daily_pnl"
    SENTIMENT_MOVE = "sentiment_move"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. `key` identifies the situation (two alerts with one key within a channel's dedupe window are
    delivered once); `id` identifies this alert (the webhook's delivery id, stable across retries)."""

    rule: AlertRule
    key: str
    title: str
    text: str
    ts_ns: int
    severity: Severity = Severity.INFO
    data: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def id(self) -> str:
        return hashlib.sha256(f"{self.rule}|{self.key}|{self.ts_ns}".encode()).hexdigest()[:24]

    def message(self) -> str:
        """The one-message text chat channels send."""
        return f"[{self.severity.value.upper()}] {self.title}\n{self.text}" if self.text else self.title

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule.value,
            "key": self.key,
            "severity": self.severity.value,
            "title": self.title,
            "text": self.text,
            "ts_ns": self.ts_ns,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            AlertRule(data["rule"]), str(data["key"]), str(data["title"]), str(data["text"]), int(data["ts_ns"]),
            Severity(data.get("severity", "info")), dict(data.get("data") or {}),
        )


class DeliveryError(TradingError):
    """A channel could not deliver an alert."""

    def __init__(self, message: str, *, channel: str = "") -> None:
        super().__init__(message)
        self.channel = channel


class DeliverLater(DeliveryError):
    """Temporary: retried with backoff (at least `retry_after` seconds later when the service said)."""

    def __init__(self, message: str, *, channel: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, channel=channel)
        self.retry_after = retry_after


class Undeliverable(DeliveryError):
    """The service refused the request as given; retrying cannot help."""
