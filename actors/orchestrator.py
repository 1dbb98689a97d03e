"""OrchestratorActor: the supervisor. Creates the runtime's actors (named, one namespace), wires them by name,
runs a replay, and reports status. A runtime is described by `RuntimeSpec` (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ray

from actors import (
    MARKET_DATA,
    ORDER_MANAGER,
    RISK,
    actor_options,
    broker_name,
    strategy_name,
)
from actors.broker import BrokerActor
from actors.market_data import MarketDataActor
from actors.order_manager import OrderManagerActor
from actors.risk import RiskActor
from actors.strategy import StrategyActor
from strategies import resolve_strategy
from trading.data.bars import Bar, BarSeries
from trading.errors import ConfigError
from trading.live.optimistic import ShadowSpec
from trading.model.instruments import Instrument
from trading.sim.models import SimConfig
from trading.strategy import build_config


@dataclass(frozen=True)
class StrategySpec:
    strategy: str  # a built-in name or module:Class
    params: dict[str, Any] = field(default_factory=dict)
    strategy_id: str | None = None  # default: the strategy's name
    instrument: str | None = None  # an instrument id of the runtime (default: its first instrument)
    broker: str | None = None  # a broker of the runtime (default: its first broker)


def strategy_id_of(strategy: StrategySpec) -> str:
    """The id a strategy runs under: the given one, else the strategy's name."""
    return strategy.strategy_id or strategy.strategy.rpartition(":")[2] or strategy.strategy


@dataclass(frozen=True)
class RuntimeSpec:
    instrument: Instrument
    strategies: list[StrategySpec]
    starting_cash: Decimal = Decimal(10_000)
    sim: SimConfig = field(default_factory=SimConfig)
    bar_interval_ns: int | None = None
    broker: str = "paper"
    namespace: str = "dto"
    detached: bool = False
    risk_limits: dict[str, Any] = field(default_factory=dict)
    max_restarts: int = -1
    # Durable state: with a database URL the order manager and the broker journal to PostgreSQL (streams named
    # by `run_id`: a runtime started again with the same run id resumes it), and every actor restarts safely.
    database_url: str | None = None
    redis_url: str | None = None
    run_id: str = "live"
    # Several instruments and brokers at once: `instrument` and `broker` come first, these after them. Every
    # broker (a paper account with `starting_cash`) trades every instrument; a strategy picks one of each.
    more_instruments: tuple[Instrument, ...] = ()
    more_brokers: tuple[str, ...] = ()
    # Strategies step ahead on their paper broker's predicted answers, confirmed once per batch
    # (`trading.live.optimistic`); False: every order waits for its answer before the next bar.
    optimistic: bool = True

    @property
    def instruments(self) -> list[Instrument]:
        return [self.instrument, *self.more_instruments]

    @property
    def brokers(self) -> list[str]:
        return [self.broker, *self.more_brokers]

    def instrument_of(self, strategy: StrategySpec) -> Instrument:
        wanted = strategy.instrument or str(self.instrument.id)
        for instrument in self.instruments:
            if str(instrument.id) == wanted:
                return instrument
        known = [str(i.id) for i in self.instruments]
        raise ConfigError(f"unknown instrument {wanted!r}; this runtime trades {known}", key="instrument")

    def broker_of(self, strategy: StrategySpec) -> str:
        if strategy.broker is not None and strategy.broker not in self.brokers:
            raise ConfigError(f"unknown broker {strategy.broker!r}; this runtime has {self.brokers}", key="broker")
        return strategy.broker or self.broker

    @property
    def oms_stream(self) -> str:
        return f"oms:{self.run_id}"

    @property
    def broker_stream(self) -> str:
        return self.broker_stream_of(self.broker)

    def broker_stream_of(self, broker: str) -> str:
        return f"broker:{broker}:{self.run_id}"


@ray.remote
class OrchestratorActor:
    def __init__(self, spec: RuntimeSpec) -> None:
        self.spec = spec
        self.children: dict[str, Any] = {}
        self.strategies: dict[str, StrategySpec] = {}

    def _options(self, name: str, max_restarts: int | None = None) -> dict[str, Any]:
        spec = self.spec
        restarts = spec.max_restarts if max_restarts is None else max_restarts
        return actor_options(name, spec.namespace, detached=spec.detached, max_restarts=restarts)

    async def start(self) -> dict[str, Any]:
        spec = self.spec
        ns = spec.namespace
        for strategy in spec.strategies:  # a typo fails before any actor starts
            spec.instrument_of(strategy)
            spec.broker_of(strategy)
        # Without a database the paper broker's books live only in its memory: it is not restarted blank (the
        # venue would forget). With one, a restarted broker rebuilds itself from its journal.
        durable = spec.database_url is not None
        for broker in spec.brokers:
            name = broker_name(broker)
            self.children[name] = BrokerActor.options(**self._options(name, None if durable else 0)).remote(  # type: ignore[attr-defined]
                spec.starting_cash,
                spec.instrument.currency,
                spec.sim,
                broker,
                database_url=spec.database_url,
                stream=spec.broker_stream_of(broker),
            )
        self.children[RISK] = RiskActor.options(**self._options(RISK)).remote(  # type: ignore[attr-defined]
            spec.risk_limits, redis_url=spec.redis_url, namespace=ns, order_manager=ORDER_MANAGER
        )
        self.children[ORDER_MANAGER] = OrderManagerActor.options(**self._options(ORDER_MANAGER)).remote(  # type: ignore[attr-defined]
            ns,
            RISK,
            broker_name(spec.broker),
            brokers={broker: broker_name(broker) for broker in spec.brokers},
            database_url=spec.database_url,
            redis_url=spec.redis_url,
            stream=spec.oms_stream,
            instruments=spec.instruments,
        )
        self.children[MARKET_DATA] = MarketDataActor.options(**self._options(MARKET_DATA)).remote(  # type: ignore[attr-defined]
            ns, [broker_name(broker) for broker in spec.brokers], ORDER_MANAGER
        )
        for instrument in spec.instruments:
            interval = spec.bar_interval_ns if instrument.id == spec.instrument.id else None
            for broker in spec.brokers:
                await self.children[broker_name(broker)].register.remote(instrument, interval)
            await self.children[ORDER_MANAGER].register.remote(instrument)
        await self.children[ORDER_MANAGER].start.remote()
        for strategy in spec.strategies:
            await self._start_strategy(strategy, None)
        return await self.status()

    async def _start_strategy(self, strategy: StrategySpec, live_from_ts: int | None) -> str:
        spec = self.spec
        sid = strategy_id_of(strategy)
        name = strategy_name(sid)
        instrument, broker = spec.instrument_of(strategy), spec.broker_of(strategy)
        interval = spec.bar_interval_ns if instrument.id == spec.instrument.id else None
        shadow = ShadowSpec(spec.sim, interval) if spec.optimistic else None
        await self.children[broker_name(broker)].pace.remote(sid)
        self.children[name] = StrategyActor.options(**self._options(name)).remote(  # type: ignore[attr-defined]
            spec.namespace,
            strategy.strategy,
            strategy.params,
            instrument,
            strategy_id=strategy.strategy_id,
            order_manager=ORDER_MANAGER,
            market_data=MARKET_DATA,
            live_from_ts=live_from_ts,
            broker=broker,
            shadow=shadow,
        )
        await self.children[MARKET_DATA].subscribe.remote(instrument.id, name)
        self.strategies[sid] = strategy
        return name

    async def add_strategy(
        self,
        strategy: str,
        params: dict[str, Any] | None = None,
        strategy_id: str | None = None,
        *,
        instrument: str | None = None,
        broker: str | None = None,
    ) -> dict[str, Any]:
        """Start one more strategy while the runtime runs (a built-in name or module:Class, parameters, and
        optionally which of the runtime's instruments and brokers). It warms up on the bars seen so far without
        trading on them and trades from the next bar on. Raises ConfigError for an unknown strategy, instrument
        or broker or bad parameters, ValueError for a strategy id already running. Returns its status."""
        params = dict(params or {})
        cls = resolve_strategy(strategy)
        target = self.spec.instrument_of(StrategySpec(strategy, instrument=instrument))
        self.spec.broker_of(StrategySpec(strategy, broker=broker))
        config = build_config(cls, {"instrument_id": str(target.id), **params})
        sid = str(cls(config, strategy_id).strategy_id)
        if sid in self.strategies:
            raise ValueError(f"strategy id {sid!r} is already running; pick another strategy_id")
        last: dict[str, dict[str, Any]] = await self.children[MARKET_DATA].last_bars.remote()
        seen = last.get(str(target.id))
        wanted = StrategySpec(strategy, params, sid, str(target.id), broker)
        name = await self._start_strategy(wanted, seen["ts"] if seen else None)
        status: dict[str, Any] = await self.children[name].status.remote()
        return status

    async def strategy_ids(self) -> list[str]:
        return list(self.strategies)

    async def replay(
        self, bars: BarSeries | list[Bar] | dict[str, BarSeries | list[Bar]], batch_size: int = 100, speed: str = "max"
    ) -> dict[str, Any]:
        """Replay bars of the first instrument, or {instrument id: bars} of several as one market."""
        by_id = {str(i.id): i.id for i in self.spec.instruments}
        if not isinstance(bars, dict):
            bars = {str(self.spec.instrument.id): bars}
        unknown = sorted(set(bars) - set(by_id))
        if unknown:
            raise ConfigError(f"no such instrument in this runtime: {unknown}", key="instrument")
        status: dict[str, Any] = await self.children[MARKET_DATA].replay_many.remote(
            {by_id[iid]: series for iid, series in bars.items()}, batch_size, speed
        )
        return status

    async def set_kill_switch(self, on: bool, reason: str) -> Any:
        return await self.children[RISK].set_kill_switch.remote(on, reason)

    async def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, handle in self.children.items():
            if name == ORDER_MANAGER:
                out[name] = await handle.snapshot.remote()
            elif hasattr(handle, "status"):
                out[name] = await handle.status.remote()
        return out

    async def shutdown(self) -> None:
        """Stop strategies and end the actors this orchestrator created (by handle, never by name)."""
        for name, handle in self.children.items():
            if name.startswith("strategy-"):
                await handle.stop.remote()
        for handle in self.children.values():
            ray.kill(handle, no_restart=True)
        self.children.clear()
