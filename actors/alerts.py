"""AlertActor: turns what the runtime reports into alerts and delivers them (`trading.alerts`), off the order path.

Where it learns things, and why this way round: nothing on the order path calls it. The order manager already
publishes every event it books to Redis (`events`, in the background) and the kill switch is announced on Redis
(`kill_switch`); this actor subscribes to both, so an alert costs an order nothing, and a slow or dead channel, or
this actor restarting, cannot hold up a single order. What is not published (a circuit breaker's state change,
a strategy stopping or dying, the day's P&L) it asks for on a timer from the risk actor, the strategy actors and
the order manager: reads those actors answer anyway. The news actor publishes its scores on `news`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ray
from ray.exceptions import RayActorError

from trading.alerts import (
    Alert,
    AlertDispatcher,
    AlertOutbox,
    AlertRule,
    AlertRules,
    NotificationsConfig,
    Severity,
    build_channel,
    observation,
)
from trading.config import dto_home
from trading.storage import LiveCache, StorageError

log = logging.getLogger(__name__)

ALERTS = "alerts"
POLL_S = 0.5


@ray.remote
class AlertActor:
    def __init__(
        self,
        namespace: str,
        config: NotificationsConfig,
        *,
        redis_url: str | None = None,
        outbox: str | None = None,
        run_id: str = "live",
        risk: str | None = None,
        order_manager: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.config = config
        self.redis_url = redis_url
        self.outbox = AlertOutbox(self._outbox_path(outbox or str(dto_home() / "alerts" / f"{run_id}.jsonl")))
        self.risk = risk
        self.order_manager = order_manager
        self.rules = AlertRules(config)
        self.dispatcher: AlertDispatcher | None = None
        self.strategies: dict[str, str] = {}  # actor name -> strategy id
        self.strategy_states: dict[str, str] = {}
        self.risk_seen: set[tuple[Any, ...]] | None = None
        self.summary_day: str | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.events_seen = 0

    @staticmethod
    def _outbox_path(path: str) -> Path:
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        return file

    async def start(self) -> dict[str, Any]:
        """Build the channels (their secrets from this process's environment or the credential store: a missing
        one raises ConfigError naming it) and start listening. Idempotent."""
        if self.dispatcher is None:
            self._build(self.config)
        if not self.tasks:
            if self.redis_url is not None:
                ready = asyncio.get_running_loop().create_future()
                self.tasks.append(asyncio.create_task(self._follow_redis(ready)))
                await asyncio.wait_for(ready, timeout=10)
            self.tasks.append(asyncio.create_task(self._watch()))
        return await self.status()

    def _build(self, config: NotificationsConfig) -> None:
        channels = [(c, build_channel(c)) for c in config.channels]
        self.dispatcher = AlertDispatcher(channels, self.outbox)
        self.dispatcher.start()
        self.config, self.rules = config, AlertRules(config)

    # ------------------------------------------------------------------------------------------- inputs
    def on_event(self, event: dict[str, Any]) -> list[str]:
        """One runtime event (a `Message.to_dict()` or an observation): raises the alerts its rules say.
        Returns the ids of the alerts queued."""
        assert self.dispatcher is not None
        self.events_seen += 1
        queued = []
        for alert, channels in self.rules.evaluate(event, time.time_ns()):
            if self.dispatcher.submit(alert, channels):
                queued.append(alert.id)
        return queued

    async def _follow_redis(self, ready: asyncio.Future[None]) -> None:
        assert self.redis_url is not None
        cache = LiveCache.from_url(self.redis_url, namespace=self.namespace)
        while True:
            try:
                async with cache.subscribe_many("events", "kill_switch", "news") as subscription:
                    if not ready.done():
                        ready.set_result(None)
                    while True:
                        message = await subscription.next_message(5.0)
                        if message is None:
                            continue
                        channel, event = message
                        if channel == "kill_switch":
                            event = {**event, "kind": "kill_switch"}
                        self.on_event(event)
            except (StorageError, OSError, ConnectionError) as exc:
                log.warning("alerts: the Redis subscription dropped (%s); subscribing again", exc)
                if not ready.done():
                    ready.set_result(None)
                await asyncio.sleep(1.0)

    async def _watch(self) -> None:
        while True:
            for check in (self._risk_changes, self._strategy_states, self._daily_summary):
                try:
                    await check()
                except Exception:  # one failing read must not end the watch
                    log.exception("alerts: %s failed", check.__name__)
            await asyncio.sleep(POLL_S)

    async def _risk_changes(self) -> None:
        if self.risk is None:
            return
        with contextlib.suppress(RayActorError, ValueError, asyncio.TimeoutError):
            risk = ray.get_actor(self.risk, namespace=self.namespace)
            changes: list[Any] = await asyncio.wait_for(risk.state_changes.remote(), timeout=2.0)
            keys = {(c.state, c.previous, c.reason, c.ts) for c in changes}
            if self.risk_seen is not None:
                for change in changes:
                    if (change.state, change.previous, change.reason, change.ts) not in self.risk_seen:
                        self.on_event(change.to_dict())
            self.risk_seen = keys if self.risk_seen is None else self.risk_seen | keys

    async def _strategy_states(self) -> None:
        for name, strategy_id in list(self.strategies.items()):
            try:
                handle = ray.get_actor(name, namespace=self.namespace)
                status: dict[str, Any] = await asyncio.wait_for(handle.status.remote(), timeout=2.0)
            except (RayActorError, ValueError) as exc:
                self.on_event(observation("StrategyStatus", strategy_id=strategy_id, state="dead",
                                          error=f"{type(exc).__name__}: {str(exc)[:200]}"))
                continue
            except TimeoutError:
                continue
            state = str(status.get("state"))
            if state != self.strategy_states.get(name):
                self.strategy_states[name] = state
                self.on_event(observation("StrategyStatus", strategy_id=strategy_id, state=state,
                                          error=status.get("error")))

    async def _daily_summary(self) -> None:
        if self.order_manager is None or not any(r.rule is AlertRule.DAILY_PNL for r in self.config.rules):
            return
        now = datetime.now(ZoneInfo(self.config.timezone))
        day = now.date().isoformat()
        if now.strftime("%H:%M") < self.config.daily_summary_at or self.summary_day == day:
            return
        self.summary_day = day
        oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        view: dict[str, Any] = await asyncio.wait_for(oms.positions_view.remote(), timeout=5.0)
        self.on_event(observation("DailyPnl", day=day, pnl=view.get("pnl", {}),
                                  strategy_pnl=view.get("strategy_pnl", {})))

    # ------------------------------------------------------------------------------- for the runtime, API
    async def watch_strategy(self, actor_name: str, strategy_id: str) -> None:
        """Alert when this strategy stops or its actor dies (the runtime calls it for each strategy it starts)."""
        self.strategies[actor_name] = strategy_id

    async def configure(self, notifications: dict[str, Any]) -> dict[str, Any]:
        """Replace channels and rules (validated like the config file's section; secrets from the environment).
        Undelivered alerts of channels that remain are kept."""
        config = NotificationsConfig.model_validate(notifications)
        channels = [(c, build_channel(c)) for c in config.channels]  # a missing secret raises before any change
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        self.dispatcher = AlertDispatcher(channels, self.outbox)
        self.dispatcher.start()
        self.config, self.rules = config, AlertRules(config)
        return self.config.model_dump(mode="json")

    async def settings(self) -> dict[str, Any]:
        """The notifications config in force (names of secrets, never their values)."""
        return self.config.model_dump(mode="json")

    async def send_test(self, channel: str) -> str | None:
        """Queue a test alert on one channel; its id, or None for an unknown channel."""
        assert self.dispatcher is not None
        alert = Alert(AlertRule.RISK_STATE_CHANGED, f"test:{time.time_ns()}", "Test alert from dto",
                      f"channel {channel} works", time.time_ns(), Severity.INFO, {"test": True})
        return alert.id if self.dispatcher.submit(alert, [channel]) else None

    async def dead_letters(self) -> list[dict[str, Any]]:
        assert self.dispatcher is not None
        return [letter.to_dict() for letter in self.dispatcher.dead_letters()]

    async def redrive(self, channel: str, alert_id: str) -> bool:
        assert self.dispatcher is not None
        return self.dispatcher.redrive(channel, alert_id)

    async def drained(self, timeout_s: float = 5.0) -> bool:
        assert self.dispatcher is not None
        return await self.dispatcher.drained(timeout_s)

    async def status(self) -> dict[str, Any]:
        channels = self.dispatcher.status() if self.dispatcher is not None else {}
        dead = len(self.dispatcher.dead_letters()) if self.dispatcher is not None else 0
        return {"channels": channels, "events_seen": self.events_seen, "dead_letters": dead,
                "rules": len(self.config.rules)}

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
