"""Delivery: at least once through a channel outage, never waiting in `submit`, deduplicated, rate limited,
dead letters for what a service refuses, and an outbox that survives a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from trading.alerts import Alert, AlertDispatcher, AlertOutbox, AlertRule, build_channel
from trading.alerts.config import WebhookChannel
from trading.brokers.settings import SettingsSource

from .local_servers import RecordingHttpServer

SECRETS = SettingsSource({"DTO_WEBHOOK_SECRET": "s"})


def alert(n: int, key: str | None = None) -> Alert:
    return Alert(AlertRule.FILL, key or f"fill:{n}", f"fill {n}", "", n)


def hook(server: RecordingHttpServer, **settings: Any) -> tuple[WebhookChannel, Any]:
    config = WebhookChannel(name="ops", url=server.url, **{"max_backoff_s": 0.2, **settings})
    return config, build_channel(config, SECRETS)


def delivered_ids(server: RecordingHttpServer) -> list[str]:
    return [r.headers["X-DTO-Delivery"] for r in server.requests]


def test_a_channel_that_is_down_loses_no_alert_and_submit_never_waits() -> None:
    async def main() -> None:
        server = RecordingHttpServer()  # not started: the port refuses connections
        dispatcher = AlertDispatcher([hook(server)])
        dispatcher.start()
        alerts = [alert(n) for n in range(20)]
        started = time.perf_counter()
        for a in alerts:
            assert dispatcher.submit(a, ["ops"]) == ["ops"]
        submit_s = time.perf_counter() - started
        await asyncio.sleep(1.0)  # several failed attempts with backoff
        assert dispatcher.status()["ops"]["failed_attempts"] >= 2
        assert dispatcher.status()["ops"]["sent"] == 0
        await server.start()  # the channel is back
        assert await dispatcher.drained(5.0)
        await dispatcher.stop()
        await server.stop()
        assert submit_s < 0.05
        assert sorted(set(delivered_ids(server))) == sorted(a.id for a in alerts)  # none lost
        assert delivered_ids(server) == [a.id for a in alerts]  # in order, each once after the outage
        assert dispatcher.dead_letters() == []

    asyncio.run(main())


def test_the_same_situation_within_the_dedupe_window_is_sent_once() -> None:
    async def main() -> None:
        server = await RecordingHttpServer().start()
        dispatcher = AlertDispatcher([hook(server, dedupe_s=60)])
        dispatcher.start()
        assert dispatcher.submit(alert(1, key="kill"), ["ops"]) == ["ops"]
        assert dispatcher.submit(alert(2, key="kill"), ["ops"]) == []
        assert dispatcher.submit(alert(3, key="other"), ["ops"]) == ["ops"]
        assert await dispatcher.drained(5.0)
        await dispatcher.stop()
        await server.stop()
        assert len(server.requests) == 2
        assert dispatcher.status()["ops"]["deduplicated"] == 1

    asyncio.run(main())


def test_the_rate_limit_delays_alerts_and_drops_none() -> None:
    async def main() -> None:
        server = await RecordingHttpServer().start()
        now = [0.0]
        dispatcher = AlertDispatcher([hook(server, rate_per_minute=2)], clock=lambda: now[0])
        dispatcher.start()
        for n in range(3):
            dispatcher.submit(alert(n), ["ops"])
        await asyncio.sleep(0.5)
        assert len(server.requests) == 2  # the third waits for the minute to pass
        now[0] = 61.0
        assert await dispatcher.drained(5.0)
        await dispatcher.stop()
        await server.stop()
        assert len(server.requests) == 3

    asyncio.run(main())


def test_a_refused_request_is_a_dead_letter_and_can_be_redriven(tmp_path: Path) -> None:
    async def main() -> None:
        server = await RecordingHttpServer(replies=[(401, {"error": "bad secret"}, {})]).start()
        outbox = AlertOutbox(tmp_path / "outbox.jsonl")
        dispatcher = AlertDispatcher([hook(server)], outbox)
        dispatcher.start()
        dispatcher.submit(alert(1), ["ops"])
        dispatcher.submit(alert(2), ["ops"])
        assert await dispatcher.drained(5.0)
        (letter,) = dispatcher.dead_letters()
        assert (letter.alert, letter.attempts) == (alert(1), 1)
        assert "401" in letter.reason
        assert len(AlertOutbox(tmp_path / "outbox.jsonl").dead) == 1  # recorded on disk
        assert dispatcher.redrive("ops", alert(1).id)
        assert await dispatcher.drained(5.0)
        await dispatcher.stop()
        await server.stop()
        assert delivered_ids(server) == [alert(1).id, alert(2).id, alert(1).id]
        assert dispatcher.dead_letters() == []

    asyncio.run(main())


def test_alerts_not_yet_delivered_are_sent_after_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        server = RecordingHttpServer()
        first = AlertDispatcher([hook(server)], AlertOutbox(tmp_path / "outbox.jsonl"))
        first.start()
        first.submit(alert(1), ["ops"])
        first.submit(alert(2), ["ops"])
        await asyncio.sleep(0.2)
        await first.stop()  # the actor died with both undelivered
        await server.start()
        second = AlertDispatcher([hook(server)], AlertOutbox(tmp_path / "outbox.jsonl"))
        second.start()
        assert await second.drained(5.0)
        await second.stop()
        await server.stop()
        assert delivered_ids(server) == [alert(1).id, alert(2).id]
        assert AlertOutbox(tmp_path / "outbox.jsonl").pending == {}

    asyncio.run(main())
