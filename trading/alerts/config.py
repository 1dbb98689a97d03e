"""The `notifications:` section of the runtime config: channels, and which rules go to which channels.

```yaml
notifications:
  channels:
    - {name: ops, kind: webhook, url: "https://ops.example.com/dto", secret_env: DTO_WEBHOOK_SECRET}
    - {name: desk, kind: email, host: smtp.example.com, port: 587, sender: dto@example.com,
       to: [desk@example.com], username: dto, password_env: DTO_SMTP_PASSWORD}
    - {name: phone, kind: telegram, chat_id: "123456", token_env: DTO_TELEGRAM_TOKEN}
    - {name: team, kind: slack, channel: "#trading", token_env: DTO_SLACK_TOKEN}
    - {name: chat, kind: discord, url_env: DTO_DISCORD_WEBHOOK_URL}
  rules:
    - {rule: kill_switch, channels: [ops, desk]}
    - {rule: fill, channels: [phone], strategies: [spy_cross]}
    - {rule: sentiment_move, channels: [team], threshold: 0.4}
  daily_summary_at: "16:05"
  timezone: America/New_York
```

Secrets (the webhook's signing secret, the SMTP password, bot tokens, a Discord webhook URL, which holds its
token) are never in the file: a channel names the environment variable (or credential-store entry) holding it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trading.alerts.model import AlertRule

_ENV_NAME = r"^[A-Z][A-Z0-9_]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Channel(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,30}$", description="The channel's name (rules refer to it)")
    rate_per_minute: int = Field(30, ge=1, le=10_000, description="At most this many sends a minute; more wait")
    dedupe_s: float = Field(60.0, ge=0, description="An alert with the same key within this window is sent once")
    timeout_s: float = Field(5.0, gt=0, le=60, description="One delivery attempt's time limit")
    max_backoff_s: float = Field(60.0, gt=0, description="Retries wait 0.5 s, 1 s, 2 s ... up to this")
    give_up_after_s: float = Field(86_400.0, gt=0, description="Still failing after this long: a dead letter")


def _no_secret_in_url(url: str) -> str:
    if re.search(r"//[^/@]+:[^/@]+@", url):
        raise ValueError("the URL carries a password: put the secret in the environment, not the config file")
    return url


class WebhookChannel(_Channel):
    """JSON POST signed with HMAC-SHA256 (`X-DTO-Signature`)."""

    kind: Literal["webhook"] = "webhook"
    url: str = Field(description="Where alerts are POSTed")
    secret_env: str = Field("DTO_WEBHOOK_SECRET", pattern=_ENV_NAME, description="Env var with the signing secret")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _no_secret_in_url(value)


class EmailChannel(_Channel):
    """Email over SMTP, upgraded with STARTTLS before logging in."""

    kind: Literal["email"] = "email"
    host: str = Field(description="SMTP server")
    port: int = Field(587, ge=1, le=65535, description="SMTP submission port")
    sender: str = Field(description="From address")
    to: list[str] = Field(min_length=1, description="Recipients")
    username: str | None = Field(None, description="Login name (none: no login)")
    password_env: str = Field("DTO_SMTP_PASSWORD", pattern=_ENV_NAME, description="Env var with the SMTP password")
    starttls: bool = Field(True, description="Require STARTTLS (off only for a relay on this machine)")
    ca_file: str | None = Field(None, description="CA bundle to verify the server with (default: the system's)")


class TelegramChannel(_Channel):
    """Telegram Bot API `sendMessage`."""

    kind: Literal["telegram"] = "telegram"
    chat_id: str = Field(description="The chat (user, group or channel id) to write to")
    token_env: str = Field("DTO_TELEGRAM_TOKEN", pattern=_ENV_NAME, description="Env var with the bot token")
    api_url: str = Field("https://api.telegram.org", description="Bot API base URL")


class SlackChannel(_Channel):
    """Slack Web API `chat.postMessage` with a bot token."""

    kind: Literal["slack"] = "slack"
    channel: str = Field(description="Channel id or name to post in")
    token_env: str = Field("DTO_SLACK_TOKEN", pattern=_ENV_NAME, description="Env var with the bot token (xoxb-)")
    api_url: str = Field("https://slack.com/api", description="Web API base URL")


class DiscordChannel(_Channel):
    """A Discord channel webhook (`POST /api/webhooks/{id}/{token}`)."""

    kind: Literal["discord"] = "discord"
    url_env: str = Field("DTO_DISCORD_WEBHOOK_URL", pattern=_ENV_NAME,
                         description="Env var with the webhook URL (it contains the webhook's token)")
    username: str | None = Field(None, description="Override the webhook's display name")


ChannelConfig = Annotated[
    WebhookChannel | EmailChannel | TelegramChannel | SlackChannel | DiscordChannel, Field(discriminator="kind")
]


class RuleConfig(_Strict):
    """Which alerts go where."""

    rule: AlertRule = Field(description="One of: " + ", ".join(r.value for r in AlertRule))
    channels: list[str] = Field(min_length=1, description="Channel names to send to")
    strategies: list[str] | None = Field(None, description="Only these strategies' events (orders, fills, stops)")
    symbols: list[str] | None = Field(None, description="sentiment_move: only these symbols")
    threshold: float = Field(0.3, gt=0, le=2, description="sentiment_move: the rolling score change that alerts")


class NotificationsConfig(_Strict):
    """Alert channels and rules."""

    channels: list[ChannelConfig] = Field(default_factory=list, description="Where alerts can go")
    rules: list[RuleConfig] = Field(default_factory=list, description="Which alerts go to which channels")
    daily_summary_at: str = Field("16:05", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                  description="daily_pnl: local time of the summary (HH:MM)")
    timezone: str = Field("America/New_York", description="Time zone of daily_summary_at")
    outbox: str | None = Field(None, description="File keeping undelivered alerts across restarts "
                                                 "(default: $DTO_HOME/alerts/<run>.jsonl)")

    @model_validator(mode="after")
    def _references(self) -> NotificationsConfig:
        names = [c.name for c in self.channels]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ValueError(f"channels[{i}].name: {name!r} is used twice")
        for i, rule in enumerate(self.rules):
            for name in rule.channels:
                if name not in names:
                    raise ValueError(f"rules[{i}].channels: unknown channel {name!r} (have {names})")
        return self

    def channel(self, name: str) -> ChannelConfig:
        return next(c for c in self.channels if c.name == name)
