"""StrategyActor: hosts one `StrategyHost`, driven by an `OptimisticHost` (steps ahead on its paper broker's
predicted answers, all confirmed by one order-manager call per batch). Built lazily on the first call, from the
order manager's record and the market-data history: the same path on a first start, after a restart, and
after a prediction failed."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from typing import Any

import ray

from actors.latency import LatencyHistogram
from actors.packing import packed
from actors.storage import call_with_retry
from actors.tuning import tune_gc
from strategies import resolve_strategy
from trading.data.bars import Bar
from trading.live import OptimisticHost, Outcome, ShadowSpec, StrategyHost
from trading.messages import SubmitOrder
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
        shadow: ShadowSpec | None = None,
    ) -> None:
        tune_gc()
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
        self.shadow = shadow
        self.runner: OptimisticHost | None = None  # outlives a rebuilt host: it keeps the prediction back-off
        self.lock = asyncio.Lock()
        self._oms: Any = None
        self.rebuilt_from: int = 0  # how many recorded events the last start replayed (0 on a clean start)
        # From this actor receiving a batch of bars to the order manager's answer for the orders the batch made
        # (risk checked, journaled, at the broker); a replay's batches of many bars count as one delivery.
        self.bar_to_order = LatencyHistogram()

    async def _ready(self) -> StrategyHost:
        if self.host is not None:
            return self.host
        cls = resolve_strategy(self.strategy)
        config = build_config(cls, {"instrument_id": str(self.instrument.id), **self.params})
        instance = cls(config, self.strategy_id)
        oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        market_data = ray.get_actor(self.market_data, namespace=self.namespace)
        records, last_order_seq = await call_with_retry(
            lambda: oms.history.remote(instance.strategy_id), "order manager history"
        )
        history = await call_with_retry(lambda: market_data.history.remote(self.instrument.id), "market data history")
        host = StrategyHost(instance, self.instrument, history_cap=self.history_cap)
        host.load_journal(records, last_order_seq)
        self.rebuilt_from = len(records)
        host.start()
        self.host = host
        if self.runner is None:
            self.runner = OptimisticHost(host, self.shadow)
        else:
            self.runner.rebuilt(host)
        if history:
            host.on_bars(history)
            if self.live_from_ts is not None:
                host.skip_through(self.live_from_ts)
            await self._drive()
        return host

    async def on_bars(self, bars: Sequence[Bar]) -> int:
        """New validated bars (idempotent by timestamp: a re-sent batch is ignored). Returns bars stepped."""
        received = time.perf_counter()
        async with self.lock:
            await self._ready()
            assert self.runner is not None
            self.runner.on_bars(bars)
            return await self._drive(received)

    async def _drive(self, received: float | None = None) -> int:
        """Step as far as the bars go: each round sends the steps made (predicted ones and at most one that
        waits) in one call, and a failed prediction rebuilds the host (the restart path). `received`: when the
        bars arrived (perf_counter), for the bar-to-order latency; None when a rebuild replays history."""
        if self._oms is None:
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        oms = self._oms
        runner = self.runner
        assert runner is not None
        stepped = 0
        while True:
            plan = runner.plan()
            stepped += plan.bars_stepped
            if not plan.steps:
                return stepped
            host = runner.host
            answers = await call_with_retry(
                functools.partial(
                    oms.route_many.remote,
                    host.strategy_id,
                    host.instrument_id,
                    packed(plan.host_steps),
                    self.broker,
                    packed(plan.predictions),
                ),
                "order manager route",
            )
            if received is not None:
                orders = sum(isinstance(c, SubmitOrder) for step in plan.host_steps for c in step.commands)
                if orders:
                    self.bar_to_order.observe(time.perf_counter() - received, orders)
            outcome = runner.confirm(plan, answers)
            if outcome is Outcome.WAITING:
                return stepped
            if outcome is Outcome.DIVERGED:
                self.host = None
                await self._ready()  # replays the record, then drives the new host itself
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
        predictions = self.runner.status() if self.runner is not None else {}
        return {
            **host.status(),
            "rebuilt_from": self.rebuilt_from,
            **predictions,
            "bar_to_order": self.bar_to_order.to_dict(),
        }
