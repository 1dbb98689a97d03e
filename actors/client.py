"""`RuntimeClient`: the one typed way into a running runtime, for the gateway, the command line and the tests.

Every call the runtime answers from outside is a method here with its types, so no caller names an actor method
in a string. The client looks each named actor up once and keeps the handle (a handle stays valid across the
actor's restarts). Errors:

```
ActorUnavailable (RuntimeError)   the actor is not running, died, or cannot be reached (a call may have run)
<the actor's own exception>       raised as is (ConfigError, FixRequest, ValueError ...), with a note naming
                                  the actor: `raised_by(exc)` reads it
```
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ray
from ray._private import state as ray_state
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayTaskError

from actors import DEFAULT_NAMESPACE, MARKET_DATA, ORCHESTRATOR, ORDER_MANAGER, RISK, broker_name, strategy_name
from actors.alerts import ALERTS
from actors.research import RESEARCH
from actors.risk import KillSwitchResult
from trading.brokers.protocol import AccountReport, PositionReport
from trading.data.bars import Bar
from trading.live.config import BrokerConfig
from trading.messages import RiskStateChanged
from trading.model.identifiers import InstrumentId
from trading.model.orders import Order

T = TypeVar("T")
_NOTE = "raised by actor "
ManualAnswer = dict[str, Any] | BaseException  # {"order": ..., "created": bool}, or what that order alone met


__all__ = ["ActorUnavailable", "KillSwitchResult", "ManualAnswer", "RuntimeClient", "raised_by"]


class ActorUnavailable(RuntimeError):
    """The named actor is not running, died, or could not be reached. For a write, its outcome is unknown."""

    def __init__(self, actor: str, reason: str, *, running: bool = True) -> None:
        super().__init__(f"{actor} is unavailable: {reason}")
        self.actor = actor
        self.reason = reason
        self.running = running  # False: no actor by that name (this runtime has none, or it ended)


def raised_by(exc: BaseException) -> str | None:
    """The actor that raised `exc` through a `RuntimeClient` call, if it did."""
    for note in getattr(exc, "__notes__", ()):
        if note.startswith(_NOTE):
            return str(note[len(_NOTE):])
    return None


class RuntimeClient:
    """Typed async calls to the runtime's named actors in `namespace` (see `actors.__init__` for who is who)."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self._handles: dict[str, Any] = {}

    # ---------------------------------------------------------------------------------------- plumbing
    def _actor(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            try:
                handle = ray.get_actor(name, namespace=self.namespace)
            except ValueError:
                raise ActorUnavailable(name, "not running", running=False) from None
            self._handles[name] = handle
        return handle

    async def _ask(self, name: str, call: Callable[[Any], Awaitable[T]]) -> T:
        """One call to actor `name`; `call` gets its handle and starts the method."""
        try:
            return await call(self._actor(name))
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, Exception):
                cause.add_note(f"{_NOTE}{name}")
                raise cause from None
            raise
        except (ActorDiedError, ActorUnavailableError, RayActorError) as exc:
            self._handles.pop(name, None)  # looked up again next time (a new actor under the same name)
            raise ActorUnavailable(name, type(exc).__name__) from None

    def forget(self) -> None:
        """Drop every handle (the runtime was started again under the same names)."""
        self._handles.clear()

    # ------------------------------------------------------------------------------------------ runtime
    async def runtime_status(self) -> dict[str, Any]:
        """Every actor's status, by actor name (the order manager's snapshot under its name)."""
        return await self._ask(ORCHESTRATOR, lambda a: a.status.remote())

    async def brokers(self) -> list[BrokerConfig]:
        """The runtime's broker accounts as configured (name, kind, live flag, non-secret settings)."""
        return await self._ask(ORCHESTRATOR, lambda a: a.brokers.remote())

    async def wait_replay(self) -> dict[str, Any]:
        """Wait until the replay has handed out its last bar; the market data's status."""
        return await self._ask(ORCHESTRATOR, lambda a: a.wait_replay.remote())

    async def actor_restarts(self) -> dict[str, int]:
        """How many times Ray restarted each named actor of the namespace."""
        return await asyncio.to_thread(self._actor_restarts)

    def _actor_restarts(self) -> dict[str, int]:
        # Ray's public state API (`ray.util.state`) asks the dashboard, which `dto run` does not start; this reads
        # the GCS's actor table directly, as that API does.
        restarts: dict[str, int] = {}
        for name in self._named(""):
            try:
                handle = ray.get_actor(name, namespace=self.namespace)
            except ValueError:  # gone since it was listed
                continue
            info = ray_state.actors(actor_id=handle._actor_id.hex())
            restarts[name] = int(info.get("NumRestarts", 0))
        return restarts

    async def named_actors(self, prefix: str = "") -> list[str]:
        """Names (without `prefix`) of the namespace's named actors that start with `prefix`."""
        return await asyncio.to_thread(self._named, prefix)

    def _named(self, prefix: str) -> list[str]:
        named = ray.util.list_named_actors(all_namespaces=True)
        return sorted(
            a["name"][len(prefix):]
            for a in named
            if a.get("namespace") == self.namespace and a["name"].startswith(prefix)
        )

    # ----------------------------------------------------------------------------------------- brokers
    async def account(self, broker: str) -> AccountReport:
        """The venue's view of `broker`'s account (cash, equity, buying power, balances)."""
        return await self._ask(broker_name(broker), lambda a: a.account.remote())

    async def broker_positions(self, broker: str) -> list[PositionReport]:
        """The venue's own positions in `broker`'s account."""
        return await self._ask(broker_name(broker), lambda a: a.positions.remote())

    async def broker_status(self, broker: str) -> dict[str, Any]:
        return await self._ask(broker_name(broker), lambda a: a.status.remote())

    # ------------------------------------------------------------------------------------------ orders
    async def submit_orders(self, orders: Sequence[Order]) -> list[ManualAnswer]:
        """People's orders, in order, through the order path (risk, journal, venue); idempotent by client order
        id. Each answer is {"order", "created"} or the exception that order alone met."""
        return await self._ask(ORDER_MANAGER, lambda a: a.submit_manual_many.remote(list(orders)))

    async def cancel_order(self, client_order_id: str, owner: str) -> dict[str, Any] | None:
        """Cancel an order `owner` placed: {"order", "refused"}, or None for an unknown id."""
        return await self._ask(ORDER_MANAGER, lambda a: a.cancel_manual.remote(client_order_id, owner))

    async def list_orders(
        self,
        status: str | None = None,
        strategy_id: str | None = None,
        instrument_id: str | None = None,
        limit: int = 500,
        broker: str | None = None,
    ) -> list[dict[str, Any]]:
        """Orders, oldest first (the last `limit`); `status` may also be "open" or "closed"."""
        return await self._ask(
            ORDER_MANAGER, lambda a: a.list_orders.remote(status, strategy_id, instrument_id, limit, broker)
        )

    async def get_order(self, client_order_id: str) -> dict[str, Any] | None:
        return await self._ask(ORDER_MANAGER, lambda a: a.get_order.remote(client_order_id))

    async def list_fills(
        self, since_seq: int = 0, strategy_id: str | None = None, limit: int = 500, broker: str | None = None
    ) -> list[dict[str, Any]]:
        """Fills with their sequence number and broker, from `since_seq` on."""
        return await self._ask(ORDER_MANAGER, lambda a: a.list_fills.remote(since_seq, strategy_id, limit, broker))

    async def positions(self, broker: str | None = None) -> dict[str, Any]:
        """The order manager's book: positions per account and strategy, P&L, marks (one broker's, if named)."""
        return await self._ask(ORDER_MANAGER, lambda a: a.positions_view.remote(broker))

    async def order_metrics(self) -> dict[str, Any]:
        """What /metrics exports from the book (orders by status and broker, denials, P&L, exposure)."""
        return await self._ask(ORDER_MANAGER, lambda a: a.metrics_view.remote())

    async def order_manager_snapshot(self) -> dict[str, Any]:
        return await self._ask(ORDER_MANAGER, lambda a: a.snapshot.remote())

    async def journal_size(self) -> int:
        """Entries in the order manager's journal (orders, answers, reports, risk actions)."""
        return await self._ask(ORDER_MANAGER, lambda a: a.journal_size.remote())

    async def reconcile(self, broker: str) -> list[dict[str, Any]]:
        """Make `broker`'s venue the truth now; the mismatches found."""
        return await self._ask(ORDER_MANAGER, lambda a: a.reconcile_broker.remote(broker))

    # -------------------------------------------------------------------------------------- strategies
    async def add_strategy(
        self,
        strategy: str,
        params: dict[str, Any] | None = None,
        strategy_id: str | None = None,
        *,
        instrument: str | None = None,
        broker: str | None = None,
    ) -> dict[str, Any]:
        """Start one more strategy; its status. ConfigError for bad input, ValueError for a taken id."""
        return await self._ask(
            ORCHESTRATOR,
            lambda a: a.add_strategy.remote(strategy, params, strategy_id, instrument=instrument, broker=broker),
        )

    async def strategy_ids(self) -> list[str]:
        """Ids of the strategies this runtime started (stopped ones included: their actors still answer)."""
        return await self._ask(ORCHESTRATOR, lambda a: a.strategy_ids.remote())

    async def strategy_status(self, strategy_id: str) -> dict[str, Any]:
        return await self._ask(strategy_name(strategy_id), lambda a: a.status.remote())

    async def pause_strategy(self, strategy_id: str) -> None:
        await self._ask(strategy_name(strategy_id), lambda a: a.pause.remote())

    async def resume_strategy(self, strategy_id: str) -> None:
        await self._ask(strategy_name(strategy_id), lambda a: a.resume.remote())

    async def stop_strategy(self, strategy_id: str) -> None:
        await self._ask(strategy_name(strategy_id), lambda a: a.stop.remote())

    async def update_parameters(self, strategy_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a running strategy's parameters (validated by its config); the parameters now in force."""
        return await self._ask(strategy_name(strategy_id), lambda a: a.update_parameters.remote(changes))

    # -------------------------------------------------------------------------------------------- risk
    async def risk_status(self) -> dict[str, Any]:
        """{"state", "reason", "kill_switch"}."""
        return await self._ask(RISK, lambda a: a.status.remote())

    async def risk_limits(self) -> dict[str, Any]:
        return await self._ask(RISK, lambda a: a.limits.remote())

    async def update_risk_limits(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the firm-wide limits (a None switches a rule off); the limits now in force."""
        return await self._ask(RISK, lambda a: a.update_limits.remote(changes))

    async def set_kill_switch(self, on: bool, reason: str) -> KillSwitchResult:
        """Halt (on: every working order at every venue is asked to cancel) or release the kill switch."""
        return await self._ask(RISK, lambda a: a.set_kill_switch.remote(on, reason))

    async def resume_trading(self, reason: str) -> RiskStateChanged | None:
        """Back to ACTIVE after a halt (refused while the kill switch is on)."""
        return await self._ask(RISK, lambda a: a.resume_trading.remote(reason))

    async def flatten(self, reason: str) -> list[str]:
        """Close every position at every venue with market orders (journaled); the client order ids sent."""
        return await self._ask(RISK, lambda a: a.flatten.remote(reason))

    async def portfolio_risk(self) -> dict[str, Any]:
        """The live book's valuation: VaR and ES by method, exposures, concentration, per account and firm-wide."""
        return await self._ask(RISK, lambda a: a.portfolio.remote())

    async def stress_test(self, kind: str, shocks: dict[str, float] | None = None) -> dict[str, Any]:
        """The live book under a stress scenario (`kind`, with `shocks` for a custom one)."""
        return await self._ask(RISK, lambda a: a.stress.remote(kind, shocks))

    async def risk_state_changes(self) -> list[RiskStateChanged]:
        """The last 100 trading-state changes, oldest first."""
        return await self._ask(RISK, lambda a: a.state_changes.remote())

    # ------------------------------------------------------------------------------------- market data
    async def last_bars(self) -> dict[str, dict[str, Any]]:
        """The last bar of each instrument, by instrument id."""
        return await self._ask(MARKET_DATA, lambda a: a.last_bars.remote())

    async def bar_history(self, instrument_id: InstrumentId) -> list[Bar]:
        """Every bar the instrument has had in this runtime, oldest first."""
        return await self._ask(MARKET_DATA, lambda a: a.history.remote(instrument_id))

    async def publish_bars(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> int:
        """Hand bars to the runtime as a feed would (validated, then venues, order manager, strategies); how many
        were delivered. Tests and replays drive a runtime with it."""
        return await self._ask(MARKET_DATA, lambda a: a.publish.remote(instrument_id, list(bars)))

    async def market_data_status(self) -> dict[str, Any]:
        return await self._ask(MARKET_DATA, lambda a: a.status.remote())

    async def equity(self, broker: str) -> Decimal:
        return await self._ask(broker_name(broker), lambda a: a.equity.remote())

    # ------------------------------------------------------------------------------------------ alerts
    async def alert_status(self) -> dict[str, Any]:
        """Per channel: waiting, sent, failed attempts, deduplicated, dead letters, last error."""
        return await self._ask(ALERTS, lambda a: a.status.remote())

    async def alert_settings(self) -> dict[str, Any]:
        """The channels and rules in force (names of secrets, never values)."""
        return await self._ask(ALERTS, lambda a: a.settings.remote())

    async def configure_alerts(self, notifications: dict[str, Any]) -> dict[str, Any]:
        """Replace channels and rules (the config's `notifications:` section); ConfigError / ValidationError."""
        return await self._ask(ALERTS, lambda a: a.configure.remote(notifications))

    async def send_test_alert(self, channel: str) -> str | None:
        """Queue a test alert on `channel`; its id, or None for an unknown channel."""
        return await self._ask(ALERTS, lambda a: a.send_test.remote(channel))

    async def alert_dead_letters(self) -> list[dict[str, Any]]:
        return await self._ask(ALERTS, lambda a: a.dead_letters.remote())

    async def redrive_alert(self, channel: str, alert_id: str) -> bool:
        """Send a dead letter again; False if there is no such dead letter."""
        return await self._ask(ALERTS, lambda a: a.redrive.remote(channel, alert_id))

    # ---------------------------------------------------------------------------------------- research
    async def submit_research(self, kind: str, request: dict[str, Any], key_id: str | None = None) -> dict[str, Any]:
        """Queue a backtest or sweep at the research actor (ConfigError naming a bad field); the job's row."""
        return await self._ask(RESEARCH, lambda a: a.submit.remote(kind, request, key_id))
