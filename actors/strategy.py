"""StrategyActor: hosts one `StrategyHost`. Bars come from the market-data actor (`on_bars`); each bar's
commands go to the order manager, whose answers the host books before its next bar; whatever the venue reports
arrives through `on_events`, in arrival order. Two locks: `bar_lock` takes one delivery of bars at a time, in
order; `lock` guards the host while it changes, and is not held while an order write is on its way, so the venue's
reports (a fill in `close` timing, an acceptance that beat the write's answer) are booked as they come.

Built lazily on the first call, from the order manager's record and the market-data history: the same path on a
first start and after a restart. The rebuilt host replays the bars it had seen, receiving each recorded event
where it received it before and sending nothing again, so it resumes in the state it had.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from typing import Any

import ray

from actors import MARKET_DATA, ORDER_MANAGER
from actors.latency import LatencyHistogram
from actors.storage import call_with_retry
from strategies import resolve_strategy
from trading.data.bars import Bar
from trading.live import StrategyHost
from trading.messages import Message, SubmitOrder
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
        broker: str,
        order_id_prefix: str | None = None,
        live_from_ts: int | None = None,
        warm_up: bool = False,
        history_cap: int = 100_000,
        order_manager: str = ORDER_MANAGER,
        market_data: str = MARKET_DATA,
    ) -> None:
        self.namespace = namespace
        self.strategy = strategy
        self.params = params
        self.instrument = instrument
        self.strategy_id = strategy_id
        self.broker = broker
        self.order_id_prefix = order_id_prefix
        self.live_from_ts = live_from_ts  # added while running: bars up to here only warm the strategy up
        self.warm_up = warm_up  # live venues: the history it starts with only warms it up (no order from it)
        self.history_cap = history_cap
        self.order_manager = order_manager
        self.market_data = market_data
        self.host: StrategyHost | None = None
        self.lock = asyncio.Lock()
        self.bar_lock = asyncio.Lock()
        self.start_lock = asyncio.Lock()
        self.rebuilt_from = 0
        self.rebuilds = 0
        # From this actor receiving a bar to the order manager's answer for the orders it made.
        self.bar_to_order = LatencyHistogram()
        self._oms: Any = None

    async def _ready(self) -> StrategyHost:
        if self.host is not None:
            return self.host
        async with self.start_lock:  # one start path, whichever call comes first (a status read included)
            if self.host is None:
                await self._start()
            assert self.host is not None
            return self.host

    async def rebuild(self) -> None:
        """Rebuild the host from the order manager's record (after the order manager restarted): it replays the
        bars it had stepped, receiving what was recorded, and goes no further than it had gone."""
        async with self.bar_lock:
            async with self.lock:
                until = self.host.last_ts if self.host is not None else None
                self.host = None
            async with self.start_lock:
                await self._start(until)
            self.rebuilds += 1

    async def _start(self, until: int | None = None) -> None:
        cls = resolve_strategy(self.strategy)
        config = build_config(cls, {"instrument_id": str(self.instrument.id), **self.params})
        instance = cls(config, self.strategy_id)
        oms = self._order_manager()
        market_data = ray.get_actor(self.market_data, namespace=self.namespace)
        records, last_order_seq = await call_with_retry(
            lambda: oms.history.remote(instance.strategy_id), "order manager history"
        )
        history = await call_with_retry(lambda: market_data.history.remote(self.instrument.id), "market data history")
        host = StrategyHost(
            instance, self.instrument, history_cap=self.history_cap, order_id_prefix=self.order_id_prefix
        )
        host.load_journal(records, last_order_seq)
        self.rebuilt_from = len(records)
        host.start()
        if history:
            host.on_bars(history)
            if host.replaying:  # a restart: step what it did before, receiving what it received, sending nothing
                host.advance(max_ts=host.replay_until)
            warm_until = history[-1].ts if self.warm_up and until is None else self.live_from_ts
            if warm_until is not None:
                host.skip_through(warm_until)
            await self._drive(host, max_ts=until)
        self.host = host  # only now: every other call waits for the start path to finish

    def _order_manager(self) -> Any:
        if self._oms is None:
            self._oms = ray.get_actor(self.order_manager, namespace=self.namespace)
        return self._oms

    async def on_bars(self, bars: Sequence[Bar]) -> int:
        """New validated bars (a bar already seen is ignored). Returns the bars stepped."""
        received = time.perf_counter()
        async with self.bar_lock:
            host = await self._ready()
            async with self.lock:
                host.on_bars(bars)
            return await self._drive(host, received)

    async def on_events(self, events: list[Message]) -> None:
        """What the venue reported about this strategy's orders, in arrival order."""
        host = await self._ready()
        async with self.lock:
            host.apply_events(events)

    async def _drive(self, host: StrategyHost, received: float | None = None, max_ts: int | None = None) -> int:
        """Step the buffered bars (up to `max_ts`); each bar's commands go to the order manager before the next."""
        stepped = 0
        oms = self._order_manager()
        while True:
            async with self.lock:
                step = host.advance(max_ts)
            stepped += step.bars_stepped
            if not step.commands:
                return stepped
            commands, bar_ts = step.commands, step.bar_ts or 0
            execute = functools.partial(oms.execute.remote, host.strategy_id, commands, self.broker, bar_ts)
            answers = await call_with_retry(execute, "order manager execute")
            if received is not None:
                orders = sum(isinstance(c, SubmitOrder) for c in commands)
                if orders:
                    self.bar_to_order.observe(time.perf_counter() - received, orders)
            async with self.lock:
                host.apply_events(answers)

    async def pause(self) -> None:
        (await self._ready()).pause()

    async def resume(self) -> None:
        (await self._ready()).resume()

    async def stop(self) -> None:
        host = await self._ready()
        async with self.lock:
            host.stop()

    async def update_parameters(self, changes: dict[str, Any]) -> dict[str, Any]:
        host = await self._ready()
        async with self.lock:
            params = host.update_parameters(changes)
            self.params = {**self.params, **changes}
            return params

    async def status(self) -> dict[str, Any]:
        host = await self._ready()
        return {
            **host.status(),
            "broker": self.broker,
            "rebuilt_from": self.rebuilt_from,
            "rebuilds": self.rebuilds,
            "bar_to_order": self.bar_to_order.to_dict(),
        }
