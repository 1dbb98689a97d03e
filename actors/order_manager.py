"""OrderManagerActor: the one hop between strategies (and people) and the venues. It hosts the `OrderManager`
(orders, fills, positions and P&L per strategy and per account) and the firm-wide pre-trade checks.

- **Order path** (`execute`): pre-trade risk, then the write-ahead record (journaled before any venue sees the
  order), then the write at the strategy's broker actor, then the venue's answer booked. The strategy gets the
  answers (denials, rejections, acceptances) back from the call; whatever the venue reports later comes through
  `on_reports` and is handed to its strategy (`on_events`), in arrival order, exactly once.
- **Restarts**: the start path rebuilds from the journal and reconciles every broker (the venue is the truth:
  missed fills booked, orders made by hand at the venue adopted and flagged, positions compared). Orders whose
  write went unanswered stay `submitted` and are looked up by every reconciliation, which also runs on a timer
  and whenever a broker's stream reconnects.
- **The kill switch acts**: `cancel_all` cancels every working order at every venue; `flatten` closes every
  position with market orders. Both are journaled like any order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ray

from actors import RISK, broker_name, strategy_name
from actors.storage import ActorStorage, EventPublisher, call_with_retry
from trading.brokers.protocol import ExecutionReport, OrderReport
from trading.data.bars import Bar
from trading.live import BufferedJournal, InMemoryJournal, OrderManager
from trading.live.durable import fill_row, order_row, position_row
from trading.live.oms import EXTERNAL
from trading.live.order_events import event_order_id
from trading.live.routing import VenueAnswer, book_answer, route_commands
from trading.messages import (
    CancelOrder,
    Message,
    OrderFilled,
    OrderRejected,
    PositionChanged,
    ReconciliationMismatch,
    SubmitOrder,
)
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType
from trading.risk.rules import BookPosition, RiskBook, RiskEngine, RiskGate
from trading.storage import FillRow, OrderRow, PositionRow

log = logging.getLogger(__name__)
MANUAL = StrategyId("manual")  # the owner of a person's orders through the gateway
FLATTEN = "flatten"
MISSING_LOOKUPS = 3
MISSING_AFTER_S = 120.0  # far beyond any client timeout: a write that hung at the venue has landed by then


@ray.remote
class OrderManagerActor:
    def __init__(
        self,
        namespace: str,
        brokers: Sequence[str],
        *,
        risk_name: str = RISK,
        database_url: str | None = None,
        redis_url: str | None = None,
        stream: str = "oms",
        instruments: Sequence[Instrument] = (),
        reconcile_every_s: float | None = None,
    ) -> None:
        self.namespace = namespace
        self.brokers = list(brokers)  # broker names (one venue account each); the first takes a person's orders
        self.risk_name = risk_name
        self.stream = stream
        self.storage = ActorStorage(database_url, redis_url, namespace)
        self.buffer: BufferedJournal | None = BufferedJournal() if database_url else None
        self.memory = InMemoryJournal()  # without a database: survives nothing but `start()`
        self.instruments = {i.id: i for i in instruments}
        self.oms = self._fresh()
        self.risk = RiskEngine()  # follows the risk actor's gate
        self.bar_ts: dict[InstrumentId, int] = {}
        self.base_equity = Decimal(0)
        self.lock = asyncio.Lock()
        self.start_lock = asyncio.Lock()
        self.started = False
        self.starts = 0
        self.rebuilt_from = 0
        self.reconciliations = 0
        self.reconcile_every_s = reconcile_every_s
        self.publisher: EventPublisher | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.flatten_seq = 0
        self.missing: dict[ClientOrderId, tuple[float, int]] = {}  # in doubt and not at the venue: (since, lookups)
        self.account_base: dict[str, Decimal] = {}  # each account's equity less its P&L at the start
        self._handles: dict[str, Any] = {}

    def _fresh(self) -> OrderManager:
        journal = self.buffer if self.buffer is not None else self.memory
        oms = OrderManager(journal, stream=self.stream, account_id=self.brokers[0])
        for instrument in self.instruments.values():
            oms.register(instrument)
        return oms

    def _actor(self, name: str) -> Any:
        if name not in self._handles:  # a handle stays valid across the other actor's restarts
            self._handles[name] = ray.get_actor(name, namespace=self.namespace)
        return self._handles[name]

    # -------------------------------------------------------------------------------------- start path
    async def _ready(self) -> None:
        if self.started:
            return
        async with self.start_lock:
            if self.started:
                return
            await self.storage.open()
            entries: Sequence[Any] = (
                await self.storage.read_stream(self.stream) if self.buffer is not None else list(self.memory.entries)
            )
            oms = self._fresh()
            oms.rebuild(entries)
            self.oms = oms
            self.rebuilt_from = len(entries)
            risk = self._actor(self.risk_name)
            self.risk.follow(await call_with_retry(risk.gate.remote, "risk gate"))
            self.started = True
            equity = Decimal(0)
            for broker in self.brokers:
                await self.reconcile_broker(broker)
                account = await call_with_retry(self._actor(broker_name(broker)).equity.remote, "broker equity")
                self.account_base[broker] = account - self.oms.account_pnl(broker).net
                equity += account
            self.base_equity = equity - self._net_pnl()
            self._notify_risk()
            self.starts += 1
            if self.reconcile_every_s is not None:
                self.tasks.append(asyncio.create_task(self._reconcile_forever(self.reconcile_every_s)))
            if ray.get_runtime_context().was_current_actor_reconstructed:
                self.tasks.append(asyncio.create_task(self._resync_strategies()))

    async def _resync_strategies(self) -> None:
        """After a restart: events the dead incarnation booked but never handed out are in the journal, not at
        their strategies, so each strategy rebuilds its host from the record (the strategies' restart path)."""
        for strategy_id in self.oms.strategy_ids():
            try:
                strategy = self._actor(strategy_name(strategy_id))
            except ValueError:
                continue  # not a running strategy
            with contextlib.suppress(ray.exceptions.RayActorError):
                await strategy.rebuild.remote()

    async def start(self) -> dict[str, Any]:
        await self._ready()
        return self.oms.snapshot()

    async def register(self, instrument: Instrument) -> None:
        self.instruments[instrument.id] = instrument
        self.oms.register(instrument)

    async def _reconcile_forever(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            for broker in self.brokers:
                try:
                    await self.reconcile_broker(broker)
                except Exception:  # the venue is down: try again next time, trading goes on
                    log.exception("reconciling %s failed", broker)

    async def reconcile_broker(self, broker: str) -> list[dict[str, Any]]:
        """Make `broker`'s venue the truth now; returns the corrections (also journaled and published)."""
        await self._ready()
        actor = self._actor(broker_name(broker))
        ours = [o.client_order_id for o in self.oms.open_orders() if (o.broker or self.brokers[0]) == broker]
        report = await call_with_retry(lambda: actor.reconcile.remote(0, ours), "broker reconcile")
        async with self.lock:
            booked = self.oms.reconcile(report, broker, self._after_ts(None))
            booked += self._give_up_on_missing(broker, {r.client_order_id for r in report.looked_up}
                                               | {r.client_order_id for r in report.open_orders})
            await self._persist(booked)
        self.reconciliations += 1
        await self._hand_out([e for e in booked if not isinstance(e, ReconciliationMismatch)])
        await self._cancel_orphans(broker, report.open_orders)
        return [e.to_dict() for e in booked if isinstance(e, ReconciliationMismatch)]

    async def _cancel_orphans(self, broker: str, venue_open: Sequence[OrderReport]) -> None:
        """An order working at the venue that our book holds closed (closed as never having reached the venue,
        or by an earlier reconciliation) would trade with nobody watching it: cancel it there. Its fills, if any
        came first, are booked all the same."""
        for report in venue_open:
            order = self.oms.orders.get(report.client_order_id)
            if order is not None and order.is_closed:
                log.warning("%s: %s works at the venue but is %s here; canceling it there", broker,
                            order.client_order_id, order.status.value)
                command = CancelOrder(order.client_order_id, order.strategy_id, self._after_ts(order.instrument_id))
                await self._write(command, broker, self._after_ts(order.instrument_id))

    # -------------------------------------------------------------------------------------- order path
    async def execute(
        self, strategy_id: StrategyId, commands: list[Message], broker: str, bar_ts: int
    ) -> list[Message]:
        """A strategy's commands from its bar `bar_ts`: risk, journal, venue, booked. Returns the events for the
        strategy (resending the same commands after a restart is safe: ids are checked against the record)."""
        await self._ready()
        if broker not in self.brokers:
            raise ValueError(f"unknown broker {broker!r}; this runtime has {self.brokers}")
        async with self.lock:
            routed = route_commands(commands, self.risk, self.oms, broker, bar_ts)
            await self._persist(routed.answers)  # write-ahead: durable before any venue sees the orders
        answers = list(routed.answers)
        for command in routed.to_venue:
            answers += await self._write(command, broker, bar_ts)
        return answers

    async def _write(self, command: Message, broker: str, after_ts: int) -> list[Message]:
        actor = self._actor(broker_name(broker))
        # A broker that dies mid-write is asked again once it is back: the write is idempotent by client order id
        # (a venue that already has the order answers with it: `trading.live.routing.write` looks a refused
        # resend up), so the order is neither lost nor placed twice.
        answer: VenueAnswer = await call_with_retry(functools.partial(actor.execute.remote, command), "broker write")
        async with self.lock:
            booked = book_answer(self.oms, command, answer, broker, after_ts)
            await self._persist(booked)
        return booked

    def _give_up_on_missing(self, broker: str, at_venue: set[ClientOrderId]) -> list[Message]:
        """An order whose write went unanswered stays `submitted` while the venue may still get it. Once the
        venue has said it does not know the order in `MISSING_LOOKUPS` reconciliations over at least
        `MISSING_AFTER_S`, it is closed as never having reached the venue (should the venue report it after all,
        its fills are still booked)."""
        booked: list[Message] = []
        now = time.monotonic()
        for order in self.oms.in_doubt(broker):
            cid = order.client_order_id
            if cid in at_venue:
                self.missing.pop(cid, None)
                continue
            first, misses = self.missing.get(cid, (now, 0))
            self.missing[cid] = (first, misses + 1)
            if misses + 1 >= MISSING_LOOKUPS and now - first >= MISSING_AFTER_S:
                del self.missing[cid]
                lookups = misses + 1
                reason = f"NOT_AT_VENUE: {broker} did not know this order in {lookups} lookups over {now - first:.0f}s"
                rejected = OrderRejected(cid, order.strategy_id, order.instrument_id, self._after_ts(None), reason)
                booked += [rejected, *self.oms.apply([rejected], self._after_ts(order.instrument_id))]
        return booked

    async def on_reports(self, broker: str, reports: list[ExecutionReport]) -> int:
        """Reports from `broker`'s venue stream, in order: booked, then handed to their strategies."""
        await self._ready()
        async with self.lock:
            booked: list[Message] = []
            for report in reports:
                booked += self.oms.on_report(report, broker, self._after_ts(report.order.instrument_id))
            await self._persist(booked)
        await self._hand_out(booked)
        return len(booked)

    async def _hand_out(self, events: list[Message]) -> None:
        """Give each strategy its new events (outside the lock: a strategy busy sending orders waits for its
        own answer first, and its answer needs this actor)."""
        by_owner: dict[StrategyId, list[Message]] = {}
        for event in events:
            owner = self._owner(event)
            if owner is not None and owner not in (MANUAL, EXTERNAL):
                by_owner.setdefault(owner, []).append(event)
        for owner, mine in by_owner.items():
            try:
                strategy = self._actor(strategy_name(owner))
            except ValueError:
                continue  # not a running strategy (stopped, or a flatten of a removed one)
            await call_with_retry(functools.partial(strategy.on_events.remote, mine), f"strategy {owner} events")

    def _owner(self, event: Message) -> StrategyId | None:
        if isinstance(event, OrderFilled):
            return event.fill.strategy_id
        cid = event_order_id(event)
        order = self.oms.orders.get(cid) if cid is not None else None
        return order.strategy_id if order is not None else None

    def _after_ts(self, instrument_id: InstrumentId | None) -> int:
        """The last bar the strategies of the instrument stepped: a restarted strategy replays an event there."""
        if instrument_id is None:
            return max(self.bar_ts.values(), default=0)
        return self.bar_ts.get(instrument_id, 0)

    async def on_bar(self, instrument_id: InstrumentId, bar: Bar) -> None:
        """The bar the strategies are about to step: marks, and the firm's equity for the circuit breakers."""
        await self._ready()
        self.bar_ts[instrument_id] = bar.ts
        self.oms.on_bar(instrument_id, bar)
        if self.storage.cache is not None:
            with contextlib.suppress(Exception):
                await self.storage.cache.set_last_bar(str(instrument_id), bar.to_dict())
        limits = self.risk.limits
        if limits.daily_loss_limit is not None or limits.max_drawdown_pct is not None:
            equity = self.base_equity + self._net_pnl()
            risk = self._actor(self.risk_name)
            gate = await call_with_retry(lambda: risk.on_equity.remote(equity, bar.ts), "risk equity")
            if gate is not None:
                self.risk.follow(gate)

    # ------------------------------------------------------------------------------------ risk actions
    async def follow_risk(self, gate: RiskGate) -> None:
        """The risk actor's new limits or state, in force for the next order."""
        self.risk.follow(gate)

    async def risk_gate(self) -> RiskGate | None:
        return self.risk.gate() if self.started else None

    async def cancel_all(self, reason: str) -> list[str]:
        """Cancel every working order at every venue (the kill switch). Returns the orders asked to cancel."""
        await self._ready()
        await self._journal_action("cancel_all", reason)
        canceled: list[str] = []
        for order in self.oms.open_orders():
            command = CancelOrder(order.client_order_id, order.strategy_id, self._after_ts(order.instrument_id))
            await self._write(command, order.broker or self.brokers[0], self._after_ts(order.instrument_id))
            canceled.append(order.client_order_id)
        log.warning("kill switch: canceled %d working orders (%s)", len(canceled), reason)
        return canceled

    async def flatten(self, reason: str) -> list[str]:
        """Close every position with market orders: each strategy's in its name (people's orders are the
        `manual` strategy's, orders made at the venue the `external` one's), then whatever no strategy owns in an
        account (a position the venue corrected in reconciliation). Journaled like any order; no pre-trade check
        stops it (it only ever reduces). Returns the client order ids sent."""
        await self._ready()
        await self._journal_action("flatten", reason)
        owned: dict[tuple[str, InstrumentId], Decimal] = {}
        closing: list[tuple[StrategyId, InstrumentId, Decimal, str]] = []
        for (strategy_id, broker, instrument_id), quantity in self.oms.holdings().items():
            owned[(broker, instrument_id)] = owned.get((broker, instrument_id), Decimal(0)) + quantity
            closing.append((strategy_id, instrument_id, quantity, broker))
        for account, instrument_id in list(self.oms.account_positions):
            left = self.oms.account_position(instrument_id, account) - owned.get((account, instrument_id), Decimal(0))
            if left != 0:
                closing.append((StrategyId(FLATTEN), instrument_id, left, account))
        return [await self._flatten_one(sid, iid, quantity, broker, reason) for sid, iid, quantity, broker in closing]

    async def _journal_action(self, action: str, reason: str) -> None:
        """Record a risk action (kill-switch cancels, flatten) in the journal beside the orders it makes."""
        async with self.lock:
            journal = self.buffer if self.buffer is not None else self.memory
            journal.append(self.stream, "RiskAction", {"action": action, "reason": reason, "at": time.time()})
            await self._persist([])

    async def _flatten_one(
        self, strategy_id: StrategyId, instrument_id: InstrumentId, quantity: Decimal, broker: str, reason: str
    ) -> str:
        self.flatten_seq += 1
        cid = ClientOrderId(f"{FLATTEN}-{strategy_id}-{int(time.time())}-{self.flatten_seq}"[:36])
        order = Order(
            client_order_id=cid,
            strategy_id=strategy_id,
            instrument_id=instrument_id,
            side=OrderSide.SELL if quantity > 0 else OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=abs(quantity),
            broker=broker,
            ts_init=self._after_ts(instrument_id),
            tags={"reason": f"flatten: {reason}"},
        )
        after_ts = self._after_ts(instrument_id)
        async with self.lock:
            submitted = self.oms.submit(order, after_ts)
            await self._persist([submitted])
        await self._write(SubmitOrder(order, after_ts), broker, after_ts)
        return cid

    # ----------------------------------------------------------------------------------- a person's orders
    async def submit_manual_many(self, orders: list[Order]) -> list[dict[str, Any] | BaseException]:
        """People's orders (the gateway), idempotent by client order id: each answer is {"order", "created"} or
        the error that order alone met."""
        await self._ready()
        answers: list[dict[str, Any] | BaseException] = []
        for order in orders:
            broker = order.broker or self.brokers[0]
            if broker not in self.brokers:
                answers.append(ValueError(f"unknown broker {broker!r}; this runtime has {self.brokers}"))
                continue
            order.broker = broker
            created = order.client_order_id not in self.oms.orders
            try:
                await self.execute(order.strategy_id, [SubmitOrder(order, order.ts_init)], broker, order.ts_init)
            except Exception as exc:  # a failure of this order only
                answers.append(exc)
                continue
            answers.append({"order": self.oms.orders[order.client_order_id].to_dict(), "created": created})
        return answers

    async def submit_manual(self, order: Order) -> dict[str, Any]:
        (answer,) = await self.submit_manual_many([order])
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def cancel_manual(self, client_order_id: str, owner: str) -> dict[str, Any] | None:
        """Cancel an order `owner` placed (a strategy's orders are its own to cancel). {"order", "refused"}."""
        await self._ready()
        order = self.oms.orders.get(ClientOrderId(client_order_id))
        if order is None:
            return None
        if order.strategy_id != owner:
            return {"order": order.to_dict(), "refused": f"order belongs to strategy {order.strategy_id!r}"}
        if not order.is_open:
            return {"order": order.to_dict(), "refused": f"order is already {order.status.value}"}
        command = CancelOrder(order.client_order_id, order.strategy_id, order.ts_init)
        await self._write(command, order.broker or self.brokers[0], self._after_ts(order.instrument_id))
        return {"order": order.to_dict(), "refused": None}

    # ----------------------------------------------------------------------------------------- durability
    async def _persist(self, events: Sequence[Message]) -> None:
        """The journal's new entries and the rows the events changed, in one transaction; then the events go
        to Redis for the gateway's live stream (in the background: an answer never waits for it)."""
        storage = self.storage
        if self.buffer is not None and storage.journal is not None:
            orders: list[OrderRow] = []
            fills: list[FillRow] = []
            positions: list[PositionRow] = []
            oms = self.oms
            for cid in dict.fromkeys(event_order_id(e) for e in events):
                order = oms.orders.get(cid) if cid is not None else None
                if order is not None:
                    orders.append(order_row(order, self.stream))
            for event in events:
                if isinstance(event, OrderFilled):
                    instrument = self.instruments.get(event.fill.instrument_id)
                    currency = instrument.currency if instrument is not None else event.fill.currency
                    fills.append(fill_row(event.fill, currency, self.stream))
            moved = dict.fromkeys((e.account_id, e.instrument_id) for e in events if isinstance(e, PositionChanged))
            for account_id, instrument_id in moved:
                position = oms.account_positions.get((account_id, instrument_id))
                if position is not None:
                    positions.append(position_row(account_id, position, self.stream))
            await storage.write(self.buffer, orders, fills, positions)
        if events and storage.cache is not None:
            if self.publisher is None:
                self.publisher = EventPublisher(storage.cache, "events", self.stream)
            self.publisher.publish(events)
        if any(isinstance(e, PositionChanged) for e in events):
            self._notify_risk()

    # ------------------------------------------------------------------------------- for the risk actor
    def risk_book(self) -> RiskBook:
        """The book as the risk actor values it: positions per account and strategy, marks, account equity."""
        oms = self.oms
        return RiskBook(
            taken_ns=time.time_ns(),
            ts=self._after_ts(None),
            accounts=tuple(BookPosition(a, str(i), p.quantity, p.multiplier)
                           for (a, i), p in oms.account_positions.items() if p.quantity != 0),
            strategies=tuple(BookPosition(s, str(i), p.quantity, p.multiplier)
                             for (s, i), p in oms.strategy_positions.items() if p.quantity != 0),
            marks={str(i): m for i, m in oms.marks.items()},
            equity={b: self.account_base.get(b, Decimal(0)) + oms.account_pnl(b).net for b in self.brokers},
        )

    async def book(self) -> RiskBook:
        """`risk_book` for the risk actor's timer (market moves)."""
        await self._ready()
        return self.risk_book()

    def _notify_risk(self) -> None:
        """Tell the risk actor the positions changed: the book, sent without waiting (off the order path)."""
        with contextlib.suppress(ValueError):  # not created yet: it asks for the book on its own start path
            self._actor(self.risk_name).on_book.remote(self.risk_book())

    def _net_pnl(self) -> Decimal:
        return sum((self.oms.account_pnl(broker).net for broker in self.brokers), Decimal(0))

    # ----------------------------------------------------------------------------------------------- reads
    async def history(self, strategy_id: StrategyId) -> tuple[list[tuple[int, Message]], int]:
        """What a restarted strategy replays: (after_ts, event) pairs, and its highest order sequence."""
        await self._ready()
        return self.oms.history(strategy_id), self.oms.last_order_seq(strategy_id)

    async def snapshot(self) -> dict[str, Any]:
        await self._ready()
        return {
            **self.oms.snapshot(),
            "starts": self.starts,
            "rebuilt_from": self.rebuilt_from,
            "reconciliations": self.reconciliations,
            "in_doubt": sorted(o.client_order_id for o in self.oms.in_doubt()),
            "live_events_dropped": self.publisher.dropped if self.publisher is not None else 0,
            "risk": self.risk.gate().to_dict(),
        }

    async def list_orders(
        self, status: str | None = None, strategy_id: str | None = None, instrument_id: str | None = None,
        limit: int = 500, broker: str | None = None,
    ) -> list[dict[str, Any]]:
        """Orders, oldest first (the last `limit`); `status` may also be "open" or "closed"."""
        await self._ready()
        rows = []
        for order in self.oms.orders.values():
            if (status == "open" and not order.is_open) or (status == "closed" and not order.is_closed):
                continue
            if status not in (None, "open", "closed") and order.status.value != status:
                continue
            if strategy_id is not None and order.strategy_id != strategy_id:
                continue
            if instrument_id is not None and str(order.instrument_id) != instrument_id:
                continue
            if broker is not None and (order.broker or self.brokers[0]) != broker:
                continue
            rows.append(order)
        return [o.to_dict() for o in rows[-limit:]] if limit > 0 else []

    async def get_order(self, client_order_id: str) -> dict[str, Any] | None:
        await self._ready()
        order = self.oms.orders.get(ClientOrderId(client_order_id))
        return None if order is None else order.to_dict()

    async def list_fills(
        self, since_seq: int = 0, strategy_id: str | None = None, limit: int = 500, broker: str | None = None
    ) -> list[dict[str, Any]]:
        """Fills with their sequence number (position in the fill log), from `since_seq` on."""
        await self._ready()
        rows = []
        for seq, event in enumerate(self.oms.fills[since_seq:], start=since_seq):
            fill = event.fill
            order = self.oms.orders.get(fill.client_order_id)
            where = (order.broker if order is not None and order.broker else self.brokers[0])
            if strategy_id is not None and fill.strategy_id != strategy_id:
                continue
            if broker is not None and where != broker:
                continue
            rows.append({"seq": seq, "broker": where, **fill.to_dict()})
        return rows[:limit]

    async def positions_view(self, broker: str | None = None) -> dict[str, Any]:
        """Positions per account and per strategy, P&L, marks; only `broker`'s if named (its account P&L as
        `pnl`). A strategy position's `broker` is where its fills were; null if at several (a person's orders at
        more than one broker): such a position is listed under each of them."""
        await self._ready()
        oms = self.oms
        where: dict[tuple[str, InstrumentId], set[str]] = {}
        for event in oms.fills:
            fill = event.fill
            order = oms.orders.get(fill.client_order_id)
            at = order.broker if order is not None and order.broker else self.brokers[0]
            where.setdefault((fill.strategy_id, fill.instrument_id), set()).add(at)
        strategy_rows = []
        for (s, i), p in oms.strategy_positions.items():
            brokers = where.get((s, i), set())
            if p.quantity != 0 and broker in (None, *brokers):
                strategy_rows.append({"strategy_id": s, "broker": next(iter(brokers)) if len(brokers) == 1 else None,
                                      **p.to_dict()})
        strategies = sorted({s for (s, _) in oms.strategy_positions
                             if broker is None or any(broker in b for (t, _), b in where.items() if t == s)})
        return {
            "positions": [
                {"account_id": a, **p.to_dict()} for (a, _), p in oms.account_positions.items()
                if p.quantity != 0 and broker in (None, a)
            ],
            "strategy_positions": strategy_rows,
            "pnl": (oms.account_pnl() if broker is None else oms.account_pnl(broker)).to_dict(),
            "account_pnl": {b: oms.account_pnl(b).to_dict() for b in self.brokers if broker in (None, b)},
            "strategy_pnl": {s: oms.strategy_pnl(s).to_dict() for s in strategies},
            "marks": {str(i): str(m) for i, m in oms.marks.items()},
        }

    async def metrics_view(self) -> dict[str, Any]:
        """What /metrics exports from the book: orders by status and broker, denials by reason code, P&L and
        gross exposure per strategy, the account's P&L, fills."""
        await self._ready()
        by_broker: dict[tuple[str, str], int] = {}
        denials: dict[str, int] = {}
        for order in self.oms.orders.values():
            where = (order.status.value, order.broker or self.brokers[0])
            by_broker[where] = by_broker.get(where, 0) + 1
            if order.status is OrderStatus.DENIED:
                code = order.reason.partition(":")[0] or "unknown"
                denials[code] = denials.get(code, 0) + 1
        strategies = sorted({s for (s, _) in self.oms.strategy_positions})
        return {
            "orders_by_broker": [[status, broker, n] for (status, broker), n in sorted(by_broker.items())],
            "denials_by_reason": denials,
            "strategy_pnl": {s: self.oms.strategy_pnl(s).to_dict() for s in strategies},
            "strategy_exposure": {s: str(self.oms.strategy_exposure(s)) for s in strategies},
            "account_pnl": self.oms.account_pnl().to_dict(),
            "fills": len(self.oms.fills),
        }

    async def journal_size(self) -> int:
        if self.storage.journal is not None:
            return len(await self.storage.read_stream(self.stream))
        return len(self.memory.entries)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.publisher is not None:
            await self.publisher.drained()
