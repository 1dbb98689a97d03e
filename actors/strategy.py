"""StrategyActor: hosts one `StrategyHost`. Built lazily on the first call, from the order manager's record
and the market-data history: the same path on a first start and after a restart."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

import ray

from actors.storage import call_with_retry
from strategies import resolve_strategy
from trading.data.bars import Bar
from trading.live import StrategyHost
from trading.model.instruments import Instrument
from trading.strategy import build_config


@ray.remote
class StrategyActor:
    def __init__(
        self,
        namespace: str,
        strategy: str,
        params: dict[str, Any],
        instrument: Instrument,
        *,
        strategy_id: str | None,
        order_manager: str,
        market_data: str,
        history_cap: int = 100_000,
        live_from_ts: int | None = None,
        broker: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.strategy = strategy
        self.params = params
        self.instrument = instrument
        self.strategy_id = strategy_id
        self.order_manager = order_manager
        self.market_data = market_data
        self.history_cap = history_cap
        self.broker = broker  # the broker account its orders go to (None: the runtime's first)
        self.live_from_ts = live_from_ts  # added while running: bars up to here only warm the strategy up
        self.host: StrategyHost | None = None
        self.lock = asyncio.Lock()
        self._oms: Any = None
        self.rebuilt_from: int = 0  # how many recorded events the last start replayed (0 on a clean start)

    async def _ready(self) -> StrategyHost:
        if self.host is not None:
            return self.host
        cls = resolve_strategy(self.strategy)
        config = build_config(cls, {"instrument_id": str(self.instrument.id), **self.params})
        instance = cls(config, self.strategy_id)
        oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        market_data = ray.get_actor(self.market_data, namespace=self.namespace)
        records, _ = await call_with_retry(lambda: oms.history.remote(instance.strategy_id), "order manager history")
        history = await call_with_retry(lambda: market_data.history.remote(self.instrument.id), "market data history")
        host = StrategyHost(instance, self.instrument, history_cap=self.history_cap)
        host.load_journal(records)
        self.rebuilt_from = len(records)
        host.start()
        self.host = host
        if history:
            host.on_bars(history)
            if self.live_from_ts is not None:
                host.skip_through(self.live_from_ts)
            await self._drive(host)
        return host

    async def on_bars(self, bars: Sequence[Bar]) -> int:
        """New validated bars (idempotent by timestamp: a re-sent batch is ignored). Returns bars stepped."""
        async with self.lock:
            host = await self._ready()
            host.on_bars(bars)
            return await self._drive(host)

    async def _drive(self, host: StrategyHost) -> int:
        if self._oms is None:
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        oms = self._oms
        stepped = 0
        while True:
            step = host.advance()
            stepped += step.bars_stepped
            if step.needs_sync_after_ts is None:
                return stepped
            before = host.horizon_ts
            answers, events, horizon = await call_with_retry(
                functools.partial(oms.route.remote, host.strategy_id, host.instrument_id, step, self.broker),
                "order manager route",
            )
            host.apply_events(answers)
            host.apply_events(events, horizon)
            if not step.commands and host.horizon_ts <= before:
                return stepped

    async def pause(self) -> None:
        (await self._ready()).pause()

    async def resume(self) -> None:
        (await self._ready()).resume()

    async def stop(self) -> None:
        (await self._ready()).stop()

    async def update_parameters(self, changes: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            params = (await self._ready()).update_parameters(changes)
            self.params = {**self.params, **changes}
            return params

    async def status(self) -> dict[str, Any]:
        host = await self._ready()
        return {**host.status(), "rebuilt_from": self.rebuilt_from}
