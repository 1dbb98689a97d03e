"""Each channel against a local server, checking the request each service documents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from trading.alerts import Alert, AlertRule, DeliverLater, Severity, Undeliverable, build_channel, verify_signature
from trading.alerts.config import DiscordChannel, EmailChannel, SlackChannel, TelegramChannel, WebhookChannel
from trading.brokers.settings import SettingsSource
from trading.errors import ConfigError

from .local_servers import LocalSmtp, RecordingHttpServer, free_port

ALERT = Alert(AlertRule.KILL_SWITCH, "kill_switch:True:desk", "Kill switch ON", "desk says stop", 1_700_000_000,
              Severity.CRITICAL, {"on": True})
SECRETS = SettingsSource({"DTO_WEBHOOK_SECRET": "hook-secret", "DTO_TELEGRAM_TOKEN": "123:ABC",
                          "DTO_SLACK_TOKEN": "xoxb-test", "DTO_SMTP_PASSWORD": "smtp-pass"})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_webhook_posts_the_alert_as_json_signed_with_hmac_sha256() -> None:
    async def main() -> None:
        server = await RecordingHttpServer().start()
        channel = build_channel(WebhookChannel(name="ops", url=f"{server.url}/hooks/dto"), SECRETS)
        try:
            await channel.send(ALERT)
        finally:
            await channel.aclose()
            await server.stop()
        (request,) = server.requests
        assert (request.method, request.path) == ("POST", "/hooks/dto")
        assert request.headers["Content-Type"] == "application/json"
        assert request.json() == ALERT.to_dict()
        assert request.headers["X-DTO-Delivery"] == ALERT.id
        assert request.headers["X-DTO-Signature"].startswith("sha256=")
        assert verify_signature(b"hook-secret", request.headers["X-DTO-Timestamp"], request.body,
                                request.headers["X-DTO-Signature"])
        assert not verify_signature(b"other", request.headers["X-DTO-Timestamp"], request.body,
                                    request.headers["X-DTO-Signature"])

    run(main())


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        ((503, {"error": "down"}, {}), DeliverLater, None),
        ((429, {"error": "slow"}, {"Retry-After": "7"}), DeliverLater, 7.0),
        ((400, {"error": "bad"}, {}), Undeliverable, None),
        ((401, {"error": "who"}, {}), Undeliverable, None),
    ],
)
def test_webhook_failures_are_classified(reply: Any, error: type[Exception], retry_after: float | None) -> None:
    async def main() -> None:
        server = await RecordingHttpServer(default=reply).start()
        channel = build_channel(WebhookChannel(name="ops", url=server.url), SECRETS)
        try:
            with pytest.raises(error) as raised:
                await channel.send(ALERT)
        finally:
            await channel.aclose()
            await server.stop()
        assert getattr(raised.value, "retry_after", None) == retry_after

    run(main())


def test_webhook_to_a_closed_port_is_deliver_later() -> None:
    async def main() -> None:
        channel = build_channel(WebhookChannel(name="ops", url=f"http://127.0.0.1:{free_port()}/x"), SECRETS)
        with pytest.raises(DeliverLater):
            await channel.send(ALERT)
        await channel.aclose()

    run(main())


def test_telegram_calls_send_message_with_chat_id_and_text() -> None:
    async def main() -> None:
        server = await RecordingHttpServer(default=(200, {"ok": True, "result": {"message_id": 1}}, {})).start()
        config = TelegramChannel(name="phone", chat_id="-100200", api_url=server.url)
        channel = build_channel(config, SECRETS)
        await channel.send(ALERT)
        server.replies.append((429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry "
                                     "after 3", "parameters": {"retry_after": 3}}, {}))
        with pytest.raises(DeliverLater) as later:
            await channel.send(ALERT)
        server.replies.append((400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
                               {}))
        with pytest.raises(Undeliverable) as refused:
            await channel.send(ALERT)
        await channel.aclose()
        await server.stop()
        request = server.requests[0]
        assert (request.method, request.path) == ("POST", "/bot123:ABC/sendMessage")
        assert request.headers["Content-Type"] == "application/json"
        assert request.json() == {"chat_id": "-100200", "text": ALERT.message()}
        assert later.value.retry_after == 3.0
        assert "123:ABC" not in str(refused.value)  # the token never reaches an error message (or a log)

    run(main())


def test_slack_posts_chat_post_message_with_a_bearer_token() -> None:
    async def main() -> None:
        server = await RecordingHttpServer(default=(200, {"ok": True, "channel": "C1", "ts": "1.2"}, {})).start()
        channel = build_channel(SlackChannel(name="team", channel="#trading", api_url=server.url), SECRETS)
        await channel.send(ALERT)
        server.replies.append((200, {"ok": False, "error": "invalid_auth"}, {}))
        with pytest.raises(Undeliverable):
            await channel.send(ALERT)
        server.replies.append((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}))
        with pytest.raises(DeliverLater) as later:
            await channel.send(ALERT)
        await channel.aclose()
        await server.stop()
        request = server.requests[0]
        assert (request.method, request.path) == ("POST", "/chat.postMessage")
        assert request.headers["Authorization"] == "Bearer xoxb-test"
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert request.json() == {"channel": "#trading", "text": ALERT.message()}
        assert later.value.retry_after == 30.0

    run(main())


def test_discord_posts_content_to_the_webhook_and_waits() -> None:
    async def main() -> None:
        server = await RecordingHttpServer(default=(200, {"id": "1", "content": "x"}, {})).start()
        secrets = SettingsSource({"DTO_DISCORD_WEBHOOK_URL": f"{server.url}/api/webhooks/42/tok-en"})
        channel = build_channel(DiscordChannel(name="chat", username="dto"), secrets)
        await channel.send(Alert(AlertRule.FILL, "k", "x" * 3000, "", 1))
        server.replies.append((429, {"message": "You are being rate limited.", "retry_after": 0.65, "global": False},
                               {}))
        with pytest.raises(DeliverLater) as later:
            await channel.send(ALERT)
        await channel.aclose()
        await server.stop()
        request = server.requests[0]
        assert (request.method, request.path, request.query) == ("POST", "/api/webhooks/42/tok-en", {"wait": "true"})
        assert request.json() == {"content": "x" * 2000, "username": "dto"}  # Discord's 2,000-character limit
        assert later.value.retry_after == 0.65

    run(main())


def test_email_goes_over_starttls_with_a_login(tmp_path: Path) -> None:
    smtp = LocalSmtp(tmp_path).start()
    try:
        config = EmailChannel(name="desk", host="127.0.0.1", port=smtp.port, sender="dto@example.com",
                              to=["desk@example.com", "risk@example.com"], username="dto", ca_file=str(smtp.cert))
        channel = build_channel(config, SECRETS)
        run(channel.send(ALERT))
        (message,) = smtp.mailbox.messages
        assert smtp.mailbox.envelopes == [("dto@example.com", ["desk@example.com", "risk@example.com"], True)]
        assert message["Subject"] == "[dto critical] Kill switch ON"
        assert message["Message-ID"] == f"<{ALERT.id}@dto.alerts>"
        assert message.get_payload().strip() == "desk says stop"

        untrusted = build_channel(config.model_copy(update={"ca_file": None}), SECRETS)
        with pytest.raises(Undeliverable, match="TLS"):  # the server's certificate is not trusted: no login sent
            run(untrusted.send(ALERT))
    finally:
        smtp.stop()
    with pytest.raises(DeliverLater):  # the server is gone
        run(channel.send(ALERT))


def test_secrets_come_from_the_environment_never_the_file() -> None:
    with pytest.raises(ConfigError, match="DTO_TELEGRAM_TOKEN"):
        build_channel(TelegramChannel(name="phone", chat_id="1"), SettingsSource({}))
    with pytest.raises(ValueError, match="password"):
        WebhookChannel(name="ops", url="https://user:pw@example.com/hook")
    assert "hook-secret" not in json.dumps(WebhookChannel(name="ops", url="https://x").model_dump())
