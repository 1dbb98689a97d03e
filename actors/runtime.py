"""RuntimeActor: the supervisor. It creates the runtime's actors from a `RuntimeSpec` (named, one namespace),
wires them, starts the market data (a replay, or each live broker's feed), adds strategies while running, and
reports status. It holds no trading state: a restarted runtime is the same actors starting again, each
rebuilding from the journal and reconciling with the venues.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, field
from typing import Any

import ray
from pydantic import ValidationError

from actors import MARKET_DATA, ORDER_MANAGER, RISK, actor_options, broker_name, strategy_name
from actors.alerts import ALERTS, AlertActor
from actors.broker import BrokerActor
from actors.market_data import MarketDataActor
from actors.order_manager import OrderManagerActor
from actors.risk import RiskActor
from actors.strategy import StrategyActor
from strategies import resolve_strategy
from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.live.config import BrokerConfig, RuntimeConfig, StrategyConfigEntry
from trading.model.identifiers import InstrumentId
from trading.model.instruments import Instrument
from trading.risk.portfolio import RiskModel
from trading.sim.models import SimConfig
from trading.sim.sessions import NS_PER_MINUTE
from trading.strategy import build_config

_BASE36 = string.digits + string.ascii_lowercase


@dataclass(frozen=True)
class RuntimeSpec:
    """A validated config plus what the composition root resolved: storage, the run, the replay's bars."""

    config: RuntimeConfig
    namespace: str = "dto"
    run_id: str = "live"
    database_url: str | None = None
    redis_url: str | None = None
    detached: bool = False
    max_restarts: int = 3
    replay_instrument: Instrument | None = None  # paper brokers trade this one, on these bars
    replay_series: BarSeries | None = None
    sim: SimConfig = field(default_factory=SimConfig)
    bar_interval_ns: int = NS_PER_MINUTE
    risk_model: RiskModel | None = None  # the daily history the risk actor values books with

    @property
    def run_tag(self) -> str:
        """Four characters that make a live strategy's client order ids unique at its venue across runs."""
        number = int(hashlib.sha1(self.run_id.encode(), usedforsecurity=False).hexdigest()[:8], 16)
        tag = ""
        for _ in range(4):
            number, digit = divmod(number, 36)
            tag += _BASE36[digit]
        return tag


@ray.remote
class RuntimeActor:
    def __init__(self, spec: RuntimeSpec) -> None:
        self.spec = spec
        self.children: dict[str, Any] = {}
        self.instruments: dict[str, Instrument] = {}
        self.strategies: dict[str, StrategyConfigEntry] = {}

    def _options(self, name: str) -> dict[str, Any]:
        spec = self.spec
        return actor_options(name, spec.namespace, detached=spec.detached, max_restarts=spec.max_restarts)

    def _kind(self, broker: str) -> str:
        return self.spec.config.broker(broker).kind

    async def start(self) -> dict[str, Any]:
        spec, config = self.spec, self.spec.config
        ns = spec.namespace
        paper = [b.name for b in config.brokers if b.kind == "paper"]
        self.children[RISK] = RiskActor.options(**self._options(RISK)).remote(  # type: ignore[attr-defined]
            config.risk.model_dump(exclude_none=True), redis_url=spec.redis_url, namespace=ns,
            order_manager=ORDER_MANAGER, risk_model=spec.risk_model,
        )
        for broker in config.brokers:
            name = broker_name(broker.name)
            instruments = [spec.replay_instrument] if broker.kind == "paper" and spec.replay_instrument else []
            self.children[name] = BrokerActor.options(**self._options(name)).remote(  # type: ignore[attr-defined]
                ns, broker, instruments=instruments, sim=spec.sim, bar_interval_ns=spec.bar_interval_ns,
                database_url=spec.database_url, stream=f"paper:{broker.name}:{spec.run_id}",
            )
        for entry in config.strategies:
            await self._instrument(entry)
        self.children[ORDER_MANAGER] = OrderManagerActor.options(**self._options(ORDER_MANAGER)).remote(  # type: ignore[attr-defined]
            ns, [b.name for b in config.brokers], database_url=spec.database_url, redis_url=spec.redis_url,
            stream=f"oms:{spec.run_id}", instruments=list(self.instruments.values()),
            reconcile_every_s=config.reconcile_every_s if len(paper) < len(config.brokers) else None,
        )
        market_data = MarketDataActor.options(**self._options(MARKET_DATA)).remote(ns)  # type: ignore[attr-defined]
        self.children[MARKET_DATA] = market_data
        if spec.replay_instrument is not None:
            for paper_broker in paper:
                await market_data.match_on.remote(spec.replay_instrument.id, broker_name(paper_broker))
        if config.notifications is not None:  # alerts: fed by Redis and reads, never on the order path
            self.children[ALERTS] = AlertActor.options(**self._options(ALERTS)).remote(  # type: ignore[attr-defined]
                ns, config.notifications, redis_url=spec.redis_url, outbox=config.notifications.outbox,
                run_id=spec.run_id, risk=RISK, order_manager=ORDER_MANAGER,
            )
            await self.children[ALERTS].start.remote()
        await self.children[ORDER_MANAGER].start.remote()
        for entry in config.strategies:
            await self._start_strategy(entry, None)
        if spec.replay_series is not None and spec.replay_instrument is not None and config.replay is not None:
            await market_data.start_replay.remote({spec.replay_instrument.id: spec.replay_series}, config.replay.speed)
        for broker in config.brokers:
            wanted = sorted({InstrumentId.parse(s.instrument) for s in config.strategies if s.broker == broker.name},
                            key=str)
            if broker.kind != "paper" and wanted:
                await market_data.follow.remote(broker, wanted, config.warmup_bars)
        return await self.status()

    async def _instrument(self, entry: StrategyConfigEntry) -> Instrument:
        """The strategy's instrument: the replay's for a paper broker, else as its venue describes it."""
        known = self.instruments.get(entry.instrument)
        if known is not None:
            return known
        if self._kind(entry.broker) == "paper":
            instrument = self.spec.replay_instrument
            if instrument is None or str(instrument.id) != entry.instrument:
                have = str(instrument.id) if instrument is not None else None
                raise ConfigError(
                    f"strategies: {entry.id} trades {entry.instrument} on paper broker {entry.broker}, "
                    f"but the replay has {have}", key="instrument",
                )
        else:
            symbol = InstrumentId.parse(entry.instrument).symbol
            instrument = await self.children[broker_name(entry.broker)].instrument.remote(symbol)
            if str(instrument.id) != entry.instrument:
                raise ConfigError(f"strategies: {entry.id}: the venue calls it {instrument.id}, not "
                                  f"{entry.instrument}", key="instrument")
        self.instruments[entry.instrument] = instrument
        return instrument

    async def _start_strategy(self, entry: StrategyConfigEntry, live_from_ts: int | None) -> str:
        spec = self.spec
        instrument = await self._instrument(entry)
        name = strategy_name(entry.id)
        live = self._kind(entry.broker) != "paper"
        self.children[name] = StrategyActor.options(**self._options(name)).remote(  # type: ignore[attr-defined]
            spec.namespace,
            entry.strategy,
            {**entry.params, "size": entry.size},
            instrument,
            strategy_id=entry.id,
            broker=entry.broker,
            order_id_prefix=f"{entry.id}-{spec.run_tag}" if live else None,
            live_from_ts=live_from_ts,
            warm_up=live,
        )
        await self.children[MARKET_DATA].subscribe.remote(instrument.id, name)
        self.strategies[entry.id] = entry
        if ALERTS in self.children:
            await self.children[ALERTS].watch_strategy.remote(name, entry.id)
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
        """Start one more strategy while the runtime runs. It warms up on the bars seen so far without trading on
        them and trades from the next bar. Raises ConfigError for an unknown strategy, instrument or broker or bad
        parameters, ValueError for an id already running. Returns its status."""
        params = dict(params or {})
        cls = resolve_strategy(strategy)
        first = self.spec.config.strategies[0] if self.spec.config.strategies else None
        broker = broker or (first.broker if first is not None else self.spec.config.brokers[0].name)
        if broker not in {b.name for b in self.spec.config.brokers}:
            raise ConfigError(f"unknown broker {broker!r}", key="broker")
        instrument = instrument or (first.instrument if first is not None else None)
        if instrument is None and self.spec.replay_instrument is not None:
            instrument = str(self.spec.replay_instrument.id)
        if instrument is None:
            raise ConfigError("name the instrument the strategy trades", key="instrument")
        size = params.pop("size", 1)
        build_config(cls, {"instrument_id": instrument, **params})  # a bad parameter fails here, named
        sid = strategy_id or cls.name or strategy
        if sid in self.strategies:
            raise ValueError(f"strategy id {sid!r} is already running; pick another strategy_id")
        try:
            entry = StrategyConfigEntry(id=sid, strategy=strategy, params=params, instrument=instrument,
                                        broker=broker, size=size)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(p) for p in error["loc"]) or "strategy"
            raise ConfigError(f"{key}: {error['msg']}", key="strategy_id" if key == "id" else key) from None
        last: dict[str, dict[str, Any]] = await self.children[MARKET_DATA].last_bars.remote()
        seen = last.get(instrument)
        name = await self._start_strategy(entry, seen["ts"] if seen else None)
        status: dict[str, Any] = await self.children[name].status.remote()
        return status

    async def brokers(self) -> list[BrokerConfig]:
        """The config's broker accounts (name, kind, live flag, non-secret settings), for the gateway."""
        return list(self.spec.config.brokers)

    async def strategy_ids(self) -> list[str]:
        return list(self.strategies)

    async def wait_replay(self) -> dict[str, Any]:
        status: dict[str, Any] = await self.children[MARKET_DATA].wait_replay.remote()
        return status

    async def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, handle in self.children.items():
            out[name] = await (handle.snapshot.remote() if name == ORDER_MANAGER else handle.status.remote())
        return out

    async def shutdown(self) -> None:
        """Stop strategies and end the actors this runtime created (by handle, never by name)."""
        for name, handle in self.children.items():
            if name.startswith("strategy-"):
                await handle.stop.remote()
        await self.children[MARKET_DATA].stop.remote()
        await self.children[ORDER_MANAGER].stop.remote()
        for handle in self.children.values():
            ray.kill(handle, no_restart=True)
        self.children.clear()
