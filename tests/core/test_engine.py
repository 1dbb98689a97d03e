"""The backtest engine end to end on real data: shorting, futures margin, session flattening, fill timing,
trades against fills, equity curve, pre-trade denials, every built-in strategy, and config errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from strategies import BUILTIN, SmaCross, resolve_strategy
from trading.backtest.engine import BacktestConfig, BacktestEngine, BacktestResult
from trading.backtest.runner import BacktestSpec, prepare, run_backtest
from trading.data.bars import Bar, BarSeries
from trading.data.loaders import load_bars
from trading.errors import ConfigError
from trading.messages import Message, OrderCanceled, OrderDenied, OrderExpired, OrderRejected
from trading.model import (
    Accounting,
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TradingSession,
    equity,
)
from trading.strategy import Strategy, StrategyConfig, build_config

DATA = Path(__file__).resolve().parents[2] / "data"
DAY = DATA / "backtrader" / "2006-day-001.txt"
ORCL = DATA / "backtrader" / "orcl-1995-2014.txt"
SP500_MINUTE = DATA / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
NEW_YORK = "America/New_York"


def run(strategy: str, data: Path = DAY, params: dict[str, Any] | None = None, **spec: Any) -> BacktestResult:
    return run_backtest(
        BacktestSpec(data=str(data), strategy=strategy, params=params or {}, **spec), resolve_strategy(strategy)
    )


def position_after_each_bar(result: BacktestResult) -> np.ndarray:
    index = np.searchsorted(result.ts, [f.ts for f in result.fills])
    signed = [float(f.signed_quantity) for f in result.fills]
    return np.cumsum(np.bincount(index, weights=signed, minlength=len(result.ts)))


def check_books(result: BacktestResult, start: Decimal = Decimal(10_000)) -> None:
    """Trades agree with fills, the equity curve ends at the final value, stats are there."""
    assert result.equity[-1] == pytest.approx(float(result.final_value), abs=1e-6)
    assert result.stats.end_value == pytest.approx(float(result.final_value), abs=1e-6)
    assert result.stats.trades == len(result.trades)
    total_fees = sum((f.commission for f in result.fills), Decimal(0))
    assert sum((t.commission for t in result.trades), Decimal(0)) <= total_fees
    if result.position == 0:
        assert sum((t.pnl for t in result.trades), Decimal(0)) == result.final_value - start


# ---------------------------------------------------------------------------------------------- shorting
def test_sma_cross_with_allow_short_goes_short_on_down_crosses_and_books_short_trades() -> None:
    result = run("sma_cross", params={"fast": 1, "slow": 15, "allow_short": True})
    held = position_after_each_bar(result)
    assert held.min() == -1 and held.max() == 1
    assert {t.direction for t in result.trades} == {"long", "short"}
    # Every order after the first flips the position: 2 units (close 1, open 1 the other way).
    assert [f.quantity for f in result.fills[1:]] == [Decimal(2)] * (len(result.fills) - 1)
    check_books(result)


def test_sma_cross_without_allow_short_never_holds_a_short() -> None:
    assert position_after_each_bar(run("sma_cross", params={"fast": 1, "slow": 15})).min() == 0


# ----------------------------------------------------------------------------------------------- futures
def test_futures_run_holds_margin_and_equity_is_cash_plus_unsettled_pnl() -> None:
    spec = BacktestSpec(
        data=str(DAY),
        strategy="sma_cross",
        params={"fast": 1, "slow": 15},
        cash=Decimal(100_000),
        multiplier=Decimal(50),
        margin=Decimal(12_000),
    )
    engine = prepare(spec, SmaCross)
    assert engine.traded_instrument.accounting is Accounting.MARGIN
    result = engine.run()
    account = engine.account
    instrument_id = engine.traded_instrument.id
    mark = engine.venue.marks()[instrument_id]
    unsettled = account.quantity(instrument_id) * (mark - account.settle_prices[instrument_id]) * 50
    assert result.final_value == account.cash + unsettled == account.equity({instrument_id: mark})
    assert account.margin_used() == Decimal(12_000) * abs(result.position) == Decimal(12_000)
    # The same trades as the cash run, 50 times the points: backtrader's 284.10 points x 50.
    assert result.final_value == Decimal(100_000) + Decimal("284.10") * 50
    assert [f.price for f in result.fills] == [f.price for f in run("sma_cross", params={"fast": 1, "slow": 15}).fills]
    check_books(result, Decimal(100_000))


def test_futures_run_without_cash_for_the_margin_never_fills() -> None:
    result = run("sma_cross", params={"fast": 1, "slow": 15}, multiplier=Decimal(50), margin=Decimal(12_000))
    assert result.fills == []
    assert result.final_value == Decimal(10_000)
    assert all(o.reason == "INSUFFICIENT_FUNDS" for o in result.orders)


# ------------------------------------------------------------------------------------ session flattening
def test_flatten_at_session_close_leaves_every_day_flat_at_the_last_session_bar() -> None:
    result = run(
        "sma_cross",
        SP500_MINUTE,
        {"fast": 5, "slow": 20, "allow_short": True},
        timezone=NEW_YORK,
        session="09:30-16:00",
        flatten_at_close=True,
    )
    local = pd.DatetimeIndex(pd.to_datetime(result.ts, utc=True)).tz_convert(NEW_YORK)
    held = position_after_each_bar(result)
    last_session_bars = [
        positions[-1]
        for positions in (
            np.flatnonzero((local.date == day) & (local.strftime("%H:%M") < "16:00")) for day in sorted(set(local.date))
        )
    ]
    assert len(last_session_bars) == 4
    assert all(local[i].strftime("%H:%M") == "15:59" for i in last_session_bars)
    assert [held[i] for i in last_session_bars] == [0.0] * 4
    assert np.abs(held).max() == 1  # it did trade during the days
    flattening = [o for o in result.orders if o.tags.get("reason") == "flatten_at_session_close"]
    assert flattening and all(o.status is OrderStatus.FILLED for o in flattening)
    for order in flattening:
        fill = next(f for f in result.fills if f.client_order_id == order.client_order_id)
        bar = int(np.searchsorted(result.ts, fill.ts))
        assert local[bar].strftime("%H:%M") == "15:59"
        assert fill.price == Decimal(repr(float(load_bars(SP500_MINUTE, tz=NEW_YORK).close[bar])))
    check_books(result)


def test_flatten_at_close_without_a_session_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        run("sma_cross", SP500_MINUTE, flatten_at_close=True)
    assert info.value.key == "session"


# ------------------------------------------------------------------------------------------ fill timing
def test_close_timing_fills_at_the_signal_bars_close() -> None:
    result = run("sma_cross", params={"fast": 1, "slow": 15}, fill="close")
    series = load_bars(DAY)
    signals = SmaCross(build_config(SmaCross, {"fast": 1, "slow": 15})).indicators(series)["cross"]
    assert len(result.fills) == 23
    for fill in result.fills:
        bar = int(np.searchsorted(series.ts, fill.ts))
        assert series.ts[bar] == fill.ts
        assert fill.price == Decimal(repr(float(series.close[bar])))
        assert signals[bar] == (1.0 if fill.side is OrderSide.BUY else -1.0)
    check_books(result)


def test_next_open_fills_at_the_open_of_the_bar_after_the_signal() -> None:
    result = run("sma_cross", params={"fast": 1, "slow": 15})
    series = load_bars(DAY)
    signals = SmaCross(build_config(SmaCross, {"fast": 1, "slow": 15})).indicators(series)["cross"]
    for fill in result.fills:
        bar = int(np.searchsorted(series.ts, fill.ts))
        assert fill.price == Decimal(repr(float(series.open[bar])))
        assert signals[bar - 1] != 0


# ------------------------------------------------------------------------------- trades, equity, stats
@pytest.mark.parametrize("fees", [{}, {"commission_per_unit": Decimal("1.5")}, {"commission_pct": Decimal("0.1")}])
def test_trade_pnl_sums_to_the_equity_change_when_flat_at_the_end(fees) -> None:
    result = run("rsi_reversion", ORCL, **fees)
    assert result.position == 0 and len(result.trades) > 5
    check_books(result)
    assert sum((t.pnl for t in result.trades), Decimal(0)) == result.final_value - Decimal(10_000)
    if fees:
        assert (
            sum((t.commission for t in result.trades), Decimal(0))
            == sum((f.commission for f in result.fills), Decimal(0))
            > 0
        )


def test_open_position_at_the_end_explains_the_rest_of_the_equity_change() -> None:
    result = run("sma_cross", params={"fast": 1, "slow": 15})
    closed = sum((t.pnl for t in result.trades), Decimal(0))
    last_buy = result.fills[-1]
    open_pnl = Decimal("4119.94") - last_buy.price
    assert closed + open_pnl == result.final_value - Decimal(10_000)


def test_equity_curve_has_one_value_per_bar_and_starts_at_the_starting_cash() -> None:
    result = run("macd_cross")
    assert len(result.equity) == result.bars == len(result.ts)
    assert result.equity[0] == 10_000.0
    assert result.stats.start_value == 10_000.0
    check_books(result)


# ------------------------------------------------------------------------------------ pre-trade checks
def test_pre_trade_check_denial_produces_order_denied_and_no_fill() -> None:
    engine = prepare(BacktestSpec(data=str(DAY), strategy="sma_cross", params={"fast": 1, "slow": 15}), SmaCross)
    seen: list[Message] = []
    engine.strategy.on_order_event = seen.append  # type: ignore[method-assign]
    engine.pre_trade_check = lambda order: "NOTIONAL_EXCEEDS_MAX_PER_ORDER test limit"
    result = engine.run()
    assert result.fills == [] and result.final_value == Decimal(10_000)
    assert len(result.denied) == 12  # every up-cross tried to buy
    assert all(isinstance(e, OrderDenied) and e.reason.startswith("NOTIONAL") for e in seen)
    assert len(seen) == 12
    assert result.orders == []  # nothing reached the venue
    assert result.to_dict()["denied"][0]["reason"].startswith("NOTIONAL")


def test_pre_trade_check_denying_a_bracket_entry_means_its_children_never_work() -> None:
    spec = BacktestSpec(
        data=str(SP500_MINUTE),
        strategy="opening_range_breakout",
        params={"timezone": NEW_YORK, "allow_short": True},
        timezone=NEW_YORK,
    )
    engine = prepare(spec, resolve_strategy("opening_range_breakout"))
    engine.pre_trade_check = lambda order: None if order.reduce_only else "ENTRIES_HALTED"
    result = engine.run()
    assert result.denied and result.fills == []
    assert all(o.status is OrderStatus.REJECTED and "PARENT_UNKNOWN" in o.reason for o in result.orders)


# ------------------------------------------------------------------------------------------- built-ins
BUILTIN_RUNS = {
    "sma_cross": (DAY, {}, {}),
    "ema_cross": (DAY, {"fast": 5, "slow": 20}, {}),
    "rsi_reversion": (ORCL, {}, {}),
    "bollinger_breakout": (DAY, {}, {}),
    "macd_cross": (DAY, {}, {}),
    "opening_range_breakout": (
        SP500_MINUTE,
        {"timezone": NEW_YORK, "allow_short": True, "exit_time": "15:30"},
        {"timezone": NEW_YORK, "session": "09:30-16:00"},
    ),
}


def test_every_builtin_strategy_has_a_run_here() -> None:
    assert set(BUILTIN_RUNS) == set(BUILTIN)


@pytest.mark.parametrize("name", sorted(BUILTIN_RUNS))
def test_builtin_strategy_runs_on_real_data_and_trades(name) -> None:
    data, params, spec = BUILTIN_RUNS[name]
    result = run(name, data, params, **spec)
    assert result.strategy == name
    assert len(result.trades) >= 1
    assert all(o.status is not OrderStatus.REJECTED for o in result.orders), [o.reason for o in result.orders]
    check_books(result)


def test_opening_range_breakout_brackets_leave_no_orphan_orders() -> None:
    data, params, spec = BUILTIN_RUNS["opening_range_breakout"]
    engine = prepare(
        BacktestSpec(data=str(data), strategy="opening_range_breakout", params=params, **spec),
        resolve_strategy("opening_range_breakout"),
    )
    result = engine.run()
    assert result.position == 0 and engine.venue.open_orders() == []
    entries = [o for o in result.orders if o.linked_ids and o.parent_id is None]
    assert len(entries) >= 2
    for entry in entries:
        children = [o for o in result.orders if o.parent_id == entry.client_order_id]
        statuses = sorted(c.status.value for c in children)
        assert entry.status is OrderStatus.FILLED
        # One exit filled and the other canceled by OCO, or both canceled by the day's exit time.
        assert statuses in (["canceled", "filled"], ["canceled", "canceled"]), statuses


# ---------------------------------------------------------------------------------------- config errors
def test_unknown_parameter_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="fats") as info:
        build_config(SmaCross, {"fats": 3})
    assert info.value.key == "fats"
    assert "slow" in str(info.value)  # lists the known parameters


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("sma_cross", {"fast": 20, "slow": 10}, "slow"),
        ("sma_cross", {"fast": 15, "slow": 15}, "slow"),
        ("ema_cross", {"fast": 0}, "fast"),
        ("macd_cross", {"fast": 26, "slow": 12}, "slow"),
        ("rsi_reversion", {"oversold": 60, "exit_level": 50}, "exit_level"),
        # Checked against the other field's default too (defaults are validated):
        ("sma_cross", {"fast": 40}, "slow"),
        ("rsi_reversion", {"oversold": 60}, "exit_level"),
        ("macd_cross", {"fast": 30}, "slow"),
        ("opening_range_breakout", {"exit_time": "25:00"}, "exit_time"),
        ("bollinger_breakout", {"width": -1}, "width"),
    ],
)
def test_bad_parameter_value_is_a_config_error_naming_the_key(name, params, key) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(resolve_strategy(name), params)
    assert info.value.key == key
    assert repr(key) in str(info.value)


def test_bad_parameter_through_a_run_spec_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        run("sma_cross", params={"fast": 30, "slow": 10})
    assert info.value.key == "slow"


def test_unknown_strategy_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'nope'") as info:
        resolve_strategy("nope")
    assert info.value.key == "strategy"
    assert "sma_cross" in str(info.value)


def test_strategy_import_path_that_is_not_a_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        resolve_strategy("trading.model:Order")
    with pytest.raises(ConfigError):
        resolve_strategy("no_such_module_xyz:Thing")


# ------------------------------------------------------------------------- scripted strategies on bars
class Scripted(Strategy[StrategyConfig]):
    """Runs `script[i](self)` on bar i and records every event it is told about."""

    name = "scripted"
    script: ClassVar[dict[int, Callable[[Scripted], object]]] = {}

    def on_start(self) -> None:
        self.events: list[Message] = []
        self.fills: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        action = self.script.get(self.i)
        if action is not None:
            action(self)

    def on_order_event(self, event: Message) -> None:
        self.events.append(event)

    def on_order_filled(self, fill: Fill) -> None:
        self.fills.append(fill)


def scripted_run(script, bars: list[tuple[str, float, float, float, float]], session: str | None = None, **config):
    frame = pd.DataFrame(
        [(o, h, lo, c, 1_000.0) for _, o, h, lo, c in bars],
        columns=["open", "high", "low", "close", "volume"],
        index=pd.DatetimeIndex([pd.Timestamp(t, tz=NEW_YORK) for t, *_ in bars]),
    )
    series = BarSeries.from_frame(frame)
    sessions = (TradingSession.parse(session, NEW_YORK),) if session else ()
    instrument = equity("XYZ", sessions=sessions)
    strategy_class = type("ScriptedRun", (Scripted,), {"script": script})
    strategy = strategy_class(StrategyConfig(instrument_id="XYZ.SIM"))
    engine = BacktestEngine(instrument, strategy, series, BacktestConfig(**config))
    return engine.run(), strategy, engine


MINUTES = [
    ("2024-01-02 15:57", 100, 101, 99, 100),
    ("2024-01-02 15:58", 100, 101, 99, 100),
    ("2024-01-02 15:59", 100, 101, 99, 100),
    ("2024-01-02 16:00", 100, 101, 99, 100),
    ("2024-01-03 09:30", 90, 91, 89, 90),
]


def test_day_order_expires_at_the_session_end_and_the_strategy_hears_it() -> None:
    script = {0: lambda s: s.buy(order_type=OrderType.LIMIT, limit_price=Decimal(95), time_in_force=TimeInForce.DAY)}
    result, strategy, _ = scripted_run(script, MINUTES, session="09:30-16:00")
    assert result.fills == []  # the next morning's 90 would have filled it
    expired = [e for e in strategy.events if isinstance(e, OrderExpired)]
    assert len(expired) == 1 and expired[0].ts == result.ts[2]


def test_gtc_order_survives_the_session_end_and_fills_next_session() -> None:
    script = {0: lambda s: s.buy(order_type=OrderType.LIMIT, limit_price=Decimal(95))}
    result, _, _ = scripted_run(script, MINUTES, session="09:30-16:00")
    assert [(f.price, f.ts) for f in result.fills] == [(Decimal(90), result.ts[4])]


def test_flatten_cancels_working_orders_and_closes_at_the_last_session_bar() -> None:
    def enter(s: Scripted) -> None:
        s.buy()
        s.sell(order_type=OrderType.LIMIT, limit_price=Decimal(200))

    result, strategy, _ = scripted_run({0: enter}, MINUTES, session="09:30-16:00", flatten_at_session_close=True)
    assert [(f.side, f.price, f.ts) for f in result.fills] == [
        (OrderSide.BUY, Decimal(100), result.ts[1]),
        (OrderSide.SELL, Decimal(100), result.ts[2]),
    ]
    assert any(isinstance(e, OrderCanceled) for e in strategy.events)
    assert result.position == 0 and len(result.trades) == 1


def test_strategy_bracket_through_the_engine_exits_once() -> None:
    bars = [
        ("2024-01-02 10:00", 100, 100, 100, 100),
        ("2024-01-02 10:01", 100, 100, 100, 100),  # entry fills at this open
        ("2024-01-02 10:02", 100, 106, 99, 105),  # take-profit at 105 fills
        ("2024-01-02 10:03", 90, 91, 80, 85),  # the stop would have filled: canceled by OCO
    ]
    script = {0: lambda s: s.bracket(OrderSide.BUY, stop_loss=Decimal(95), take_profit=Decimal(105))}
    result, strategy, _ = scripted_run(script, bars)
    assert [(f.side, f.price) for f in result.fills] == [(OrderSide.BUY, Decimal(100)), (OrderSide.SELL, Decimal(105))]
    assert result.position == 0 and result.final_value == Decimal(10_005)
    assert not strategy.has_open_orders()


def test_order_rejected_by_the_venue_reaches_the_strategy() -> None:
    script = {0: lambda s: s.buy(order_type=OrderType.LIMIT, limit_price=Decimal("99.999"))}
    _, strategy, _ = scripted_run(script, MINUTES[:2])
    assert [type(e) for e in strategy.events] == [OrderRejected]


def test_engine_refuses_a_strategy_for_another_instrument() -> None:
    series = load_bars(DAY)
    strategy = SmaCross(build_config(SmaCross, {"instrument_id": "OTHER.SIM"}))
    with pytest.raises(ConfigError) as info:
        BacktestEngine(equity("DATA"), strategy, series)
    assert info.value.key == "instrument_id"


def test_two_runs_of_the_same_spec_give_identical_results() -> None:
    first, second = run("ema_cross", params={"fast": 5, "slow": 20}), run("ema_cross", params={"fast": 5, "slow": 20})
    assert [f.to_dict() for f in first.fills] == [f.to_dict() for f in second.fills]
    assert replace(first.stats) == replace(second.stats)
    assert isinstance(first.orders[0], Order)


def test_futures_trade_returns_are_on_the_multiplied_notional() -> None:
    cash_run = run("sma_cross", params={"fast": 1, "slow": 15})
    futures_run = run(
        "sma_cross",
        params={"fast": 1, "slow": 15},
        cash=Decimal(100_000),
        multiplier=Decimal(50),
        margin=Decimal(12_000),
    )
    assert [t.pnl for t in futures_run.trades] == [t.pnl * 50 for t in cash_run.trades]
    assert [t.return_pct for t in futures_run.trades] == pytest.approx([t.return_pct for t in cash_run.trades])
    assert futures_run.stats.best_trade == pytest.approx(cash_run.stats.best_trade)


def test_flips_with_commissions_keep_trade_pnl_equal_to_the_equity_change() -> None:
    result = run(
        "sma_cross",
        SP500_MINUTE,
        {"fast": 5, "slow": 20, "allow_short": True},
        timezone=NEW_YORK,
        session="09:30-16:00",
        flatten_at_close=True,
        commission_per_unit=Decimal("0.35"),
    )
    assert any(f.quantity == 2 for f in result.fills)  # flips happened
    assert result.position == 0
    fees = sum((f.commission for f in result.fills), Decimal(0))
    assert sum((t.commission for t in result.trades), Decimal(0)) == fees
    assert sum((t.pnl for t in result.trades), Decimal(0)) == result.final_value - Decimal(10_000)
    check_books(result)


def test_strategy_order_helper_puts_every_argument_in_its_named_field() -> None:
    engine = prepare(BacktestSpec(data=str(DAY), strategy="sma_cross"), SmaCross)
    strategy = engine.strategy
    strategy.bind(engine)
    order = strategy.order(
        OrderSide.SELL,
        Decimal(3),
        order_type=OrderType.STOP_LIMIT,
        limit_price=Decimal("9.5"),
        stop_price=Decimal("10"),
        time_in_force=TimeInForce.DAY,
        reduce_only=True,
        tags={"why": "test"},
    )
    assert (order.strategy_id, order.instrument_id, order.side, order.order_type) == (
        strategy.strategy_id,
        strategy.instrument_id,
        OrderSide.SELL,
        OrderType.STOP_LIMIT,
    )
    assert (order.quantity, order.limit_price, order.stop_price, order.trailing_offset, order.trailing_percent) == (
        Decimal(3),
        Decimal("9.5"),
        Decimal("10"),
        None,
        None,
    )
    assert (order.time_in_force, order.reduce_only, order.tags, order.linked_ids, order.parent_id) == (
        TimeInForce.DAY,
        True,
        {"why": "test"},
        (),
        None,
    )
    assert order.client_order_id.startswith(f"{strategy.strategy_id}-") and order.status is OrderStatus.INITIALIZED
    trailing = strategy.order(OrderSide.BUY, order_type=OrderType.TRAILING_STOP, trailing_percent=Decimal(2))
    assert (trailing.quantity, trailing.trailing_percent, trailing.broker) == (Decimal(1), Decimal(2), "")


def test_fills_and_trades_carry_the_values_the_venue_booked() -> None:
    result = run("sma_cross", commission_per_unit=Decimal("0.5"))
    fill = result.fills[0]
    assert (fill.side, fill.quantity, fill.commission, fill.currency, fill.liquidity) == (
        OrderSide.BUY,
        Decimal(1),
        Decimal("0.5"),
        "USD",
        "taker",
    )
    assert fill.trade_id == "SIM-T1" and fill.venue_order_id == f"SIM-{fill.client_order_id}"
    assert fill.instrument_id == result.instrument_id and fill.strategy_id == "sma_cross"
    trade, exit_fill = result.trades[0], result.fills[1]
    assert (trade.direction, trade.quantity, trade.entry_ts, trade.exit_ts) == ("long", 1, fill.ts, exit_fill.ts)
    assert (trade.entry_price, trade.exit_price, trade.commission) == (fill.price, exit_fill.price, Decimal(1))
    assert trade.pnl == exit_fill.price - fill.price - Decimal(1) and trade.bars_held > 0


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    import gc

    spec = BacktestSpec(data=str(DAY), strategy="sma_cross", params={"fast": 1, "slow": 15})
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        result = run_backtest(spec, SmaCross)
        assert gc.isenabled() is enabled
        assert not gc.get_freeze_count()  # nothing left frozen out of the collector's reach
        assert len(result.fills) > 10
    finally:
        (gc.enable if was else gc.disable)()
