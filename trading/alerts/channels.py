"""Delivery channels: each sends one alert and says how it failed (`DeliverLater` or `Undeliverable`).

Request shapes follow each service's documentation:
- webhook: `POST url`, the alert as JSON, `X-DTO-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>." + body)>`,
  `X-DTO-Timestamp: <ts>` and `X-DTO-Delivery: <alert id>` (stable across retries: receivers dedupe on it);
- Telegram: `POST {api}/bot<token>/sendMessage` with JSON `{"chat_id", "text"}`; answers `{"ok": true, ...}`, or
  `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`;
- Slack: `POST {api}/chat.postMessage`, `Authorization: Bearer <token>`, JSON `{"channel", "text"}`; answers 200
  with `{"ok": true}` or `{"ok": false, "error": "..."}`, and 429 with `Retry-After` when rate limited;
- Discord: `POST <webhook url>?wait=true` with JSON `{"content"}` (2,000 characters at most); 429 answers carry
  `retry_after` (seconds) in the JSON body;
- email: SMTP, STARTTLS before any login, one message per alert.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from trading.alerts.config import (
    ChannelConfig,
    DiscordChannel,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)
from trading.alerts.model import Alert, DeliverLater, Undeliverable
from trading.brokers.settings import SettingsSource

SIGNATURE_HEADER = "X-DTO-Signature"
TIMESTAMP_HEADER = "X-DTO-Timestamp"
DELIVERY_HEADER = "X-DTO-Delivery"
_TELEGRAM_MAX = 4096
_DISCORD_MAX = 2000
_SLACK_MAX = 40_000
# Slack answers these with HTTP 200 and ok=false; they pass with time, the other errors need a person.
_SLACK_TEMPORARY = frozenset({"ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error",
                              "request_timeout"})


class Channel(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver, or raise DeliverLater / Undeliverable."""

    async def aclose(self) -> None: ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The webhook signature header's value for a body sent at `timestamp` (Unix seconds, as sent)."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (no replays)."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def _retry_after(value: Any) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


class _HttpChannel:
    """Posts JSON; maps transport errors, 408/429/5xx to DeliverLater and other 4xx to Undeliverable."""

    def __init__(self, name: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def _post(self, url: str, payload: dict[str, Any] | None = None, *, content: bytes | None = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = await self._client.post(url, json=payload, content=content, headers=headers)
        except httpx.HTTPError as exc:  # connection refused, timeout, reset: the service may be back later
            raise DeliverLater(f"{self.name}: {type(exc).__name__}", channel=self.name) from None
        status = response.status_code
        if status in {408, 429} or status >= 500:
            wait = _retry_after(response.headers.get("Retry-After"))
            if wait is None and status == 429:  # Discord: top level; Telegram: under "parameters"
                answer = _json(response)
                parameters = answer.get("parameters")
                wait = _retry_after(answer.get("retry_after") or
                                    (parameters.get("retry_after") if isinstance(parameters, dict) else None))
            raise DeliverLater(f"{self.name}: HTTP {status}", channel=self.name, retry_after=wait)
        if status >= 400:
            raise Undeliverable(f"{self.name}: HTTP {status}: {response.text[:200]}", channel=self.name)
        return response

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Webhook(_HttpChannel):
    def __init__(self, config: WebhookChannel, secret: bytes, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(config.name, config.timeout_s, transport)
        self.url = config.url
        self._secret = secret

    async def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_dict(), separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            DELIVERY_HEADER: alert.id,
        }
        await self._post(self.url, content=body, headers=headers)


class Telegram(_HttpChannel):
    def __init__(self, config: TelegramChannel, token: str, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(config.name, config.timeout_s, transport)
        self._url = f"{config.api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = config.chat_id

    async def send(self, alert: Alert) -> None:
        # The token is part of the URL; errors name the channel and the status only, never the URL.
        await self._post(self._url, {"chat_id": self.chat_id, "text": alert.message()[:_TELEGRAM_MAX]})


class Slack(_HttpChannel):
    def __init__(self, config: SlackChannel, token: str, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(config.name, config.timeout_s, transport)
        self._url = f"{config.api_url.rstrip('/')}/chat.postMessage"
        self._token = token
        self.channel = config.channel

    async def send(self, alert: Alert) -> None:
        response = await self._post(
            self._url,
            {"channel": self.channel, "text": alert.message()[:_SLACK_MAX]},
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json; charset=utf-8"},
        )
        answer = _json(response)
        if not answer.get("ok"):
            error = str(answer.get("error", "no ok in the answer"))
            cls = DeliverLater if error in _SLACK_TEMPORARY else Undeliverable
            raise cls(f"{self.name}: slack said {error}", channel=self.name)


class Discord(_HttpChannel):
    def __init__(self, config: DiscordChannel, url: str, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(config.name, config.timeout_s, transport)
        self._url = url + ("&" if "?" in url else "?") + "wait=true"  # wait: answer 200 once the message exists
        self.username = config.username

    async def send(self, alert: Alert) -> None:
        payload: dict[str, Any] = {"content": alert.message()[:_DISCORD_MAX]}
        if self.username:
            payload["username"] = self.username
        await self._post(self._url, payload)


class Email:
    """SMTP with STARTTLS, run in a worker thread (the stdlib client is blocking) so the event loop never waits."""

    def __init__(self, config: EmailChannel, password: str | None) -> None:
        self.name = config.name
        self.config = config
        self._password = password
        self._context = ssl.create_default_context(cafile=config.ca_file)

    async def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = f"[dto {alert.severity.value}] {alert.title}"
        message["From"] = self.config.sender
        message["To"] = ", ".join(self.config.to)
        message["Message-ID"] = f"<{alert.id}@dto.alerts>"  # stable across retries: mail clients thread on it
        message.set_content(alert.text or alert.title)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        config = self.config
        try:
            with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
                smtp.ehlo()
                if config.starttls:
                    if not smtp.has_extn("starttls"):
                        raise Undeliverable(f"{self.name}: {config.host} offers no STARTTLS", channel=self.name)
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if config.username:
                    smtp.login(config.username, self._password or "")
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError:
            raise Undeliverable(f"{self.name}: SMTP login refused", channel=self.name) from None
        except smtplib.SMTPRecipientsRefused:
            raise Undeliverable(f"{self.name}: recipients refused", channel=self.name) from None
        except smtplib.SMTPResponseException as exc:
            cls = DeliverLater if 400 <= exc.smtp_code < 500 else Undeliverable
            raise cls(f"{self.name}: SMTP {exc.smtp_code}", channel=self.name) from None
        except ssl.SSLError as exc:
            raise Undeliverable(f"{self.name}: TLS failed: {exc.reason}", channel=self.name) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliverLater(f"{self.name}: {type(exc).__name__}", channel=self.name) from None

    async def aclose(self) -> None:
        return None


def build_channel(config: ChannelConfig, settings: SettingsSource | None = None) -> Channel:
    """A channel from its config, its secret read from the environment (or the credential store)."""
    source = settings or SettingsSource()
    if isinstance(config, WebhookChannel):
        return Webhook(config, source.secret(config.secret_env).reveal().encode())
    if isinstance(config, EmailChannel):
        password = source.secret(config.password_env).reveal() if config.username else None
        return Email(config, password)
    if isinstance(config, TelegramChannel):
        return Telegram(config, source.secret(config.token_env).reveal())
    if isinstance(config, SlackChannel):
        return Slack(config, source.secret(config.token_env).reveal())
    return Discord(config, source.secret(config.url_env).reveal())
