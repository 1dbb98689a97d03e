"""BrokerActor: one venue account. It hosts exactly one execution client (Alpaca, ccxt, IB, Degiro or the
paper venue) and never knows which kind: it writes orders (`execute`), answers reads, and pumps the venue's
execution reports to the order manager in arrival order.

The stream is the venue's: when it drops, the client reconnects (or the pump starts it again), and the order
manager is asked to reconcile this broker, since updates sent while it was down are lost. A restarted actor
connects again and the order manager reconciles on its next call. A paper venue journals its inputs (with a
database) and rebuilds from them, so a restart keeps the venue it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ray

from actors import ORDER_MANAGER
from actors.storage import ActorStorage, call_with_retry
from trading.brokers.protocol import ExecutionClient, ExecutionReport, ReconciliationReport
from trading.brokers.registry import config_from_settings, create_broker
from trading.brokers.settings import SettingsSource
from trading.data.bars import Bar
from trading.errors import BrokerError
from trading.execution.paper import PaperExecutionClient
from trading.live import BufferedJournal, InMemoryJournal
from trading.live.config import BrokerConfig
from trading.live.routing import VenueAnswer, write
from trading.messages import Message
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.sim.models import SimConfig
from trading.sim.sessions import NS_PER_MINUTE

log = logging.getLogger(__name__)
STREAM_RETRY_S = (0.5, 1.0, 2.0, 5.0)


@ray.remote
class BrokerActor:
    def __init__(
        self,
        namespace: str,
        broker: BrokerConfig,
        *,
        instruments: Sequence[Instrument] = (),
        sim: SimConfig | None = None,
        bar_interval_ns: int = NS_PER_MINUTE,
        database_url: str | None = None,
        stream: str = "",
        order_manager: str = ORDER_MANAGER,
    ) -> None:
        self.namespace = namespace
        self.config = broker
        self.name = broker.name
        self.instruments = list(instruments)
        self.sim = sim
        self.bar_interval_ns = bar_interval_ns
        self.stream = stream or f"paper:{broker.name}"
        self.order_manager = order_manager
        self.storage = ActorStorage(database_url, None, namespace)
        self.buffer: BufferedJournal | None = BufferedJournal() if database_url else None
        self.memory_journal = InMemoryJournal()
        self.client: ExecutionClient | None = None
        self.paper: PaperExecutionClient | None = None
        self.start_lock = asyncio.Lock()
        self.pump: asyncio.Task[None] | None = None
        self.delivering = 0
        self.delivered = asyncio.Condition()
        self.reports_delivered = 0
        self.stream_restarts = 0
        self.rebuilt_from = 0  # journaled inputs a restarted paper venue replayed
        self.started_at = time.time()
        self.caught_up = asyncio.Event()  # set once a restarted actor's venue is reconciled (at once on a first start)
        self.tasks: list[asyncio.Task[None]] = []
        self._oms: Any = None

    # ------------------------------------------------------------------------------------ start path
    async def _ready(self) -> ExecutionClient:
        if self.client is not None:
            return self.client
        async with self.start_lock:
            if self.client is not None:
                return self.client
            if self.config.kind == "paper":
                client: ExecutionClient = await self._paper()
            else:
                env = self.config.environment()
                settings = config_from_settings(self.config.kind, SettingsSource(env=env))
                client = create_broker(self.name, settings, kind=self.config.kind)  # type: ignore[assignment]
                await client.connect()
            self.client = client
            self.pump = asyncio.create_task(self._pump_reports())
            if ray.get_runtime_context().was_current_actor_reconstructed:
                self.tasks.append(asyncio.create_task(self._catch_up()))
            else:
                self.caught_up.set()
            return client

    async def _catch_up(self) -> None:
        """After a restart: reports the dead incarnation produced but never delivered are lost, so the order
        manager reconciles this venue before it matches another bar (`on_bar`, `settled` wait for it)."""
        try:
            oms = self._order_manager()
            await call_with_retry(lambda: oms.reconcile_broker.remote(self.name), "order manager reconcile")
        finally:
            self.caught_up.set()

    async def _paper(self) -> PaperExecutionClient:
        journal = self.buffer if self.buffer is not None else self.memory_journal
        paper = PaperExecutionClient(
            self.name,
            self.instruments,
            starting_cash=self.config.cash,
            currency=self.config.currency,
            sim=self.sim,
            bar_interval_ns=self.bar_interval_ns,
            journal=journal,
            stream=self.stream,
        )
        await self.storage.open()
        entries: Sequence[Any] = (
            await self.storage.read_stream(self.stream) if self.buffer is not None else self.memory_journal.entries
        )
        self.rebuilt_from = paper.rebuild(entries)
        self.paper = paper
        return paper

    async def _flush(self) -> None:
        if self.buffer is not None:
            await self.storage.write(self.buffer)

    # ------------------------------------------------------------------------------- the report pump
    async def _pump_reports(self) -> None:
        """Deliver the venue's reports to the order manager, in order, for as long as the actor lives."""
        assert self.client is not None
        attempt = 0
        while True:
            try:
                async for report in self.client.execution_reports():
                    attempt = 0
                    await self._deliver(report)
                raise ConnectionError("the execution report stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped stream: say so, reconnect, reconcile what was missed
                self.stream_restarts += 1
                log.warning("broker %s: execution reports stopped (%s); reconnecting", self.name, exc)
                await asyncio.sleep(STREAM_RETRY_S[min(attempt, len(STREAM_RETRY_S) - 1)])
                attempt += 1
                with contextlib.suppress(Exception):
                    await self._order_manager().reconcile_broker.remote(self.name)

    async def _deliver(self, report: ExecutionReport) -> None:
        self.delivering += 1
        try:
            oms = self._order_manager()
            await call_with_retry(lambda: oms.on_reports.remote(self.name, [report]), "order manager reports")
            self.reports_delivered += 1
        finally:
            self.delivering -= 1
            async with self.delivered:
                self.delivered.notify_all()

    async def settled(self) -> int:
        """Wait until every report the venue produced so far has reached the order manager (and, through it,
        the strategies). The replay clock calls this before handing out the next bar."""
        client = await self._ready()
        await self.caught_up.wait()
        queue = getattr(client, "reports", None)
        async with self.delivered:
            await self.delivered.wait_for(
                lambda: self.delivering == 0 and (queue is None or queue.empty())
            )
        return self.reports_delivered

    def _order_manager(self) -> Any:
        if self._oms is None:  # a handle stays valid across the other actor's restarts
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        return self._oms

    # ------------------------------------------------------------------------------------- order path
    async def execute(self, command: Message) -> VenueAnswer:
        """One order write (submit, cancel, replace) and what came of it; never resent blindly
        (`trading.live.routing.write`)."""
        client = await self._ready()
        answer = await write(client, command)
        await self._flush()
        return answer

    async def on_bar(self, instrument_id: InstrumentId, bar: Bar) -> None:
        """Paper venues: a new bar to match against (then `settled` tells when its reports are delivered)."""
        await self._ready()
        await self.caught_up.wait()
        if self.paper is None:
            return
        self.paper.on_bar(instrument_id, bar)
        await self._flush()

    # ------------------------------------------------------------------------------------------ reads
    async def reconcile(self, since_ns: int, ours_open: Sequence[ClientOrderId] = ()) -> ReconciliationReport:
        """What the venue says is true; orders we hold open that it no longer lists are looked up."""
        client = await self._ready()
        report = await client.reconcile(since_ns)
        listed = {r.client_order_id for r in report.open_orders}
        looked_up = []
        for cid in ours_open:
            if cid not in listed:
                found = await client.get_order(cid)
                if found is not None:
                    looked_up.append(found)
        return ReconciliationReport(
            report.open_orders, report.fills, report.positions, report.account, report.ts, looked_up
        )

    async def instrument(self, symbol: str) -> Instrument:
        return await (await self._ready()).instrument(symbol)

    async def account(self) -> Any:
        return await (await self._ready()).account()

    async def positions(self) -> Any:
        return await (await self._ready()).positions()

    async def open_orders(self) -> Any:
        return await (await self._ready()).open_orders()

    async def fills(self, since_ns: int = 0) -> Any:
        return await (await self._ready()).fills_since(since_ns)

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        return await (await self._ready()).history(instrument_id, start_ns, end_ns)

    async def venue_time_ns(self) -> int:
        return await (await self._ready()).venue_time_ns()

    async def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": self.name,
            "kind": self.config.kind,
            "live": self.config.live,
            "connected": self.client is not None,
            "reports_delivered": self.reports_delivered,
            "stream_restarts": self.stream_restarts,
            "rebuilt_from": self.rebuilt_from,
        }
        if self.client is not None:
            with contextlib.suppress(BrokerError):
                account = await self.client.account()
                status["account"] = {"cash": str(account.cash), "equity": str(account.equity),
                                     "currency": account.currency}
        return status

    async def equity(self) -> Decimal:
        return (await (await self._ready()).account()).equity
