"""OrderManagerActor: hosts the `OrderManager` and the pre-trade risk checks; the one hop between a strategy
and its broker.

Order path: a strategy's step (its commands from one bar) is checked against the firm's risk gate here (the
pure `RiskEngine` rules, following the limits and state the risk actor hands over), recorded, and sent to the
broker. Steps from different strategies that arrive while the broker is busy are routed together in one broker
call (a group commit): with many strategies the broker and the journal see one call per group, not per order.

Start path (also the restart path, run lazily by the first call): rebuild from the journal, then reconcile with
the broker. With a `database_url` the journal is the PostgreSQL event journal (stream `stream`): the manager
appends to a `BufferedJournal`, and the actor writes it before an order goes to the broker and before it
answers, so nothing acknowledged is lost; the order, fill and position rows go in the same transaction (one
commit per group of orders), events are published to Redis and the last bar of each batch is cached there.
Calls to the broker and risk actors are resent while they restart (both are idempotent); events booked by
reconciliation are handed to their strategy with its next answer. Once per market-data batch the firm's equity
goes to the risk actor, which runs the circuit breakers. Orders that waited at a broker for their bars when this
actor started (sent by its previous incarnation, whose call died with it) are settled from the broker's report
once the broker has matched them (`_settle_in_doubt`): their answer never comes, and their strategy may have
died too, so no resend would bring it either.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ray

from actors.batching import GroupCommit
from actors.packing import packed
from actors.storage import ActorStorage, EventPublisher, call_with_retry
from actors.tuning import tune_gc
from trading.brokers.paper import BrokerStep
from trading.data.bars import Bar
from trading.live import (
    BufferedJournal,
    InMemoryJournal,
    OrderManager,
    Prediction,
    RoutedCommands,
    close_unsent,
    route_steps,
)
from trading.live.durable import fill_row, order_row, position_row
from trading.live.order_events import event_order_id
from trading.live.strategy_host import NEVER, HostStep
from trading.messages import Message, OrderFilled, PositionChanged, ReconciliationMismatch, SubmitOrder
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import Instrument
from trading.model.orders import OrderStatus
from trading.risk.rules import RiskEngine, RiskGate
from trading.storage import FillRow, OrderRow, PositionRow

Answer = tuple[list[Message], list[Message], int]  # (answers to the commands, broker events, fill horizon)
BREAKERS_WAIT_S = 5.0  # a strategy step waits at most this long for the breakers to see its bar


@dataclass
class _Route:
    """One strategy's steps (in bar order) waiting for their turn at the broker."""

    strategy_id: StrategyId
    instrument_id: InstrumentId
    steps: list[HostStep]
    broker: str
    predictions: Sequence[Prediction | None]  # the answer the strategy stepped on, per step (None: it waits)


@ray.remote
class OrderManagerActor:
    def __init__(
        self,
        namespace: str,
        risk_name: str,
        broker_name: str,
        *,
        brokers: dict[str, str] | None = None,
        database_url: str | None = None,
        redis_url: str | None = None,
        stream: str = "oms",
        instruments: Sequence[Instrument] = (),
    ) -> None:
        tune_gc()
        self.namespace = namespace
        self.risk_name = risk_name
        self.broker_name = broker_name  # the default broker's actor (a person's orders go there)
        self.brokers = brokers or {"paper": broker_name}  # broker (account) -> its actor
        self.stream = stream
        self.storage = ActorStorage(database_url, redis_url, namespace)
        self.publisher: EventPublisher | None = None
        self.buffer: BufferedJournal | None = BufferedJournal() if database_url else None
        self.journal = InMemoryJournal()  # the in-memory journal (no database): survives start(), not a restart
        self.instruments: dict[InstrumentId, Instrument] = {i.id: i for i in instruments}
        self.oms = self._fresh()
        self.risk = RiskEngine()  # follows the risk actor's gate; the order-rate window is counted here
        self.base_equity = Decimal(0)  # the account's equity without this run's P&L (for the circuit breakers)
        self.marked_ts: dict[InstrumentId, int] = {}
        # The last bar per instrument whose equity the circuit breakers have seen (`on_bars`), and a wake-up
        # for the strategy steps that wait for it (`_breakers_through`).
        self.breakers_ts: dict[InstrumentId, int] = {}
        self.breakers_moved = asyncio.Event()
        self.lock = asyncio.Lock()
        self.start_lock = asyncio.Lock()
        self.started = False
        self.starts = 0
        self.rebuilt_from = 0
        self.outbox: dict[str, list[Message]] = {}  # booked by reconciliation, not yet handed to the strategy
        self.in_doubt: dict[ClientOrderId, str] = {}  # waiting at a broker (its account) when this actor started
        self.routes = GroupCommit(self._route_group)
        self.routed_steps = 0  # strategy steps received; `routes.requests` counts the calls that carried them
        self.breakers_waits_timed_out = 0
        self.manual = GroupCommit(self._submit_group)
        self._handles: dict[str, Any] = {}

    def _fresh(self) -> OrderManager:
        oms = OrderManager(self.buffer if self.buffer is not None else self.journal, stream=self.stream)
        for instrument in self.instruments.values():
            oms.register(instrument)
        return oms

    def _actor(self, name: str) -> Any:
        # A handle stays valid across the other actor's restarts: look each name up once.
        if name not in self._handles:
            self._handles[name] = ray.get_actor(name, namespace=self.namespace)
        return self._handles[name]

    # ------------------------------------------------------------------------------------ start path
    async def _ready(self) -> None:
        if self.started:
            return
        async with self.start_lock:
            if self.started:
                return
            await self.storage.open()
            oms = self._fresh()
            if self.buffer is not None:
                entries: Sequence[Any] = await self.storage.read_stream(self.stream)
            else:
                entries = list(self.journal.entries)
            oms.rebuild(entries)
            self.oms = oms
            risk = self._actor(self.risk_name)
            self.risk.follow(await call_with_retry(risk.gate.remote, "risk gate"))
            equity = Decimal(0)
            for account, name in self.brokers.items():
                broker = self._actor(name)
                report = await call_with_retry(functools.partial(broker.reconcile.remote, 0), "broker reconcile")
                await self._reconciled(oms.reconcile(report, in_flight_ok=True, account_id=account))
                for cid in report.pending:
                    if cid in oms.orders and oms.orders[cid].status is OrderStatus.SUBMITTED:
                        self.in_doubt[cid] = account
                equity += report.account.equity
            self.base_equity = equity - self._net_pnl()
            self.rebuilt_from = len(entries)
            self.starts += 1
            self.started = True

    async def _reconciled(self, corrections: list[Message]) -> None:
        """Queue corrections for their strategies and make them durable."""
        for event in corrections:
            if isinstance(event, ReconciliationMismatch):
                continue
            cid = event_order_id(event)
            order = self.oms.orders.get(cid) if cid is not None else None
            owner = event.fill.strategy_id if isinstance(event, OrderFilled) else order and order.strategy_id
            if owner:
                self.outbox.setdefault(owner, []).append(event)
        await self._persist(corrections)

    async def start(self) -> dict[str, Any]:
        await self._ready()
        return self.oms.snapshot()

    def _net_pnl(self) -> Decimal:
        """This run's net P&L over every broker account."""
        return sum((self.oms.account_pnl(account).net for account in self.brokers), Decimal(0))

    async def risk_gate(self) -> RiskGate | None:
        """The gate in force (None before the start path ran): a risk actor restarted without Redis resumes it."""
        return self.risk.gate() if self.started else None

    async def follow_risk(self, gate: RiskGate) -> None:
        """The risk actor's new limits or state, in force for the next order."""
        self.risk.follow(gate)

    async def register(self, instrument: Instrument) -> None:
        self.instruments[instrument.id] = instrument
        self.oms.register(instrument)

    # ------------------------------------------------------------------------------------ durability
    async def _persist(self, events: Sequence[Message]) -> None:
        """Write the journal's new entries and the rows the events touched, in one transaction, then publish
        the events. The journal is the record; the rows are views of the OMS's current state (each row once,
        with its latest state). The events go to Redis in order, in the background (`EventPublisher`)."""
        storage = self.storage
        if self.buffer is not None and storage.journal is not None:
            orders: list[OrderRow] = []
            fills: list[FillRow] = []
            positions: list[PositionRow] = []
            if events:
                oms = self.oms
                ids = dict.fromkeys(event_order_id(e) for e in events)
                orders = [order_row(o, self.stream) for o in (oms.orders.get(cid) for cid in ids if cid) if o]
                for event in events:
                    if isinstance(event, OrderFilled):
                        instrument = self.instruments.get(event.fill.instrument_id)
                        currency = instrument.currency if instrument is not None else "USD"
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
            self.publisher.publish(events)  # in order, without holding up the answer

    # ------------------------------------------------------------------------------------ order path
    def _mark(self, instrument_id: InstrumentId, bar: Bar) -> None:
        """Marks only move forward: strategies report bars of one batch in any order."""
        if bar.ts > self.marked_ts.get(instrument_id, -(2**62)):
            self.marked_ts[instrument_id] = bar.ts
            self.oms.on_bar(instrument_id, bar)

    async def on_bars(self, instrument_id: InstrumentId, bars: list[Bar], events: list[Message]) -> None:
        """A market-data batch reached the broker: mark to its last bar, book what the broker's unpaced books
        did on it, and give the risk actor the equity for its circuit breakers."""
        await self._ready()
        if bars:
            self._mark(instrument_id, bars[-1])
            if self.storage.cache is not None:
                await self.storage.cache.set_last_bar(str(instrument_id), bars[-1].to_dict())
        if events:
            async with self.lock:
                derived = self.oms.apply(events)
                await self._persist([*events, *derived])
        if bars and self.in_doubt:
            await self._settle_in_doubt()
        limits = self.risk.limits
        if bars and (limits.daily_loss_limit is not None or limits.max_drawdown_pct is not None):
            equity = self.base_equity + self._net_pnl()
            risk = self._actor(self.risk_name)
            gate = await call_with_retry(lambda: risk.on_equity.remote(equity, bars[-1].ts), "risk equity")
            if gate is not None:
                self.risk.follow(gate)
        if bars:
            self.breakers_ts[instrument_id] = max(self.breakers_ts.get(instrument_id, bars[-1].ts), bars[-1].ts)
            self.breakers_moved.set()  # wake the steps waiting for these bars
            self.breakers_moved.clear()

    async def _settle_in_doubt(self) -> None:
        """Book what the venue did with the orders in doubt that their broker has matched since (it no longer
        lists them as pending). Checked after each market-data batch until none is left: the broker matches a
        step once it has the step's bars. One the venue does not have stays open, as after the start path: a
        broker that restarted meanwhile lost the step, and its strategy, if alive, resends it."""
        async with self.lock:
            oms = self.oms
            for cid in [cid for cid in self.in_doubt if oms.orders[cid].status is not OrderStatus.SUBMITTED]:
                del self.in_doubt[cid]  # answered meanwhile: its strategy resent the step
            for account in set(self.in_doubt.values()):
                broker = self._actor(self.brokers[account])
                report = await call_with_retry(functools.partial(broker.reconcile.remote, 0), "broker reconcile")
                matched = {cid for cid, where in self.in_doubt.items() if where == account} - set(report.pending)
                if matched:
                    await self._reconciled(oms.reconcile(report, in_flight_ok=True, account_id=account))
                    for cid in matched:
                        del self.in_doubt[cid]

    async def route_many(
        self,
        strategy_id: StrategyId,
        instrument_id: InstrumentId,
        steps: list[HostStep],
        broker: str | None = None,
        predictions: Sequence[Prediction | None] | None = None,
    ) -> list[Answer]:
        """Risk-check and record a strategy's steps in bar order, step its broker (default: the runtime's first)
        with them, and answer (answers, events, horizon) per step. `predictions`: the broker answer the strategy
        stepped on at each step. The answer ends early after the first step with a denial, or with a broker
        answer other than its prediction (the strategy stepped past it; it is rebuilt from the record): the
        steps after it never reach the broker, and their orders are closed `NOT_SENT`. Resending the same steps
        (after this actor or the broker restarted) is safe."""
        predicted = list(predictions) if predictions is not None else [None] * len(steps)
        if len(predicted) != len(steps):
            raise ValueError(f"{len(steps)} steps but {len(predicted)} predictions")
        if steps:
            await self._breakers_through(instrument_id, max(step.needs_sync_after_ts or 0 for step in steps))
        return packed(await self._route_steps(strategy_id, instrument_id, steps, broker, predicted))

    async def _breakers_through(self, instrument_id: InstrumentId, ts: int) -> None:
        """With a daily-loss or drawdown breaker set, wait (at most `BREAKERS_WAIT_S`) until the breakers have
        seen the equity at bar `ts`: a strategy gets its bars beside the brokers and this actor, and in a fast
        replay it can be batches ahead of them; an order decided after a breach must meet the tripped gate.
        Steps from earlier bars in the same call meet that gate too (stricter, never looser). After a restart
        this actor has seen no bar yet: a step waits for the next batch (or the timeout, at the end of data)."""
        await self._ready()
        limits = self.risk.limits
        if limits.daily_loss_limit is None and limits.max_drawdown_pct is None:
            return
        deadline = asyncio.get_running_loop().time() + BREAKERS_WAIT_S
        while self.breakers_ts.get(instrument_id, NEVER) < ts:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                self.breakers_waits_timed_out += 1
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.breakers_moved.wait(), left)

    async def _route_steps(
        self,
        strategy_id: StrategyId,
        instrument_id: InstrumentId,
        steps: list[HostStep],
        broker: str | None,
        predictions: Sequence[Prediction | None],
    ) -> list[Answer]:
        assert all(step.needs_sync_after_ts is not None for step in steps)
        await self._ready()
        account = broker or next(iter(self.brokers))
        if account not in self.brokers:
            raise ValueError(f"unknown broker {account!r}; this runtime has {sorted(self.brokers)}")
        for step in steps:
            for command in step.commands:
                if isinstance(command, SubmitOrder) and not command.order.broker:
                    command.order.broker = account  # positions are kept per broker account
        self.routed_steps += len(steps)
        return await self.routes.submit(_Route(strategy_id, instrument_id, steps, account, predictions))

    async def _route_group(self, group: list[_Route]) -> list[list[Answer]]:
        async with self.lock:
            oms = self.oms
            # A step resent after this actor restarted may carry orders the broker already answered to the call
            # that died with it (the broker was still matching it when the start path reconciled): the broker
            # does not answer them twice, so reconcile again once it has them.
            resent = {route.broker for route in group if any(map(self._open_before, route.steps))}
            routed: list[list[RoutedCommands]] = []
            for route in group:
                iid = route.instrument_id
                marked = functools.partial(self._mark_step, iid)
                routed.append(route_steps(route.steps, self.risk, oms, marked))
            await self._persist([e for steps in routed for r in steps for e in r.to_strategy])  # write-ahead
            results: list[list[BrokerStep]] = [[] for _ in group]
            failed: set[str] = set()
            for account in dict.fromkeys(route.broker for route in group):  # one call per broker
                picked = [k for k, route in enumerate(group) if route.broker == account]
                requests = [
                    (route.strategy_id, route.instrument_id, r.to_broker, step.needs_sync_after_ts, step.next_ts,
                     prediction)
                    for route, steps_routed in ((group[k], routed[k]) for k in picked)
                    for step, r, prediction in zip(route.steps, steps_routed, route.predictions, strict=False)
                ]
                broker = self._actor(self.brokers[account])
                try:
                    answers = await broker.step_many.remote(packed(requests))
                except ray.exceptions.RayActorError:
                    failed.add(account)  # the broker died: resend (idempotent), then reconcile its lost answer
                    resend = functools.partial(broker.step_many.remote, packed(requests))
                    answers = await call_with_retry(resend, "broker step")
                answered = iter(answers)
                for k in picked:
                    results[k] = [next(answered) for _ in routed[k]]
            booked: list[Message] = []
            for k, (route, done) in enumerate(zip(group, results, strict=True)):
                for step, r, result in zip(route.steps, routed[k], done, strict=False):
                    if not result.sent:  # a step after a failed prediction: close what it recorded
                        booked += close_unsent(oms, r, step.needs_sync_after_ts or 0)
                        continue
                    booked += [*result.events, *oms.apply(result.events, after_ts=step.needs_sync_after_ts)]
                sent = sum(1 for result in done if result.sent)
                routed[k], results[k] = routed[k][:sent], done[:sent]  # answered: the steps the broker applied
            for account in failed | resent:
                broker = self._actor(self.brokers[account])
                report = await call_with_retry(functools.partial(broker.reconcile.remote, 0), "broker reconcile")
                await self._reconciled(oms.reconcile(report, account_id=account))
            await self._persist(booked)
            out: list[list[Answer]] = []
            for route, steps_routed, done in zip(group, routed, results, strict=True):
                outbox = self.outbox.pop(route.strategy_id, [])  # handed over with the first answer
                answers_of_route: list[Answer] = []
                for r, result in zip(steps_routed, done, strict=True):
                    answers_of_route.append((r.to_strategy, [*outbox, *result.events], result.horizon_ts))
                    outbox = []
                out.append(answers_of_route)
            return out

    def _open_before(self, step: HostStep) -> bool:
        """The step submits an order this manager already holds open (the step is being resent)."""
        for command in step.commands:
            if isinstance(command, SubmitOrder):
                known = self.oms.orders.get(command.order.client_order_id)
                if known is not None and not known.is_closed:
                    return True
        return False

    def _mark_step(self, instrument_id: InstrumentId, step: HostStep) -> None:
        if step.last_bar is not None:
            self._mark(instrument_id, step.last_bar)

    async def history(self, strategy_id: StrategyId) -> tuple[list[tuple[int, Message]], int]:
        await self._ready()
        return packed((self.oms.history(strategy_id), self.oms.last_order_seq(strategy_id)))

    async def snapshot(self) -> dict[str, Any]:
        await self._ready()
        return {
            **self.oms.snapshot(),
            "starts": self.starts,
            "rebuilt_from": self.rebuilt_from,
            "routing": {"groups": self.routes.groups, "calls": self.routes.requests, "steps": self.routed_steps,
                        "breakers_waits_timed_out": self.breakers_waits_timed_out},
            "manual": {"groups": self.manual.groups, "orders": self.manual.requests},
            "in_doubt": sorted(self.in_doubt),
            "live_events_dropped": self.publisher.dropped if self.publisher is not None else 0,
            "risk": self.risk.gate().to_dict(),  # what the next order is checked against
        }

    async def position(self, instrument_id: InstrumentId) -> str:
        await self._ready()
        return str(self.oms.account_position(instrument_id))

    async def journal_size(self) -> int:
        if self.storage.journal is not None:
            return len(await self.storage.read_stream(self.stream))
        return len(self.journal.entries)

    # ---- for the gateway (issue 5): read views, and a person's orders through the same risk -> OMS -> broker path

    async def list_orders(
        self,
        status: str | None = None,
        strategy_id: str | None = None,
        instrument_id: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Orders, oldest first (the last `limit`); `status` may also be "open" or "closed"."""
        await self._ready()
        rows = []
        for order in self.oms.orders.values():
            if status == "open" and not order.is_open:
                continue
            if status == "closed" and not order.is_closed:
                continue
            if status not in (None, "open", "closed") and order.status.value != status:
                continue
            if strategy_id is not None and order.strategy_id != strategy_id:
                continue
            if instrument_id is not None and str(order.instrument_id) != instrument_id:
                continue
            rows.append(order)
        return [o.to_dict() for o in rows[-limit:]] if limit > 0 else []

    async def get_order(self, client_order_id: str) -> dict[str, Any] | None:
        await self._ready()
        order = self.oms.orders.get(client_order_id)  # type: ignore[call-overload]
        return None if order is None else order.to_dict()

    async def list_fills(
        self, since_seq: int = 0, strategy_id: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Fills with their sequence number (position in the fill log), from `since_seq` on."""
        await self._ready()
        rows = [
            {"seq": seq, **event.fill.to_dict()}
            for seq, event in enumerate(self.oms.fills[since_seq:], start=since_seq)
            if strategy_id is None or event.fill.strategy_id == strategy_id
        ]
        return rows[:limit]

    async def positions_view(self) -> dict[str, Any]:
        await self._ready()
        oms = self.oms
        strategies = sorted({s for (s, _) in oms.strategy_positions})
        return {
            "positions": [
                {"account_id": a, **p.to_dict()} for (a, _), p in oms.account_positions.items() if p.quantity != 0
            ],
            "strategy_positions": [
                {"strategy_id": s, **p.to_dict()} for (s, _), p in oms.strategy_positions.items() if p.quantity != 0
            ],
            "pnl": oms.account_pnl().to_dict(),
            "strategy_pnl": {s: oms.strategy_pnl(s).to_dict() for s in strategies},
            "marks": {str(i): str(m) for i, m in oms.marks.items()},
        }

    async def activity(self, fills_since: int = 0) -> dict[str, Any]:
        """What a live event stream polls: every order's (status, filled quantity, strategy) and new fills."""
        await self._ready()
        return {
            "orders": {
                cid: (o.status.value, str(o.filled_quantity), o.strategy_id, o.reason)
                for cid, o in self.oms.orders.items()
            },
            "fills": await self.list_fills(fills_since, limit=10_000),
            "fill_count": len(self.oms.fills),
        }

    async def submit_manual(self, order: Any) -> dict[str, Any]:
        """A person's order, idempotent by client order id: a known id returns the known order (and an order
        recorded as submitted whose broker answer was lost is sent again: the broker dedupes by the id).
        Journaled before the broker sees it, like a strategy's; orders arriving together go to their broker in
        one call. Returns {"order": ..., "created": bool}."""
        (answer,) = await self.submit_manual_many([order])
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def submit_manual_many(self, orders: list[Any]) -> list[dict[str, Any] | BaseException]:
        """`submit_manual` for several orders in one call (a gateway groups the orders it receives together);
        each answer is that order's result, or the error it alone met. The orders join one group."""
        await self._ready()
        refused: dict[int, BaseException] = {}
        for i, order in enumerate(orders):
            known = self.oms.orders.get(order.client_order_id)
            order.broker = (known or order).broker or next(iter(self.brokers))
            if order.broker not in self.brokers:
                refused[i] = ValueError(f"unknown broker {order.broker!r}; this runtime has {sorted(self.brokers)}")
        outcomes = iter(await self.manual.submit_many([o for i, o in enumerate(orders) if i not in refused]))
        answers: list[dict[str, Any] | BaseException] = []
        for i, order in enumerate(orders):
            created = refused[i] if i in refused else next(outcomes)
            if isinstance(created, BaseException):
                answers.append(created)
            else:
                answers.append({"order": self.oms.orders[order.client_order_id].to_dict(), "created": created})
        return answers

    async def _submit_group(self, orders: list[Any]) -> list[bool]:
        async with self.lock:
            oms = self.oms
            created: list[bool] = []
            to_send: dict[str, list[Any]] = {}
            recorded: list[Message] = []
            for order in orders:
                known = oms.orders.get(order.client_order_id)
                created.append(known is None)
                if known is not None:
                    if known.status.value == "submitted":  # the broker's answer was lost: send it again
                        to_send.setdefault(known.broker or order.broker, []).append(known)
                    continue
                reason = self.risk.check(order, oms, order.ts_init)
                if reason is not None:
                    recorded.append(oms.deny(order, reason, order.ts_init))
                else:
                    recorded.append(oms.submit(order, order.ts_init))
                    to_send.setdefault(order.broker, []).append(order)
            await self._persist(recorded)  # write-ahead: durable before any broker sees them
            for account, batch in to_send.items():
                broker = self._actor(self.brokers[account])
                send = functools.partial(broker.submit_many.remote, packed(batch))
                events = await call_with_retry(send, "broker submit")
                await self._persist([*events, *oms.apply(events)])
            return created

    async def cancel_manual(self, client_order_id: str, owner: str) -> dict[str, Any] | None:
        """Cancel an order `owner` placed through `submit_manual` (a strategy's orders are its own to cancel).
        Returns {"order": ..., "refused": reason or None}, None if the id is unknown."""
        await self._ready()
        async with self.lock:
            order = self.oms.orders.get(client_order_id)  # type: ignore[call-overload]
            if order is None:
                return None
            if order.strategy_id != owner:
                return {"order": order.to_dict(), "refused": f"order belongs to strategy {order.strategy_id!r}"}
            if not order.is_open:
                return {"order": order.to_dict(), "refused": f"order is already {order.status.value}"}
            broker = self._actor(self.brokers.get(order.broker, self.broker_name))
            events = await call_with_retry(lambda: broker.cancel_manual.remote(client_order_id), "broker cancel")
            await self._persist([*events, *self.oms.apply(events)])
            return {"order": order.to_dict(), "refused": None}

    async def metrics_view(self) -> dict[str, Any]:
        """What the gateway's /metrics exports from the order book: orders by status and broker, denials by
        reason code, P&L and gross exposure per strategy, the account's P&L, fills."""
        await self._ready()
        default_broker = next(iter(self.brokers))
        by_broker: dict[tuple[str, str], int] = {}
        denials: dict[str, int] = {}
        for order in self.oms.orders.values():
            where = (order.status.value, order.broker or default_broker)
            by_broker[where] = by_broker.get(where, 0) + 1
            if order.status is OrderStatus.DENIED:
                code = order.reason.partition(":")[0] or "unknown"  # "CODE: detail" (`trading.risk.rules`)
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
