"""MarketDataActor: validated bars to the venues that match on them, the order manager and the strategies.

Two sources, one delivery path:

- **A replay** (`replay`: a file, for `dto paper` and the demo) runs on a clock: a bar goes to the paper venues
  (which match against it) and only once their reports have reached the strategies does it go to the order
  manager and the strategies; once every strategy has finished the bar and the venues' answers are delivered, the
  next bar is handed out. That is the backtest's order of events, so a replay's fills equal the backtest's; the
  clock waits for work that is happening, never for an answer that may not come. `speed` paces it in market time.
- **A live feed** (`follow`): each broker's own 1-minute bars (Alpaca's stock stream, ccxt's watch_ohlcv), warmed
  up from the venue's history up to the venue's clock, validated like file data (bad bars counted, never passed
  on), and a gap after a dropped stream backfilled from the venue's history before the next bar goes out. Live,
  nothing waits for a strategy: each has its own outbox, and the bars that arrive while it is busy (say, its
  order write hangs at the venue) go to it together, in order, once it is free; the others are not held up.

It keeps the accepted history per instrument: a restarted strategy actor replays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ray

from actors import ORDER_MANAGER
from actors.storage import call_with_retry
from trading.brokers.protocol import BarEvent
from trading.brokers.registry import config_from_settings, create_broker
from trading.brokers.settings import SettingsSource
from trading.data.bars import Bar, BarSeries
from trading.live import MarketDataFeed, parse_speed
from trading.live.config import BrokerConfig
from trading.messages import MarketDataRejected
from trading.model.identifiers import InstrumentId
from trading.sim.sessions import NS_PER_MINUTE

log = logging.getLogger(__name__)
HISTORY_CAP = 100_000
DATA_CLIENT_ID_OFFSET = 100  # IB: the market-data connection's client id is the broker's plus this
STREAM_RETRY_S = (0.5, 1.0, 2.0, 5.0)


@ray.remote
class MarketDataActor:
    def __init__(self, namespace: str, order_manager: str = ORDER_MANAGER) -> None:
        self.namespace = namespace
        self.order_manager = order_manager
        self.feed = MarketDataFeed()
        self.bars: dict[InstrumentId, list[Bar]] = {}
        self.strategies: dict[InstrumentId, list[str]] = {}  # instrument -> strategy actor names
        self.venues: dict[InstrumentId, list[str]] = {}  # instrument -> paper broker actor names
        self.rejected: list[MarketDataRejected] = []
        self.backfilled = 0
        self.stream_restarts = 0
        self.replay_done = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.lock = asyncio.Lock()  # one bar at a time through the runtime
        self.live = False  # following live feeds: strategies get bars through their outboxes, unawaited
        self.outboxes: dict[str, _Outbox] = {}
        self._handles: dict[str, Any] = {}

    def _actor(self, name: str) -> Any:
        if name not in self._handles:
            self._handles[name] = ray.get_actor(name, namespace=self.namespace)
        return self._handles[name]

    async def subscribe(self, instrument_id: InstrumentId, strategy_actor: str) -> None:
        names = self.strategies.setdefault(instrument_id, [])
        if strategy_actor not in names:
            names.append(strategy_actor)

    async def match_on(self, instrument_id: InstrumentId, broker_actor: str) -> None:
        """A paper venue that matches its orders on this instrument's bars."""
        names = self.venues.setdefault(instrument_id, [])
        if broker_actor not in names:
            names.append(broker_actor)

    # ------------------------------------------------------------------------------------------- delivery
    async def publish(self, instrument_id: InstrumentId, bars: Sequence[Bar]) -> int:
        """Validate `bars` and deliver the good ones, one bar at a time through the clock's phases. Returns how
        many were delivered."""
        async with self.lock:
            good, rejected = self.feed.validate(instrument_id, bars)
            self.rejected = [*self.rejected[-999:], *rejected]
            for bar in good:
                await self._deliver(instrument_id, bar)
            return len(good)

    async def _deliver(self, instrument_id: InstrumentId, bar: Bar) -> None:
        history = self.bars.setdefault(instrument_id, [])
        history.append(bar)
        del history[:-HISTORY_CAP]
        venues = [self._actor(name) for name in self.venues.get(instrument_id, [])]
        # 1. the venues match on the bar; their fills reach the strategies before the strategies see it
        await asyncio.gather(
            *(call_with_retry(functools.partial(v.on_bar.remote, instrument_id, bar), "venue bar") for v in venues)
        )
        await asyncio.gather(*(call_with_retry(v.settled.remote, "venue settled") for v in venues))
        # 2. the order manager marks it, then every strategy of the instrument steps it (and sends its orders).
        # Live, the strategies get it first: one hop less between a bar and an order (the order manager's mark
        # follows a moment later; an order carries the bar it came from).
        oms = self._actor(self.order_manager)
        names = self.strategies.get(instrument_id, [])
        if self.live:
            for name in names:
                self._outbox(name).put(bar)
            await call_with_retry(functools.partial(oms.on_bar.remote, instrument_id, bar), "order manager bar")
            return
        await call_with_retry(functools.partial(oms.on_bar.remote, instrument_id, bar), "order manager bar")
        await asyncio.gather(*(self._to_strategy(name, [bar]) for name in names))
        # 3. the venues' answers to those orders (acceptances, fills in close timing) are delivered
        await asyncio.gather(*(call_with_retry(v.settled.remote, "venue settled") for v in venues))

    async def _to_strategy(self, name: str, bars: list[Bar]) -> None:
        try:
            strategy = self._actor(name)
        except ValueError:
            return  # removed meanwhile
        await call_with_retry(functools.partial(strategy.on_bars.remote, bars), f"strategy {name}")

    def _outbox(self, name: str) -> _Outbox:
        outbox = self.outboxes.get(name)
        if outbox is None:
            outbox = self.outboxes[name] = _Outbox(functools.partial(self._to_strategy, name))
        return outbox

    # --------------------------------------------------------------------------------------------- replay
    async def replay(self, series: dict[InstrumentId, BarSeries], speed: str = "max") -> dict[str, Any]:
        """Replay real bars of one or more instruments as one market, in time order, on the clock."""
        factor = parse_speed(speed)
        merged = sorted(
            ((bar.ts, str(iid), iid, bar) for iid, s in series.items() for bar in s.bars()),
            key=lambda row: (row[0], row[1]),
        )
        started = time.monotonic()
        first_ts = merged[0][0] if merged else 0
        for ts, _, instrument_id, bar in merged:
            if factor is not None:
                due = started + (ts - first_ts) / 1e9 / factor
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self.publish(instrument_id, [bar])
        self.replay_done.set()
        return await self.status()

    async def start_replay(self, series: dict[InstrumentId, BarSeries], speed: str = "max") -> None:
        """`replay` in the background (for `dto run`)."""
        self.tasks.append(asyncio.create_task(self._quietly(self.replay(series, speed))))

    async def wait_replay(self) -> dict[str, Any]:
        await self.replay_done.wait()
        return await self.status()

    # ----------------------------------------------------------------------------------------------- live
    async def follow(self, broker: BrokerConfig, instruments: Sequence[InstrumentId], warmup_bars: int) -> None:
        """Stream `broker`'s 1-minute bars for `instruments` (its own data connection), after a warm-up."""
        self.live = True
        env = broker.environment()
        if broker.kind == "ib":
            # TWS refuses a second session with the broker actor's client id: the data connection takes its own.
            env["IB_CLIENT_ID"] = str(int(env.get("IB_CLIENT_ID") or 1) + DATA_CLIENT_ID_OFFSET)
        settings = config_from_settings(broker.kind, SettingsSource(env=env))
        client: Any = create_broker(broker.name, settings, kind=broker.kind)
        await client.connect()
        now = await client.venue_time_ns()
        for instrument_id in instruments:
            start = now - warmup_bars * NS_PER_MINUTE
            warm = await client.history(instrument_id, start, now)
            await self.publish(instrument_id, warm)
        self.tasks.append(asyncio.create_task(self._quietly(self._stream(client, list(instruments)))))

    async def _stream(self, client: Any, instruments: list[InstrumentId]) -> None:
        attempt = 0
        while True:
            try:
                async for event in client.market_data(instruments):
                    if not isinstance(event, BarEvent):
                        continue
                    attempt = 0
                    await self._backfill(client, event.instrument_id, event.bar.ts)
                    await self.publish(event.instrument_id, [event.bar])
                raise ConnectionError("the market-data stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stream_restarts += 1
                log.warning("market data: stream dropped (%s); reconnecting", exc)
                await asyncio.sleep(STREAM_RETRY_S[min(attempt, len(STREAM_RETRY_S) - 1)])
                attempt += 1

    async def _backfill(self, client: Any, instrument_id: InstrumentId, next_ts: int) -> None:
        """Bars missed between the last delivered bar and `next_ts` (a dropped stream), from the venue's history,
        before the next bar goes out: strategies see the same sequence as if nothing had dropped."""
        last = self.feed.last_ts.get(instrument_id)
        if last is None or next_ts - last <= NS_PER_MINUTE:
            return
        missed = await client.history(instrument_id, last + 1, next_ts)
        if missed:
            self.backfilled += len(missed)
            await self.publish(instrument_id, missed)

    @staticmethod
    async def _quietly(work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("market data task failed")

    # ---------------------------------------------------------------------------------------------- reads
    async def delivered(self) -> bool:
        """True once every bar published so far has reached every strategy (live outboxes drained)."""
        return all(outbox.idle for outbox in self.outboxes.values())

    async def history(self, instrument_id: InstrumentId) -> list[Bar]:
        return list(self.bars.get(instrument_id, []))

    async def last_bars(self) -> dict[str, dict[str, Any]]:
        return {str(i): bars[-1].to_dict() for i, bars in self.bars.items() if bars}

    async def status(self) -> dict[str, Any]:
        return {
            **self.feed.status(),
            "rejected_by_reason": self.feed.rejected_by_reason(),
            "backfilled": self.backfilled,
            "stream_restarts": self.stream_restarts,
            "replay_done": self.replay_done.is_set(),
        }

    async def stop(self) -> None:
        for outbox in self.outboxes.values():
            outbox.close()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Outbox:
    """Bars for one strategy, in order: one call in flight; what queued meanwhile goes in the next call."""

    def __init__(self, send: Callable[[list[Bar]], Awaitable[None]]) -> None:
        self.send = send
        self.waiting: list[Bar] = []
        self.task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not self.waiting and (self.task is None or self.task.done())

    def put(self, bar: Bar) -> None:
        self.waiting.append(bar)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self.waiting:
            bars, self.waiting = self.waiting, []
            try:
                await self.send(bars)
            except Exception:  # the strategy failed on them: it says so in its own log; the feed goes on
                log.exception("delivering %d bars to a strategy failed", len(bars))

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
