"""BrokerActor: hosts one broker connection (the paper broker by default)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ray

from actors.packing import packed
from actors.storage import ActorStorage
from actors.tuning import tune_gc
from trading.brokers.paper import BrokerStep, PaperBroker, step_in_turn
from trading.brokers.protocol import AccountReport, PositionReport, ReconciliationReport
from trading.data.bars import Bar
from trading.live import BufferedJournal, Prediction
from trading.live.durable import RecordingBroker
from trading.messages import Message, SubmitOrder
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.sim.models import SimConfig

ACK_LOG_CAP = 100_000
BAR_WAIT_S = 30.0  # a step waits at most this long for a bar its owner already has

StepRequest = tuple[str, InstrumentId, list[Message], int, int | None, Prediction | None]


@ray.remote
class BrokerActor:
    """With a `database_url` every input that changes the paper broker is journaled (stream `stream`) before a
    call is answered, and a restarted actor rebuilds the broker from that journal: the same path as a start.
    Without one the broker lives in memory only (then it must not be restarted blank)."""

    def __init__(
        self,
        starting_cash: Decimal,
        currency: str = "USD",
        sim: SimConfig | None = None,
        name: str = "paper",
        *,
        database_url: str | None = None,
        stream: str | None = None,
    ) -> None:
        tune_gc()
        self.broker = PaperBroker.open(starting_cash, currency, sim, name=name)
        self.storage = ActorStorage(database_url, None)
        self.buffer = BufferedJournal()
        self.recorder = RecordingBroker(self.broker, self.buffer if database_url else None, stream or f"broker:{name}")
        self.lock = asyncio.Lock()
        self.ready = False
        self.rebuilt_from = 0
        self.steps = 0
        self.pending: Counter[ClientOrderId] = Counter()  # client order ids in steps between arriving and being matched
        self.acks: list[tuple[int, int]] = []
        self.bars_arrived = asyncio.Event()

    async def _ready(self) -> None:
        """Start path (also after a restart): rebuild the broker from its journal."""
        if self.ready:
            return
        await self.storage.open()
        entries = await self.storage.read_stream(self.recorder.stream)
        self.rebuilt_from = self.recorder.rebuild(entries)
        self.ready = True

    async def _flush(self) -> None:
        if self.buffer.pending:
            await self.storage.write(self.buffer)  # one transaction for all of them

    async def register(self, instrument: Instrument, bar_interval_ns: int | None = None) -> None:
        async with self.lock:
            await self._ready()
            self.recorder.register(instrument, bar_interval_ns)
            await self._flush()

    async def pace(self, owner: str) -> None:
        async with self.lock:
            await self._ready()
            self.recorder.pace(owner)
            await self._flush()

    async def on_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> list[Message]:
        async with self.lock:
            await self._ready()
            events = self.recorder.on_bars(instrument_id, bars)
            await self._flush()
        self.bars_arrived.set()  # wake steps waiting for these bars
        self.bars_arrived.clear()
        return packed(events)

    async def step_many(self, requests: list[StepRequest]) -> list[BrokerStep]:
        """Several owners' steps in one call (the order manager groups them): each is
        (owner, instrument, commands, done_ts, next_ts, prediction) — the owner finished bar `done_ts`, sent
        `commands` from it, and already holds the bar `next_ts` (None: no bar after `done_ts` yet). This broker
        waits to have those bars too before matching: market data reaches the broker and the strategies at the
        same time, and either may be first (commands from bar `done_ts` fill at its close in `close` timing).
        An answer other than the owner's `prediction` ends its turn (`step_in_turn`)."""
        async with self.lock:
            await self._ready()
        # Until matched, their orders are on their way to the venue: `reconcile` lists them as `pending`.
        orders = [c.order.client_order_id for request in requests for c in request[2] if isinstance(c, SubmitOrder)]
        self.pending.update(orders)
        try:
            for _, instrument_id, _, done, next_ts, _ in requests:
                await self._bars_through(instrument_id, next_ts if next_ts is not None else done)
            return await self._match(requests)
        finally:
            if orders:  # most steps send nothing
                self.pending.subtract(orders)
                self.pending = +self.pending  # drop the zeros

    async def _match(self, requests: list[StepRequest]) -> list[BrokerStep]:
        async with self.lock:
            await self._ready()
            calls = [(owner, iid, commands, done, prediction) for owner, iid, commands, done, _, prediction in requests]
            results = step_in_turn(self.recorder.step, calls)
            self.steps += sum(1 for result in results if result.sent)
            await self._flush()
            now = time.time_ns()
            for (_, _, commands, done, _, _), result in zip(requests, results, strict=True):
                if commands and result.sent and len(self.acks) < ACK_LOG_CAP:
                    self.acks.append((done, now))  # for the bar-to-order latency benchmark
            return packed(results)

    async def _bars_through(self, instrument_id: InstrumentId, ts: int) -> None:
        deadline = time.monotonic() + BAR_WAIT_S
        while True:
            last = self.broker.last_bar(instrument_id)
            if (last is not None and last.ts >= ts) or time.monotonic() > deadline:
                return  # past the deadline, step with what is here: the owner syncs again on its next bars
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.bars_arrived.wait(), timeout=0.5)

    async def order_acks(self) -> list[tuple[int, int]]:
        """(bar ts the commands came from, wall-clock ns the broker acknowledged them), oldest first."""
        return list(self.acks)

    async def reconcile(self, since_ns: int = 0) -> ReconciliationReport:
        """The venue's truth, with the orders of the steps waiting here for their bars as `pending`."""
        async with self.lock:
            await self._ready()
            report = await self.broker.reconcile(since_ns)
            return dataclasses.replace(report, pending=sorted(self.pending))

    async def submissions(self) -> list[str]:
        """Client order ids of every order the venue holds (each exactly once), for duplicate checks."""
        await self._ready()
        return [o.client_order_id for o in self.broker.all_orders()]

    async def fills(self) -> list[Fill]:
        return list(self.broker.fills)

    async def positions(self) -> list[PositionReport]:
        return await self.broker.positions()

    async def account(self) -> AccountReport:
        return await self.broker.account()

    async def status(self) -> dict[str, Any]:
        report = self.broker.account_report()
        return {
            "name": self.broker.name,
            "cash": str(report.cash),
            "equity": str(report.equity),
            "fills": len(self.broker.fills),
            "open_orders": len(self.broker.open_order_list()),
            "rebuilt_from": self.rebuilt_from,
            "steps": self.steps,
        }

    # ---- for the gateway (issue 5): a person's orders go to an unpaced book (matched as bars arrive)

    async def submit_many(self, orders: list[Any]) -> list[Message]:
        """Several orders in one call (the order manager groups a person's orders); their events, in order."""
        async with self.lock:
            await self._ready()
            events = [event for order in orders for event in self.recorder.submit(order)]
            await self._flush()
            return packed(events)

    async def cancel_manual(self, client_order_id: str) -> list[Message]:
        async with self.lock:
            await self._ready()
            events = self.recorder.cancel(client_order_id)  # type: ignore[arg-type]
            await self._flush()
            return events

    async def last_bar_ts(self) -> int | None:
        stamps = [bar.ts for bar in (self.broker.last_bar(i) for i in self.broker.ledger.instruments) if bar]
        return max(stamps, default=None)
