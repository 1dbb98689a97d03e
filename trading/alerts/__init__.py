"""Alerts that reach people: rules turn runtime events into alerts, and channels (a signed webhook, email,
Telegram, Slack, Discord) deliver them at least once, each with its own queue, rate limit, deduplication,
retries and dead letters. Pure asyncio and HTTP: no Ray (the actor is `actors.alerts.AlertActor`)."""

from trading.alerts.channels import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Channel,
    build_channel,
    sign,
    verify_signature,
)
from trading.alerts.config import NotificationsConfig, RuleConfig
from trading.alerts.dispatcher import AlertDispatcher
from trading.alerts.model import Alert, AlertRule, DeliverLater, DeliveryError, Severity, Undeliverable
from trading.alerts.outbox import AlertOutbox, DeadLetter
from trading.alerts.rules import AlertRules, observation

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Alert",
    "AlertDispatcher",
    "AlertOutbox",
    "AlertRule",
    "AlertRules",
    "Channel",
    "DeadLetter",
    "DeliverLater",
    "DeliveryError",
    "NotificationsConfig",
    "RuleConfig",
    "Severity",
    "Undeliverable",
    "build_channel",
    "observation",
    "sign",
    "verify_signature",
]
