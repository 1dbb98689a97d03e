"""MarketDataActor: hosts the `MarketDataFeed`; validates bars and pushes them in batches to the broker, the
order manager and the subscribed strategy actors. Keeps the accepted history a restarted strategy replays.

Each recipient has one call in flight at a time. Batches published meanwhile for a strategy wait and then go
together, as one call (`GroupCommit`): a Ray call costs about a millisecond of CPU on each side whatever it
carries, so a strategy that falls behind a fast replay catches up in fewer, larger calls, and one that keeps up
(live data, a paced replay) still gets each batch as soon as it is published. The brokers and the order
manager take each batch as published: the order manager marks to its last bar and checks the circuit breakers.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayActorError

from actors.batching import GroupCommit
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
IN_FLIGHT = 8  # batches a replay publishes ahead: a strategy done with one starts the next without a barrier,
# and one that is behind gets up to this many at once


@dataclass(frozen=True, slots=True)
class _Batch:
    """One published batch of good bars, with its wire form (pickled once for all recipients)."""

    instrument_id: InstrumentId
    bars: list[Bar]
    wire: list[Bar]


def _joined(group: Sequence[_Batch]) -> list[Bar]:
    """The wire form of batches that queued for one strategy (one instrument), joined (a lone batch as it is)."""
    return group[0].wire if len(group) == 1 else packed([bar for batch in group for bar in batch.bars])


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
        # One call at a time per recipient, batches in order: Ray does not promise that an async actor starts
        # calls in the order they were sent, and a recipient keeps only bars newer than the last it has.
        self._outboxes: dict[str, GroupCommit[_Batch, None]] = {}  # per strategy
        self._brokers: GroupCommit[_Batch, asyncio.Task[None]] = GroupCommit(self._to_brokers)
        self._order_manager: GroupCommit[tuple[_Batch, list[Message]], None] = GroupCommit(self._to_order_manager)

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
        batch = _Batch(instrument_id, good, packed(good))
        # The books and every strategy get the batch at once (the broker paces each strategy's book, and a
        # strategy's step waits at the broker for bars it already has): no hop before a strategy sees a bar.
        names = self.subscribers.get(instrument_id, [])
        await asyncio.gather(self._to_books(batch), *(self._outbox(name).submit(batch) for name in names))
        return len(good)

    def _outbox(self, strategy: str) -> GroupCommit[_Batch, None]:
        if strategy not in self._outboxes:
            self._outboxes[strategy] = GroupCommit(functools.partial(self._to_strategy, strategy))
        return self._outboxes[strategy]

    async def _to_books(self, batch: _Batch) -> None:
        """The brokers, then the order manager with what the brokers did on the batch. The brokers go on to the
        next batch meanwhile (a step the order manager is routing may wait at a broker for its bar)."""
        booked = await self._brokers.submit(batch)
        await booked

    async def _to_brokers(self, group: list[_Batch]) -> list[asyncio.Task[None]]:
        booked = []
        for batch in group:  # one by one: the order manager marks to each batch's last bar and checks the breakers
            iid, bars = batch.instrument_id, batch.wire
            answers = await asyncio.gather(*(self._to_broker(name, iid, bars) for name in self.broker_names))
            events: list[Message] = packed([event for answer in answers for event in answer])
            booked.append(asyncio.create_task(self._order_manager.submit((batch, events))))  # queued in order
        return booked

    async def _to_order_manager(self, group: list[tuple[_Batch, list[Message]]]) -> list[None]:
        oms = self._handles[self.order_manager]
        for batch, events in group:
            call = functools.partial(oms.on_bars.remote, batch.instrument_id, batch.wire, events)
            await call_with_retry(call, "order manager on_bars")
        return [None] * len(group)

    async def _to_broker(self, name: str, instrument_id: InstrumentId, bars: list[Bar]) -> list[Message]:
        call = functools.partial(self._handles[name].on_bars.remote, instrument_id, bars)
        events: list[Message] = await call_with_retry(call, "broker on_bars")
        return events

    async def _to_strategy(self, name: str, group: list[_Batch]) -> list[None]:
        await self._push(name, _joined(group))  # a strategy trades one instrument
        return [None] * len(group)

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
            # Each recipient still gets one call at a time, batches in order (`_outbox`).
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
        boxes: dict[str, GroupCommit[Any, Any]] = {
            **self._outboxes, "brokers": self._brokers, "order_manager": self._order_manager
        }
        deliveries = {
            name: {"calls": box.groups, "batches": box.requests, "waited": box.waited} for name, box in boxes.items()
        }
        return {**self.feed.status(), "resends": self.resends, "replaying": self.replaying, "deliveries": deliveries}

    # ---- for the gateway (issue 5)

    async def last_bars(self) -> dict[str, dict[str, Any]]:
        """The last accepted bar per instrument."""
        return {
            str(iid): {"ts": b.ts, "open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume}
            for iid, bars in self.history_bars.items()
            if bars
            for b in bars[-1:]
        }
