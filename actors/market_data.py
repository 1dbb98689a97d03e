"""MarketDataActor: hosts the `MarketDataFeed`; validates bars and pushes them in batches to the broker, the
order manager and the subscribed strategy actors. Keeps the accepted history a restarted strategy replays."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import ray
from ray.exceptions import RayActorError

from actors.packing import packed
from actors.storage import call_with_retry
from actors.tuning import tune_gc
from trading.data.bars import Bar, BarSeries
from trading.live import MarketDataFeed, MergedReplay
from trading.messages import MarketDataRejected, Message
from trading.model.identifiers import InstrumentId

RESEND_WAIT_S = 0.2
RESEND_ATTEMPTS = 300
ARRIVAL_LOG_CAP = 100_000  # a restarting strategy actor takes seconds, not minutes
IN_FLIGHT = 2  # batches on their way at once: a strategy done with one starts the next without a barrier


@ray.remote
class MarketDataActor:
    def __init__(self, namespace: str, broker_names: str | Sequence[str], order_manager: str) -> None:
        tune_gc()
        self.namespace = namespace
        self.broker_names = [broker_names] if isinstance(broker_names, str) else list(broker_names)
        self.order_manager = order_manager
        self.feed = MarketDataFeed()
        self.history_bars: dict[InstrumentId, list[Bar]] = {}
        self.subscribers: dict[InstrumentId, list[str]] = {}
        self.rejected: list[MarketDataRejected] = []
        self.resends = 0
        self.arrivals: list[tuple[int, int, int]] = []  # (first bar ts, last bar ts, wall ns) per batch
        self.replaying = False
        self._handles: dict[str, Any] = {}
        # One batch at a time per recipient, in order: Ray does not promise that an async actor starts calls in
        # the order they were sent, and a recipient keeps only bars newer than the last it has.
        self._in_order: dict[str, asyncio.Lock] = {}

    async def subscribe(self, instrument_id: InstrumentId, actor_name: str) -> None:
        names = self.subscribers.setdefault(instrument_id, [])
        if actor_name not in names:
            names.append(actor_name)

    async def history(self, instrument_id: InstrumentId) -> list[Bar]:
        return packed(list(self.history_bars.get(instrument_id, [])))

    async def publish(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> int:
        """Validate and deliver one batch; returns how many bars were accepted."""
        arrived = time.time_ns()
        good, bad = self.feed.validate(instrument_id, bars)
        self.rejected += bad
        if not good:
            return 0
        if len(self.arrivals) < ARRIVAL_LOG_CAP:
            self.arrivals.append((good[0].ts, good[-1].ts, arrived))
        self.history_bars.setdefault(instrument_id, []).extend(good)
        for name in (*self.broker_names, self.order_manager):
            if name not in self._handles:
                self._handles[name] = ray.get_actor(name, namespace=self.namespace)
        oms = self._handles[self.order_manager]
        batch = packed(good)  # pickled once for every recipient

        async def to_broker(name: str) -> list[Message]:
            async with self._lock_for(name):
                call = functools.partial(self._handles[name].on_bars.remote, instrument_id, batch)
                events: list[Message] = await call_with_retry(call, "broker on_bars")
                return events

        async def to_books() -> None:
            answers = await asyncio.gather(*(to_broker(name) for name in self.broker_names))
            events = packed([event for answer in answers for event in answer])
            async with self._lock_for(self.order_manager):
                await call_with_retry(lambda: oms.on_bars.remote(instrument_id, batch, events), "order manager on_bars")

        # The broker and every strategy get the batch at once (the broker paces each strategy's book, and a
        # strategy's step waits at the broker for bars it already has): no hop before a strategy sees a bar.
        names = self.subscribers.get(instrument_id, [])
        await asyncio.gather(to_books(), *(self._deliver(name, batch) for name in names))
        return len(good)

    def _lock_for(self, recipient: str) -> asyncio.Lock:
        # Waiters acquire an asyncio.Lock first come, first served: batches go out in the order published.
        return self._in_order.setdefault(recipient, asyncio.Lock())

    async def _deliver(self, name: str, bars: list[Bar]) -> None:
        async with self._lock_for(name):
            await self._push(name, bars)

    async def _push(self, name: str, bars: list[Bar]) -> None:
        """Push to a strategy actor; if it died, wait for its restart and push again (idempotent by ts)."""
        for _ in range(RESEND_ATTEMPTS):
            try:
                actor = self._handles.get(name) or ray.get_actor(name, namespace=self.namespace)
                self._handles[name] = actor  # a handle survives the actor's restarts: look it up once
                await actor.on_bars.remote(bars)
                return
            except (RayActorError, ValueError):
                self.resends += 1
                await asyncio.sleep(RESEND_WAIT_S)
        raise RuntimeError(f"strategy actor {name} did not come back")

    async def replay_many(
        self, bars: dict[InstrumentId, BarSeries | list[Bar]], batch_size: int = 100, speed: str = "max"
    ) -> dict[str, Any]:
        """Play several instruments' bars as one market, batches interleaved in time order."""
        self.replaying = True
        pending: deque[asyncio.Task[int]] = deque()
        try:
            # Each recipient still gets one batch at a time, in order (`_lock_for`).
            async for iid, batch in MergedReplay(bars, batch_size=batch_size, speed=speed).abatches():
                pending.append(asyncio.create_task(self.publish(iid, batch)))
                if len(pending) >= IN_FLIGHT:
                    await pending.popleft()
            while pending:
                await pending.popleft()
        finally:
            for task in pending:
                task.cancel()
            self.replaying = False
        return await self.status()

    async def batch_arrivals(self) -> list[tuple[int, int, int]]:
        """(first bar ts, last bar ts, wall-clock ns it arrived) per accepted batch, for latency benchmarks."""
        return list(self.arrivals)

    async def status(self) -> dict[str, Any]:
        return {**self.feed.status(), "resends": self.resends, "replaying": self.replaying}

    # ---- for the gateway (issue 5)

    async def last_bars(self) -> dict[str, dict[str, Any]]:
        """The last accepted bar per instrument."""
        return {
            str(iid): {"ts": b.ts, "open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume}
            for iid, bars in self.history_bars.items()
            if bars
            for b in bars[-1:]
        }
