"""The strategy host: runs one strategy live, bar by bar, exactly as the backtest engine would.

The host implements the strategy's `TradingContext`. It keeps the bar history in a growing buffer (at most
`history_cap` bars; beyond that a sliding window of the newest bars, so indicators with unbounded memory such
as an EMA may then differ slightly from a full-history backtest), recomputes `strategy.indicators()` once per
batch of new bars (indicators are causal, so values equal the backtest's) and steps `on_bar` bar by bar.

Orders the strategy submits become outgoing commands (`SubmitOrder`, `CancelOrder`, `ReplaceOrder`) with
client order ids `<prefix>-000001`, ... (the prefix is the strategy id, plus the run's tag live, so ids stay
unique at a venue across runs). A driver (the strategy actor) runs it as

    host.on_bars(bars)
    while (step := host.advance()).commands:   # steps bars until one produced commands
        answers = order_manager.execute(step.commands)
        host.apply_events(answers)              # denials, rejections, acceptances: before the next bar
    ...
    host.apply_events(events)                  # whatever the venue reports later, in arrival order

Events reach the strategy when they arrive; a replay that equals the backtest delivers a bar's fills before the
next bar because its clock waits for them (see `actors/market_data.py`), not because the host waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np

from trading.data.bars import Bar, BarSeries
from trading.errors import ConfigError
from trading.live.order_events import apply_order_event, event_order_id, fresh_copy
from trading.messages import (
    CancelOrder,
    Message,
    OrderAccepted,
    OrderDenied,
    OrderFilled,
    OrderSubmitted,
    ReplaceOrder,
    SubmitOrder,
)
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TradeId
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderStatus
from trading.strategy import Strategy, build_config

ZERO = Decimal(0)
NEVER = -(2**62)
DEFAULT_HISTORY_CAP = 100_000


class HostState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"  # bars still update the history; on_bar is not called
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class HostStep:
    """What `advance` produced: the commands of the bar with `bar_ts` (none when it ran out of bars)."""

    commands: list[Message]
    bar_ts: int | None
    bars_stepped: int


class _History:
    """The bar buffer: numpy columns with spare capacity plus the `Bar` objects, a sliding window at the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.start = 0  # absolute index of the oldest kept bar
        self.bars: list[Bar] = []
        size = 1024
        self._columns = np.empty((6, size), dtype=np.float64)
        self._ts = np.empty(size, dtype=np.int64)
        self._n = 0

    @property
    def end(self) -> int:
        return self.start + len(self.bars)

    def append(self, bars: Sequence[Bar]) -> None:
        n = len(bars)
        if self._n + n > len(self._ts):
            size = max(2 * len(self._ts), self._n + n)
            columns = np.empty((6, size), dtype=np.float64)
            columns[:, : self._n] = self._columns[:, : self._n]
            ts = np.empty(size, dtype=np.int64)
            ts[: self._n] = self._ts[: self._n]
            self._columns, self._ts = columns, ts
        start, end = self._n, self._n + n
        self._ts[start:end] = [bar.ts for bar in bars]  # a column at a time: one numpy call per column, not per bar
        self._columns[0, start:end] = [bar.open for bar in bars]
        self._columns[1, start:end] = [bar.high for bar in bars]
        self._columns[2, start:end] = [bar.low for bar in bars]
        self._columns[3, start:end] = [bar.close for bar in bars]
        self._columns[4, start:end] = [bar.volume for bar in bars]
        self._n = end
        self.bars.extend(bars)

    def trim(self, keep_from: int) -> None:
        """Drop bars before absolute index `keep_from` when the window exceeds the cap."""
        drop = min(len(self.bars) - self.cap, keep_from - self.start)
        if drop <= 0:
            return
        del self.bars[:drop]
        self._columns[:, : self._n - drop] = self._columns[:, drop : self._n].copy()
        self._ts[: self._n - drop] = self._ts[drop : self._n].copy()
        self._n -= drop
        self.start += drop

    def bar(self, absolute: int) -> Bar:
        return self.bars[absolute - self.start]

    def series(self, source: str) -> BarSeries:
        n = self._n
        return BarSeries(
            ts=self._ts[:n],
            open=self._columns[0, :n],
            high=self._columns[1, :n],
            low=self._columns[2, :n],
            close=self._columns[3, :n],
            volume=self._columns[4, :n],
            source=source,
        )


class StrategyHost:
    """Hosts one strategy live; implements `TradingContext`. Pure Python: the strategy actor only wraps it."""

    def __init__(
        self,
        strategy: Strategy[Any],
        instrument: Instrument,
        *,
        history_cap: int = DEFAULT_HISTORY_CAP,
        order_seq: int = 0,
        order_id_prefix: str | None = None,
    ) -> None:
        if strategy.instrument_id != instrument.id:
            raise ConfigError(
                f"strategy {strategy.strategy_id} trades {strategy.instrument_id}, the host got {instrument.id}",
                key="instrument_id",
            )
        if history_cap < 1:
            raise ConfigError(f"history_cap must be at least 1, got {history_cap}", key="history_cap")
        self.strategy = strategy
        self.instrument_obj = instrument
        self.history_cap = history_cap
        strategy.instrument_id = instrument.id
        self.state = HostState.CREATED
        self.order_seq = order_seq
        self.order_id_prefix = order_id_prefix or str(strategy.strategy_id)
        self.orders: dict[ClientOrderId, Order] = {}
        self._live: dict[ClientOrderId, Order] = {}  # the subset of `orders` still live: checked every bar
        self.fills: list[Fill] = []
        self._positions: dict[InstrumentId, Decimal] = {}
        self._trade_ids: set[TradeId] = set()
        self._history = _History(history_cap)
        self._next = 0  # absolute index of the next bar to step
        self._last_ts: int | None = None
        self._bar: Bar | None = None
        self._outgoing: list[Message] = []
        self._stale = True
        self._indicators_for: tuple[int, int] | None = None  # (history start, end) the strategy's values cover
        self._replay: dict[int, list[Message]] = {}
        self._replay_until = NEVER
        self._seq_floor = 0  # order ids known to the order manager (a rebuilt host's new ids come after them)

    @property
    def strategy_id(self) -> StrategyId:
        return self.strategy.strategy_id

    @property
    def instrument_id(self) -> InstrumentId:
        return self.instrument_obj.id

    # -------------------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self.state is HostState.CREATED:
            self.strategy.bind(self)
            self.strategy.on_start()
        if self.state is not HostState.STOPPED:
            self.state = HostState.RUNNING

    def pause(self) -> None:
        if self.state is HostState.RUNNING:
            self.state = HostState.PAUSED

    def resume(self) -> None:
        if self.state is HostState.PAUSED:
            self.state = HostState.RUNNING

    def stop(self) -> None:
        if self.state in (HostState.RUNNING, HostState.PAUSED):
            self.strategy.on_stop()
        self.state = HostState.STOPPED

    def update_parameters(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and apply new parameters (not the instrument); indicators are recomputed before the next bar."""
        if "instrument_id" in changes and changes["instrument_id"] != str(self.instrument_id):
            raise ConfigError("a running strategy cannot change its instrument", key="instrument_id")
        config = build_config(type(self.strategy), {**self.strategy.config.model_dump(), **changes})
        self.strategy.config = config
        self._stale = True
        self._indicators_for = None  # new parameters: every value changes
        return config.model_dump()

    # ----------------------------------------------------------------------------------- restart path
    def load_journal(self, records: Iterable[tuple[int, Message]], last_order_seq: int = 0) -> None:
        """Prepare a rebuilt host to replay what it already did: `records` are (after_ts, event) pairs from the
        order manager's journal, delivered right after `on_bar` of the bar `after_ts`. While replaying bars up to
        the last recorded one, the strategy's commands are not sent again (they were sent before). Past the
        replay, new order ids continue after `last_order_seq` (ids of orders closed unsent stay taken)."""
        self._seq_floor = max(self._seq_floor, last_order_seq)
        for after_ts, event in records:
            self._replay.setdefault(after_ts, []).append(event)
            self._replay_until = max(self._replay_until, after_ts)

    # ------------------------------------------------------------------------------------------ input
    def on_bars(self, bars: Sequence[Bar]) -> None:
        """Append validated bars of the host's instrument; they are stepped by `advance`."""
        if not bars:
            return
        last = self._history.bars[-1].ts if self._history.bars else NEVER
        fresh = [b for b in bars if b.ts > last]
        self._history.append(fresh)
        self._history.trim(self._next)
        self._stale = True

    def apply_events(self, events: Iterable[Message]) -> None:
        """Book order events and fills (answers of the order manager, reports of the venue), in order."""
        for event in events:
            self._apply(event)

    # ---------------------------------------------------------------------------------------- stepping
    def advance(self, max_ts: int | None = None) -> HostStep:
        """Step buffered bars (up to `max_ts`) until one produces commands, or none is left."""
        if self.state in (HostState.CREATED, HostState.STOPPED):
            return HostStep([], None, 0)
        history = self._history
        stepped = 0
        strategy = self.strategy
        while self._next < history.end:
            bar = history.bar(self._next)
            if max_ts is not None and bar.ts > max_ts:
                break
            replaying = bar.ts <= self._replay_until
            if self._replay:
                self._apply_recorded(before_ts=bar.ts)
            self._bar = bar
            if self.state is HostState.RUNNING:
                if self._stale:
                    series = history.series(str(self.instrument_id))
                    known = self._indicators_for
                    unchanged = known[1] - known[0] if known is not None and known[0] == history.start else 0
                    strategy.set_indicators(strategy.indicators(series), len(series), unchanged)
                    self._indicators_for = (history.start, history.end)
                    self._stale = False
                strategy.i = self._next - history.start
                strategy.on_bar(bar)
            self._next += 1
            self._last_ts = bar.ts
            stepped += 1
            if replaying:
                self._outgoing.clear()  # sent before the restart
                recorded = self._replay.pop(bar.ts, None)
                if recorded:
                    self.apply_events(recorded)
                continue
            if self._outgoing:
                commands, self._outgoing = self._outgoing, []
                return HostStep(commands, bar.ts, stepped)
        return HostStep([], None, stepped)

    def skip_through(self, ts: int) -> None:
        """Treat buffered bars up to `ts` as warm-up history: indicators see them, `on_bar` does not, and no
        order comes from them (a strategy added while the market runs trades from the next bar on)."""
        history = self._history
        while self._next < history.end and history.bar(self._next).ts <= ts:
            self._last_ts = history.bar(self._next).ts
            self._next += 1
        if self._replay:
            self._apply_recorded(before_ts=ts + 1)

    def _apply_recorded(self, before_ts: int) -> None:
        """Recorded events of bars the host will not step (before its history, or skipped as warm-up): applied
        in order before the next bar, so a rebuilt host holds every order and fill it had."""
        for ts in sorted(k for k in self._replay if k < before_ts):
            self.apply_events(self._replay.pop(ts))

    @property
    def last_ts(self) -> int | None:
        """The ts of the last bar stepped."""
        return self._last_ts

    @property
    def pending_bars(self) -> int:
        return self._history.end - self._next

    @property
    def has_live_orders(self) -> bool:
        """An order is working at the broker, or sent and not answered yet."""
        return bool(self._live)

    @property
    def replay_until(self) -> int | None:
        """The bar after which the recorded past ends (None: nothing recorded)."""
        return None if self._replay_until == NEVER else self._replay_until

    @property
    def replaying(self) -> bool:
        """Bars of the recorded past (`load_journal`) are still to be stepped: their events come from the
        record, not from a broker."""
        return self._replay_until != NEVER and (self._last_ts is None or self._last_ts < self._replay_until)

    # -------------------------------------------------------------------------------- TradingContext
    def submit(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        self._live[order.client_order_id] = order
        self._outgoing.append(SubmitOrder(fresh_copy(order), self.now_ns()))

    def cancel(self, client_order_id: ClientOrderId) -> None:
        order = self.orders.get(client_order_id)
        if order is None or not self._is_live(order):
            return
        self._outgoing.append(CancelOrder(client_order_id, self.strategy_id, self.now_ns()))

    def replace(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> None:
        self._outgoing.append(
            ReplaceOrder(client_order_id, self.strategy_id, quantity, limit_price, stop_price, self.now_ns())
        )

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal:
        return self._positions.get(instrument_id, ZERO)

    def open_orders(self, instrument_id: InstrumentId) -> list[Order]:
        return [o for o in self._live.values() if o.instrument_id == instrument_id]

    def has_open_orders(self, instrument_id: InstrumentId) -> bool:
        return any(o.instrument_id == instrument_id for o in self._live.values())

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        if instrument_id != self.instrument_obj.id:
            raise ConfigError(f"strategy {self.strategy_id} has no instrument {instrument_id}", key="instrument_id")
        return self.instrument_obj

    def now_ns(self) -> int:
        return self._bar.ts if self._bar is not None else 0

    def next_order_id(self, strategy_id: StrategyId) -> ClientOrderId:
        if self.order_seq < self._seq_floor and self.now_ns() > self._replay_until:
            self.order_seq = self._seq_floor
        self.order_seq += 1
        return ClientOrderId(f"{self.order_id_prefix}-{self.order_seq:06d}")

    # --------------------------------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        return {
            "strategy_id": self.strategy_id,
            "strategy": self.strategy.name,
            "instrument_id": str(self.instrument_id),
            "state": self.state.value,
            "params": {
                k: str(v) if isinstance(v, Decimal) else v for k, v in self.strategy.config.model_dump().items()
            },
            "bars_seen": self._history.end,
            "bars_stepped": self._next,
            "last_ts": self._last_ts,
            "order_seq": self.order_seq,
            "position": str(self.position_quantity(self.instrument_id)),
            "open_orders": len(self.open_orders(self.instrument_id)),
            "fills": len(self.fills),
        }

    # ------------------------------------------------------------------------------------- internals
    @staticmethod
    def _is_live(order: Order) -> bool:
        """Working at the venue, or sent and not yet answered."""
        return order.is_open or order.status is OrderStatus.INITIALIZED

    def _apply(self, event: Message) -> None:
        cid = event_order_id(event)
        order = self.orders.get(cid) if cid is not None else None
        if order is None:
            if isinstance(event, OrderFilled) and event.fill.strategy_id == self.strategy_id:
                self._book_fill(event.fill)  # made on the strategy's behalf (flatten): its position moved
            return  # another strategy's order, or one this host never made
        if isinstance(event, OrderFilled):
            fill = event.fill
            if fill.trade_id in self._trade_ids:
                return
            apply_order_event(order, event)
            self._still_live(order)
            self._book_fill(fill)
            return
        if isinstance(event, OrderSubmitted) and order.status is not OrderStatus.INITIALIZED:
            return
        if isinstance(event, OrderAccepted) and order.status not in (OrderStatus.INITIALIZED, OrderStatus.SUBMITTED):
            # The venue's report of a fill (or cancel) overtook the answer to our write: the acceptance is old news.
            order.venue_order_id = order.venue_order_id or event.venue_order_id
            return
        if isinstance(event, OrderDenied) and order.status is not OrderStatus.INITIALIZED:
            return
        apply_order_event(order, event)
        self._still_live(order)
        if not isinstance(event, OrderSubmitted):
            self.strategy.on_order_event(event)

    def _book_fill(self, fill: Fill) -> None:
        if fill.trade_id in self._trade_ids:
            return
        self._trade_ids.add(fill.trade_id)
        self._positions[fill.instrument_id] = self._positions.get(fill.instrument_id, ZERO) + fill.signed_quantity
        self.fills.append(fill)
        self.strategy.on_order_filled(fill)

    def _still_live(self, order: Order) -> None:
        if not self._is_live(order):
            self._live.pop(order.client_order_id, None)
