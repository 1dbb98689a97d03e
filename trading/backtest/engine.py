"""The event-driven backtest engine: one strategy, one instrument, bar by bar, through the simulated venue.

Per bar: the venue matches working orders against the bar (fills at its open or inside its range), futures
are marked to market at the close, the strategy sees the bar and may submit orders (filled at the next
bar's open, or at this close in `close` timing), then the session-end rules run (DAY orders expire;
optionally every position is flattened at the close). Money is booked in Decimal by the venue's account;
the equity curve for statistics is rebuilt with numpy from the fills afterwards, so the per-bar loop does
no Decimal work unless an order is working.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from trading.backtest.trades import Trade, TradeTracker
from trading.data.bars import Bar, BarSeries
from trading.errors import ConfigError
from trading.messages import Message, OrderDenied, OrderFilled
from trading.model.accounts import Account
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import Accounting, Instrument
from trading.model.orders import Order, OrderSide, OrderTrigger, OrderType
from trading.sim.models import SimConfig
from trading.sim.sessions import infer_bar_interval, session_calendar
from trading.sim.venue import SimulatedVenue
from trading.stats import Statistics, TradeSummary, compute_statistics
from trading.strategy import Strategy

PreTradeCheck = Callable[[Order], str | None]

_BUY = OrderSide.BUY  # read per fill; an Enum class attribute read is slow on Python 3.11 (EnumType.__getattr__)


@dataclass(frozen=True)
class BacktestConfig:
    starting_cash: Decimal = Decimal(10_000)
    sim: SimConfig = field(default_factory=SimConfig)
    flatten_at_session_close: bool = False
    bar_interval_ns: int | None = None  # inferred from the data when None
    periods_per_year: float | None = None  # inferred from the data when None


@dataclass
class BacktestResult:
    """Everything a run produced; `to_dict` is the JSON the CLI prints."""

    strategy: str
    instrument_id: InstrumentId
    params: dict[str, Any]
    final_value: Decimal
    cash: Decimal
    position: Decimal
    bars: int
    elapsed_s: float
    fills: list[Fill]
    trades: list[Trade]
    orders: list[Order]
    stats: Statistics
    ts: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    denied: list[OrderDenied] = field(default_factory=list)
    currency: str = "USD"

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.elapsed_s if self.elapsed_s > 0 else float("inf")

    def to_dict(self, *, include_equity: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "strategy": self.strategy,
            "instrument_id": str(self.instrument_id),
            "params": {k: str(v) if isinstance(v, Decimal) else v for k, v in self.params.items()},
            "final_value": str(self.final_value),
            "cash": str(self.cash),
            "position": str(self.position),
            "currency": self.currency,
            "bars": self.bars,
            "elapsed_s": round(self.elapsed_s, 6),
            "bars_per_s": round(self.bars_per_s, 1),
            "fills": [fill_row(f) for f in self.fills],
            "trades": [t.to_dict() for t in self.trades],
            "denied": [d.to_dict() for d in self.denied],
            "stats": self.stats.to_dict(),
        }
        if include_equity:
            data["equity"] = self.equity.tolist()
        return data


def _floats(values: list[Decimal]) -> npt.NDArray[np.float64]:
    """`float` of each value, converted once per distinct value: fills repeat the same few quantities, fees
    and prices, and `float(Decimal)` goes through a string. Equal Decimals give the same float."""
    converted = {value: float(value) for value in set(values)}
    return np.array([converted[value] for value in values], dtype=np.float64)


def fill_row(fill: Fill) -> dict[str, Any]:
    """The fill as the CLI and API print it: time, side, quantity, price, commission."""
    return {
        "time": pd.Timestamp(fill.ts, unit="ns", tz="UTC").isoformat(),
        "side": fill.side.value,
        "quantity": str(fill.quantity),
        "price": str(fill.price),
        "commission": str(fill.commission),
        "client_order_id": fill.client_order_id,
        "trade_id": fill.trade_id,
    }


class BacktestEngine:
    """Runs one strategy over one instrument's bars. Implements the strategy's `TradingContext`."""

    def __init__(
        self,
        instrument: Instrument,
        strategy: Strategy[Any],
        bars: BarSeries,
        config: BacktestConfig | None = None,
        pre_trade_check: PreTradeCheck | None = None,
    ) -> None:
        if strategy.instrument_id != instrument.id:
            raise ConfigError(
                f"strategy trades {strategy.instrument_id} but the data is for {instrument.id}",
                key="instrument_id",
            )
        self.traded_instrument = instrument
        self.strategy = strategy
        self.series = bars
        self.config = config or BacktestConfig()
        self.account = Account.open("BACKTEST", self.config.starting_cash, instrument.currency)
        self.account.register(instrument)
        self.venue = SimulatedVenue(self.account, self.config.sim)
        self.pre_trade_check = pre_trade_check
        self.fills: list[Fill] = []
        self.fill_bars: list[int] = []
        self.denied: list[OrderDenied] = []
        self.trades = TradeTracker()
        self._order_seq = 0
        self._bar: Bar | None = None
        self._in_session = True

    # -------------------------------------------------------------------------------- TradingContext
    def submit(self, order: Order) -> None:
        if self.pre_trade_check is not None:
            reason = self.pre_trade_check(order)
            if reason:
                order.apply(OrderTrigger.DENY, self.now_ns(), reason)
                denied = OrderDenied(
                    order.client_order_id, order.strategy_id, order.instrument_id, self.now_ns(), reason
                )
                self.denied.append(denied)
                self.strategy.on_order_event(denied)
                return
        self._dispatch(self.venue.submit(order, self._bar, self._in_session))

    def cancel(self, client_order_id: ClientOrderId) -> None:
        self._dispatch(self.venue.cancel(client_order_id, self.now_ns()))

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal:
        return self.account.quantity(instrument_id)

    def open_orders(self, instrument_id: InstrumentId) -> list[Order]:
        return self.venue.open_orders(instrument_id) if self.venue.orders else []

    def has_open_orders(self, instrument_id: InstrumentId) -> bool:
        return self.venue.has_open_orders(instrument_id)

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        return self.account.instruments[instrument_id]

    def now_ns(self) -> int:
        return self._bar.ts if self._bar is not None else 0

    def next_order_id(self, strategy_id: StrategyId) -> ClientOrderId:
        self._order_seq = seq = self._order_seq + 1
        return ClientOrderId(f"{strategy_id}-{seq:06d}")

    # ------------------------------------------------------------------------------------------ run
    def run(self) -> BacktestResult:
        # The cyclic GC is off for the run: a fill-heavy run allocates a few objects per bar and keeps nearly
        # all of them (orders, fills, trades) until it ends, so the young-generation passes it would trigger
        # every 700 allocations find nothing to free, yet cost about 10% of the run. Everything alive before
        # the run is frozen as well, so the collection when it is re-enabled does not rescan it.
        enabled = gc.isenabled()
        gc.freeze()
        gc.disable()
        try:
            return self._run()
        finally:
            if enabled:
                gc.enable()
            gc.unfreeze()

    def _run(self) -> BacktestResult:
        started = time.perf_counter()
        series = self.series
        n = len(series)
        has_sessions = bool(self.traded_instrument.sessions)
        in_session_list: list[bool] = []
        session_end_list: list[bool] = []
        if has_sessions:  # without sessions every bar is in session and none ends one
            interval = self.config.bar_interval_ns or infer_bar_interval(series.ts)
            in_session, session_end = session_calendar(self.traded_instrument, series.ts, interval)
            in_session_list = in_session.tolist()
            session_end_list = session_end.tolist()
        margin = self.traded_instrument.accounting is Accounting.MARGIN
        strategy = self.strategy
        strategy.instrument_id = self.traded_instrument.id  # the same object: dict lookups skip __eq__
        strategy.bind(self)
        strategy.set_indicators(strategy.indicators(series), n)
        strategy.on_start()
        venue = self.venue
        instrument_id = self.traded_instrument.id
        on_bar = strategy.on_bar
        last_bars = venue.last_bars
        working = venue.working_by_id  # the venue's own dict, read here instead of a property call per bar
        # The bars of `series.bars()`, built by `map` in C instead of a generator resumed once per bar.
        columns = (series.ts, series.open, series.high, series.low, series.close, series.volume)
        bars = map(Bar, *(column.tolist() for column in columns), range(n))
        if not has_sessions and not margin:
            # The common case in its own loop: every bar is in session, none ends one, nothing to mark.
            venue_on_bar = venue.on_bar
            dispatch = self._dispatch
            for bar in bars:
                self._bar = bar
                if working:
                    events = venue_on_bar(instrument_id, bar, True)
                    if events:
                        dispatch(events)
                else:
                    last_bars[instrument_id] = bar  # what on_bar would do when nothing is working
                strategy.i = bar.index
                on_bar(bar)
        for bar in bars:  # sessions or margin (an empty iterator after the loop above)
            i = bar.index
            self._bar = bar
            if has_sessions:
                self._in_session = in_session_list[i]
            if working:
                events = venue.on_bar(instrument_id, bar, self._in_session)
                if events:
                    self._dispatch(events)
            else:
                last_bars[instrument_id] = bar
            if margin and self.account.quantity(instrument_id) != 0:
                self.account.mark_to_market(instrument_id, self.traded_instrument.make_price(bar.close))
            strategy.i = i
            on_bar(bar)
            if has_sessions and session_end_list[i]:
                self._end_session(bar)
        strategy.on_stop()
        elapsed = time.perf_counter() - started
        return self._result(elapsed)

    # ------------------------------------------------------------------------------------- internals
    def _dispatch(self, events: list[Message]) -> None:
        strategy = self.strategy
        for event in events:
            if type(event) is OrderFilled:  # exact type: cheaper than isinstance, and the venue makes no subclass
                fill = event.fill
                self.fills.append(fill)
                index = self._bar.index if self._bar is not None else 0
                self.fill_bars.append(index)
                assert event.position_quantity is not None and event.realized_pnl is not None  # the sim books
                self.trades.on_fill(
                    fill, event.position_quantity, event.realized_pnl, self.traded_instrument.multiplier, index
                )
                strategy.on_order_filled(fill)
            else:
                strategy.on_order_event(event)

    def _end_session(self, bar: Bar) -> None:
        self._dispatch(self.venue.end_of_session(self.traded_instrument.id, bar.ts))
        if not self.config.flatten_at_session_close:
            return
        for order in self.venue.open_orders(self.traded_instrument.id):
            self.cancel(order.client_order_id)
        quantity = self.account.quantity(self.traded_instrument.id)
        if quantity == 0:
            return
        order = Order(
            client_order_id=self.next_order_id(self.strategy.strategy_id),
            strategy_id=self.strategy.strategy_id,
            instrument_id=self.traded_instrument.id,
            side=OrderSide.SELL if quantity > 0 else OrderSide.BUY,
            order_type=OrderType.MARKET,
            quantity=abs(quantity),
            reduce_only=True,
            ts_init=bar.ts,
            tags={"reason": "flatten_at_session_close"},
        )
        price = self.config.sim.slippage.adjust(
            self.traded_instrument, order.side, self.traded_instrument.make_price(bar.close)
        )
        self._dispatch(self.venue.fill_at(order, price, bar.ts))

    def _curves(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(equity at each bar's close, position held after each bar), rebuilt from the fills with numpy.
        Floats: these feed statistics, not the books."""
        n = len(self.series)
        multiplier = float(self.traded_instrument.multiplier)
        index = np.asarray(self.fill_bars, dtype=np.int64)
        fills = self.fills
        signed = _floats([f.quantity if f.side is _BUY else -f.quantity for f in fills])
        price = _floats([f.price for f in fills])
        commission = _floats([f.commission for f in fills])
        cash_flow = np.bincount(index, weights=-(signed * price * multiplier + commission), minlength=n)
        held = np.cumsum(np.bincount(index, weights=signed, minlength=n), dtype=np.float64)
        cash = float(self.config.starting_cash) + np.cumsum(cash_flow)
        return np.asarray(cash + held * self.series.close * multiplier, dtype=np.float64), held

    def _result(self, elapsed: float) -> BacktestResult:
        marks = self.venue.marks()
        final_value = self.account.equity(marks) if marks else self.account.cash
        equity, held = self._curves()
        trades = self.trades.trades
        fees = {commission: float(commission) for commission in {t.commission for t in trades}}  # a few distinct
        summaries = [TradeSummary(float(t.pnl), t.return_pct, t.bars_held, fees[t.commission]) for t in trades]
        stats = compute_statistics(
            ts_ns=self.series.ts,
            equity=equity,
            trades=summaries,
            fees_paid=float(self.account.commissions),
            traded_notional=float(self.account.traded_notional),
            bars_in_market=int(np.count_nonzero(np.abs(held) > 1e-12)),
            periods_per_year=self.config.periods_per_year,
        )
        return BacktestResult(
            strategy=self.strategy.name,
            instrument_id=self.traded_instrument.id,
            params=self.strategy.config.model_dump(),
            final_value=final_value,
            cash=self.account.cash,
            position=self.account.quantity(self.traded_instrument.id),
            bars=len(self.series),
            elapsed_s=elapsed,
            fills=self.fills,
            trades=self.trades.trades,
            orders=list(self.venue.orders.values()),
            stats=stats,
            ts=self.series.ts,
            equity=equity,
            denied=self.denied,
            currency=self.account.currency,
        )
