"""RiskActor: the firm-wide risk authority (one for every strategy and broker).

It owns the limits, the trading state (ACTIVE / REDUCING / HALTED) and the kill switch, and runs the circuit
breakers on the equity the order manager reports once per market-data batch. The pre-trade checks themselves
run inside the order manager, on the same pure `RiskEngine` rules, following the `RiskGate` this actor hands
it: every order passes through the order manager anyway, and a check there costs no Ray hop on the order path.
A change is put in force at the order manager before the call that made it returns, so a kill switch stops the
very next order. With a `redis_url` the gate lives in Redis (a restarted actor resumes it) and the kill switch is
the firm-wide flag there: this actor follows the flag's channel, so a switch set by anyone halts this runtime.

Portfolio risk: the order manager sends its book after every position change (`on_book`, without waiting) and this
actor asks for it on a timer (market moves); each valuation (`trading.risk.portfolio.portfolio_figures`: VaR/ES,
their marginal figures per unit of each instrument, exposures, concentration, per account and firm-wide) goes to the
order manager inside the gate, where the pre-trade portfolio limits use it. A valued book over a limit moves trading
to REDUCING and the `RiskStateChanged` is recorded and published.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import ray
from ray.exceptions import RayActorError

from actors.storage import ActorStorage, EventPublisher
from trading.errors import InvalidValue
from trading.messages import RiskStateChanged
from trading.risk.portfolio import METHODS, Holding, RiskModel, book_risk, portfolio_figures, portfolio_risk
from trading.risk.rules import RiskBook, RiskEngine, RiskGate, RiskLimits
from trading.risk.stress import Scenario, historical_scenarios, hypothetical_shock, run_stress
from trading.storage import StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KillSwitchResult:
    """What switching the kill switch did: the state change (None if it was already so) and, when switched on,
    the client order ids of the working orders asked to cancel at every venue."""

    change: RiskStateChanged | None
    canceled: tuple[str, ...] = ()


@ray.remote
class RiskActor:
    def __init__(
        self,
        limits: dict[str, Any] | None = None,
        *,
        redis_url: str | None = None,
        namespace: str = "dto",
        order_manager: str | None = None,
        risk_model: RiskModel | None = None,
    ) -> None:
        self.engine = RiskEngine(RiskLimits(**(limits or {})))
        self.model = risk_model
        self.book: RiskBook | None = None
        self.scenarios: list[Scenario] | None = None
        self.publisher: EventPublisher | None = None
        self._revaluer: asyncio.Task[None] | None = None
        self.storage = ActorStorage(None, redis_url, namespace)
        self.namespace = namespace
        self.order_manager = order_manager
        self.changes: list[RiskStateChanged] = []
        self.day: date | None = None
        self.loaded = False
        self._watcher: asyncio.Task[None] | None = None
        self._oms: Any = None

    async def _ready(self) -> None:
        """Start path (also after a restart): resume the saved gate and follow the firm-wide kill switch."""
        if self.loaded:
            return
        await self.storage.open()
        cache = self.storage.cache
        if cache is not None:
            saved = await cache.risk_gate()
            if saved is not None:
                self.engine.follow(RiskGate.from_dict(saved))
            on, reason = await cache.kill_switch()
            if on != self.engine.kill_switch:
                self._record(self.engine.set_kill_switch(on, reason or "kill switch set in Redis", 0))
            self._watcher = asyncio.create_task(self._follow_kill_switch())
        elif self.order_manager is not None:
            # No Redis: after a restart the order manager still holds the gate in force; take it back from there.
            with contextlib.suppress(RayActorError, ValueError, asyncio.TimeoutError):
                oms = ray.get_actor(self.order_manager, namespace=self.namespace)
                gate: RiskGate | None = await asyncio.wait_for(oms.risk_gate.remote(), timeout=5.0)
                if gate is not None:
                    self.engine.follow(gate)
        self.loaded = True
        if self.order_manager is not None:
            self._revaluer = asyncio.create_task(self._revalue_forever())

    async def _follow_kill_switch(self) -> None:
        assert self.storage.cache is not None
        with contextlib.suppress(StorageError, OSError):
            async with self.storage.cache.subscribe("kill_switch") as flags:
                async for flag in flags:
                    on, reason = bool(flag.get("on")), str(flag.get("reason", ""))
                    if on != self.engine.kill_switch:
                        self._record(self.engine.set_kill_switch(on, reason or "kill switch set in Redis", 0))
                        await self._publish(save=True)

    def _record(self, change: RiskStateChanged | None) -> RiskStateChanged | None:
        if change is not None:
            self.changes = [*self.changes[-99:], change]
        return change

    async def _publish(self, *, save: bool) -> None:
        """Save the gate (Redis) and put it in force at the order manager before answering."""
        gate = self.engine.gate()
        if save and self.storage.cache is not None:
            await self.storage.cache.set_risk_gate(gate.to_dict())
        if self.order_manager is None:
            return
        try:
            if self._oms is None:  # a handle survives the order manager's restarts: look it up once
                self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
            await self._oms.follow_risk.remote(gate)
        except (RayActorError, ValueError):
            pass  # not created yet, or restarting: its start path asks for the gate

    # ------------------------------------------------------------------------------- for the order manager
    async def gate(self) -> RiskGate:
        """The gate pre-trade checks follow (the order manager asks on its start path)."""
        await self._ready()
        return self.engine.gate()

    async def on_equity(self, equity: Decimal, now_ns: int) -> RiskGate | None:
        """The firm's equity at `now_ns` (once per batch); returns the new gate if a circuit breaker tripped.
        The daily loss is measured from the first equity of each UTC day."""
        await self._ready()
        day = datetime.fromtimestamp(now_ns / 1e9, UTC).date()
        if day != self.day:
            self.day = day
            self.engine.start_day(equity)
        change = self._record(self.engine.on_equity(equity, now_ns))
        if change is None:
            return None
        if self.storage.cache is not None:
            await self.storage.cache.set_risk_gate(self.engine.gate().to_dict())
        return self.engine.gate()

    # ------------------------------------------------------------------------------------ portfolio risk
    async def on_book(self, book: RiskBook) -> None:
        """The order manager's book after a position change: value it (an older snapshot than the last is
        ignored)."""
        await self._ready()
        if self.book is None or book.taken_ns > self.book.taken_ns:
            await self._value(book)

    async def _revalue_forever(self) -> None:
        every_s = self.model.every_s if self.model is not None else 5.0
        while True:
            await asyncio.sleep(every_s)
            try:
                await self._oms_ready()
                book: RiskBook = await asyncio.wait_for(self._oms.book.remote(), timeout=max(every_s, 5.0))
                await self.on_book(book)
            except Exception:  # the order manager is restarting or slow: next time
                log.exception("revaluing the book failed")

    async def _value(self, book: RiskBook) -> None:
        """Value `book`, put the figures in force at the order manager; a breach moves trading to REDUCING."""
        self.book = book
        try:
            figures = portfolio_figures(book, self.model)
        except InvalidValue:
            log.exception("valuing the book failed; the last figures stay in force")
            return
        change = self._record(self.engine.on_portfolio(figures, book.ts))
        await self._publish(save=change is not None)
        if change is not None:
            self._announce(change)

    def _announce(self, change: RiskStateChanged) -> None:
        """Publish a state change the valuation made to the runtime's live events (the gateway's stream)."""
        log.warning("risk: %s -> %s (%s)", change.previous, change.state, change.reason)
        if self.storage.cache is not None:
            if self.publisher is None:
                self.publisher = EventPublisher(self.storage.cache, "events", "risk")
            self.publisher.publish([change])

    def _holdings(self, book: RiskBook) -> list[Holding]:
        """Each strategy's marked positions as the report's holdings."""
        out = []
        for p in book.strategies:
            mark = book.marks.get(p.instrument)
            if mark is not None and mark > 0:
                out.append(Holding(p.instrument, p.quantity, mark, p.owner, multiplier=p.multiplier))
        return out

    async def portfolio(self) -> dict[str, Any]:
        """The book's risk now: VaR and ES by method, exposures, concentration, contributions (per position and
        per strategy), firm-wide and per account, with the limits and any breach."""
        await self._ready()
        if self.book is None and self.order_manager is not None:
            await self._oms_ready()
            await self.on_book(await self._oms.book.remote())
        figures = self.engine.portfolio
        model = self.model
        out: dict[str, Any] = {
            "state": self.engine.state.value,
            "reason": self.engine.reason,
            "limits": self.engine.limits.model_dump(mode="json"),
            "breach": self.engine.portfolio_breach(),
            "model": None if model is None else {
                "method": model.method, "confidence": model.confidence, "horizon": model.horizon,
                "instruments": sorted(model.history), "every_s": model.every_s,
            },
            "figures": None if figures is None else figures.to_dict(),
            "by_method": {},
            "report": None,
            "report_error": None,
        }
        book = self.book
        if book is None or model is None or figures is None:
            return out
        equity = figures.firm.equity
        for method in METHODS:
            other = dataclasses.replace(model, method=method)
            risk = book_risk(book.accounts, book.marks, equity, other)
            out["by_method"][method] = {"var": risk.var, "es": risk.es}
        holdings = [h for h in self._holdings(book) if h.instrument in model.history]
        if not holdings:
            out["report_error"] = "no open position with daily history"
            return out
        try:
            report = portfolio_risk(holdings, model.history, confidence=model.confidence, method=model.method,
                                    horizon=model.horizon, equity=equity if equity > 0 else None,
                                    benchmark=model.benchmark)
            out["report"] = _finite(report.to_dict())
        except InvalidValue as exc:
            out["report_error"] = str(exc)
        return out

    async def stress(self, kind: str, shocks: dict[str, float] | None = None) -> dict[str, Any]:
        """Today's positions under the worst days and weeks of the reference series (the model's benchmark, else
        its first instrument) or under hypothetical shocks by asset class: P&L per position, strategy, account."""
        await self._ready()
        await self._oms_ready()
        book: RiskBook = await self._oms.book.remote()
        holdings = self._holdings(book)
        equity = sum(book.equity.values(), Decimal(0))
        if kind == "hypothetical":
            scenarios = [hypothetical_shock(shocks or {"equity": -0.2, "crypto": -0.4, "volatility": 0.5})]
        else:
            if self.model is None or not self.model.history:
                raise InvalidValue("historical stress needs a risk_model with daily history in the runtime config")
            if self.scenarios is None:
                history = self.model.history
                reference = self.model.benchmark or history[sorted(history)[0]]
                self.scenarios = historical_scenarios(reference, history)
            scenarios = self.scenarios
        results = [run_stress(s, holdings, equity=equity if equity > 0 else None).to_dict() for s in scenarios]
        return {"equity": str(equity), "positions": len(holdings), "results": _finite(results)}

    async def _oms_ready(self) -> None:
        if self._oms is None:
            if self.order_manager is None:
                raise InvalidValue("this risk actor has no order manager to read the book from")
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)

    # ----------------------------------------------------------------------------- for people (the gateway)
    async def set_kill_switch(self, on: bool, reason: str, now_ns: int = 0) -> KillSwitchResult:
        """Halt (or release) trading firm-wide. On: every working order at every venue is canceled, after the
        halt is in force at the order manager (so no new order slips in between). Says which were asked."""
        await self._ready()
        if self.storage.cache is not None:
            await self.storage.cache.set_kill_switch(on, reason)
        change = self._record(self.engine.set_kill_switch(on, reason, now_ns))
        await self._publish(save=True)
        canceled: list[str] = []
        if on:
            canceled = await self._order_manager_call("cancel_all", f"kill switch: {reason}")
        return KillSwitchResult(change, tuple(canceled))

    async def flatten(self, reason: str) -> list[str]:
        """Close every position at every venue (market orders, journaled). Returns the orders sent."""
        await self._ready()
        sent: list[str] = await self._order_manager_call("flatten", reason)
        return sent

    async def _order_manager_call(self, method: str, reason: str) -> Any:
        if self.order_manager is None:
            return []
        if self._oms is None:
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        return await getattr(self._oms, method).remote(reason)

    async def update_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        """New limits, in force at the order manager before this returns; a book already over a new portfolio
        limit moves trading to REDUCING."""
        await self._ready()
        limits = self.engine.update_limits(**changes).model_dump()
        change = None
        if self.engine.portfolio is not None:
            change = self._record(self.engine.on_portfolio(self.engine.portfolio, self.engine.portfolio.ts))
        await self._publish(save=True)
        if change is not None:
            self._announce(change)
        return limits

    async def resume_trading(self, reason: str, now_ns: int = 0) -> RiskStateChanged | None:
        """Back to ACTIVE after a halt (refused while the kill switch is on)."""
        await self._ready()
        change = self._record(self.engine.resume(reason, now_ns))
        await self._publish(save=True)
        return change

    async def limits(self) -> dict[str, Any]:
        await self._ready()
        return self.engine.limits.model_dump()

    async def status(self) -> dict[str, Any]:
        """State, reason, kill switch, and the last valuation's headline figures per book (`portfolio`)."""
        await self._ready()
        engine = self.engine
        figures = engine.portfolio
        books = {} if figures is None else {"firm": figures.firm, **{f"account:{a}": b
                                                                       for a, b in figures.accounts.items()}}
        portfolio = {
            name: {"var": b.var, "es": b.es, "gross_exposure": float(b.gross), "net_exposure": float(b.net),
                   "concentration_pct": b.largest_pct, "equity": float(b.equity)}
            for name, b in books.items()
        }
        return {"state": engine.state.value, "reason": engine.reason, "kill_switch": engine.kill_switch,
                "portfolio": portfolio}

    async def state_changes(self) -> list[RiskStateChanged]:
        """The last 100 trading-state changes, oldest first."""
        return list(self.changes)


def _finite(value: Any) -> Any:
    """JSON-safe figures: a non-finite float (days to exit a position with no volume) becomes None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
