"""Delivers alerts on their channels: one queue and one worker per channel, so a channel that is down holds up
only itself. Per channel: deduplication (one alert per key within `dedupe_s`), a rate limit (at most
`rate_per_minute` sends in any minute; more wait, none is dropped), retries of temporary failures with
exponential backoff until the channel answers (at least once; after `give_up_after_s` a dead letter), and a dead
letter at once for a request the service refuses as given. `submit` only queues: it never waits for a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trading.alerts.channels import Channel
from trading.alerts.config import ChannelConfig
from trading.alerts.model import Alert, DeliverLater, DeliveryError
from trading.alerts.outbox import AlertOutbox, DeadLetter

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5


@dataclass
class ChannelStats:
    queued: int = 0
    sent: int = 0
    failed_attempts: int = 0
    deduplicated: int = 0
    dead: int = 0
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Lane:
    channel: Channel
    config: ChannelConfig
    queue: deque[Alert] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    recent_keys: dict[str, float] = field(default_factory=dict)  # dedupe key -> when accepted
    sends: deque[float] = field(default_factory=deque)  # send times in the last minute
    stats: ChannelStats = field(default_factory=ChannelStats)
    task: asyncio.Task[None] | None = None


class AlertDispatcher:
    def __init__(
        self,
        channels: list[tuple[ChannelConfig, Channel]],
        outbox: AlertOutbox | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox or AlertOutbox()
        self.clock = clock
        self.lanes = {config.name: _Lane(channel, config) for config, channel in channels}
        for (name, _), alert in list(self.outbox.pending.items()):  # what a previous run had not delivered
            if name in self.lanes:
                self.lanes[name].queue.append(alert)
                self.lanes[name].stats.queued += 1

    def start(self) -> None:
        for lane in self.lanes.values():
            if lane.task is None:
                lane.task = asyncio.create_task(self._work(lane), name=f"alerts-{lane.config.name}")
                lane.wake.set()

    async def stop(self) -> None:
        for lane in self.lanes.values():
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
                lane.task = None
            await lane.channel.aclose()

    def submit(self, alert: Alert, channels: list[str]) -> list[str]:
        """Queue the alert on these channels (unknown names are skipped); returns where it was queued, after
        deduplication. Never waits."""
        now = self.clock()
        queued = []
        for name in channels:
            lane = self.lanes.get(name)
            if lane is None:
                continue
            seen = lane.recent_keys.get(alert.key)
            if seen is not None and now - seen < lane.config.dedupe_s:
                lane.stats.deduplicated += 1
                continue
            lane.recent_keys[alert.key] = now
            if len(lane.recent_keys) > 10_000:  # forget keys whose window passed
                lane.recent_keys = {k: t for k, t in lane.recent_keys.items() if now - t < lane.config.dedupe_s}
            self.outbox.queued(name, alert)
            lane.queue.append(alert)
            lane.stats.queued += 1
            lane.wake.set()
            queued.append(name)
        return queued

    def redrive(self, channel: str, alert_id: str) -> bool:
        """Send a dead letter again (after the cause was fixed). False if there is no such dead letter."""
        letter = self.outbox.dead.get((channel, alert_id))
        lane = self.lanes.get(channel)
        if letter is None or lane is None:
            return False
        del self.outbox.dead[(channel, alert_id)]
        self.outbox.queued(channel, letter.alert)
        lane.queue.append(letter.alert)
        lane.wake.set()
        return True

    def dead_letters(self) -> list[DeadLetter]:
        return list(self.outbox.dead.values())

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: {"kind": lane.config.kind, "waiting": len(lane.queue), **lane.stats.to_dict()}
                for name, lane in self.lanes.items()}

    async def drained(self, timeout_s: float) -> bool:
        """Wait until every queue is empty (True) or `timeout_s` passed (False)."""
        ends = time.monotonic() + timeout_s
        while any(lane.queue for lane in self.lanes.values()):
            if time.monotonic() >= ends:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _work(self, lane: _Lane) -> None:
        config = lane.config
        while True:
            if not lane.queue:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            alert = lane.queue[0]
            first_try = self.clock()
            attempts = 0
            while True:
                await self._rate_limit(lane)
                attempts += 1
                try:
                    await asyncio.wait_for(lane.channel.send(alert), timeout=config.timeout_s + 1)
                except (DeliveryError, TimeoutError) as exc:
                    lane.stats.failed_attempts += 1
                    lane.stats.last_error = str(exc) or type(exc).__name__
                    temporary = isinstance(exc, DeliverLater | TimeoutError)
                    if temporary and self.clock() - first_try < config.give_up_after_s:
                        backoff = min(config.max_backoff_s, FIRST_BACKOFF_S * 2 ** min(attempts - 1, 20))
                        wait = getattr(exc, "retry_after", None)
                        await asyncio.sleep(max(backoff, wait or 0.0))
                        continue
                    log.warning("alert %s on %s is a dead letter: %s", alert.id, config.name, lane.stats.last_error)
                    self.outbox.dead_letter(DeadLetter(config.name, alert, lane.stats.last_error, attempts))
                    lane.stats.dead += 1
                except Exception as exc:  # a bug in a channel must not end the lane: the alert waits as a dead letter
                    log.exception("channel %s failed on alert %s", config.name, alert.id)
                    self.outbox.dead_letter(DeadLetter(config.name, alert, repr(exc), attempts))
                    lane.stats.dead += 1
                else:
                    self.outbox.done(config.name, alert)
                    lane.stats.sent += 1
                break
            lane.queue.popleft()

    async def _rate_limit(self, lane: _Lane) -> None:
        sends, limit = lane.sends, lane.config.rate_per_minute
        while True:
            now = self.clock()
            while sends and now - sends[0] >= 60.0:
                sends.popleft()
            if len(sends) < limit:
                sends.append(now)
                return
            await asyncio.sleep(min(1.0, 60.0 - (now - sends[0])))  # short naps: the clock may be a test's
