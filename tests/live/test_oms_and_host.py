"""Order manager (journal, rebuild, reconcile, duplicates) and strategy host (lifecycle, ids, restart replay)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from strategies import BUILTIN, SmaCross
from trading.backtest.runner import BacktestSpec
from trading.brokers.protocol import PositionReport
from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.live import (
    HostState,
    InMemoryJournal,
    OrderManager,
    ReconciliationMismatch,
    ReplaySource,
    StrategyHost,
    rebuild_host,
)
from trading.messages import OrderCanceled, OrderFilled
from trading.model.identifiers import ClientOrderId, StrategyId
from trading.model.orders import Order, OrderSide, OrderType

from .live_support import ORB_PARAMS, ORB_SPEC, SP500_MINUTE, backtest, build_live, fill_key, run_live, series_for

SPEC = BacktestSpec(data="day", strategy="sma_cross", params={"fast": 1, "slow": 15})


def journaled_run(series: BarSeries) -> tuple[InMemoryJournal, OrderManager, object]:
    loop, host = build_live(SPEC, SmaCross, series)
    journal = InMemoryJournal()
    loop.oms.journal = journal
    loop.run(ReplaySource(host.instrument_id, series, batch_size=20))
    return journal, loop.oms, loop


def test_oms_books_each_fill_once_and_rebuilds_the_same_state_from_its_journal(day_series: BarSeries) -> None:
    journal, oms, _ = journaled_run(day_series)
    assert oms.fills
    again = oms.apply(list(oms.fills))  # a replayed venue report
    assert again == [] and len(oms.fills) == len(journal.read(stream="oms")) - len(
        [e for e in journal.entries if e.kind != "OrderFilled"]
    )
    rebuilt = OrderManager()
    for instrument in oms.instruments.values():
        rebuilt.register(instrument)
    rebuilt.rebuild(journal.entries)
    assert rebuilt.snapshot()["orders"] == oms.snapshot()["orders"]
    assert rebuilt.account_positions.keys() == oms.account_positions.keys()
    for key, position in oms.account_positions.items():
        assert rebuilt.account_positions[key].to_dict() == position.to_dict()
    assert rebuilt.account_pnl().realized == oms.account_pnl().realized
    # Appending the same events again is a no-op for the journal (idempotency keys).
    size = len(journal.entries)
    journal.extend(list(journal.entries))
    assert len(journal.entries) == size


def test_reconcile_books_missing_fills_closes_unknown_orders_and_corrects_positions(day_series: BarSeries) -> None:
    journal, _, loop = journaled_run(day_series)
    report = loop.broker.reconciliation()  # type: ignore[attr-defined]
    behind = OrderManager()
    behind.rebuild(journal.entries[: len(journal.entries) // 2])  # the OMS lost the second half
    events = behind.reconcile(report)
    missing = [e for e in events if isinstance(e, OrderFilled)]
    assert missing and {f.fill.trade_id for f in missing} <= {f.trade_id for f in report.fills}
    assert behind.account_position(
        report.positions[0].instrument_id if report.positions else loop.hosts[0].instrument_id
    ) == (  # type: ignore[attr-defined]
        loop.broker.ledger.quantity(loop.hosts[0].instrument_id)  # type: ignore[attr-defined]
    )
    assert all(not o.is_open for o in behind.orders.values()) or report.open_orders
    # A position the venue does not have is corrected and reported.
    ours = OrderManager()
    ours.rebuild(journal.entries)
    instrument_id = loop.hosts[0].instrument_id  # type: ignore[attr-defined]
    fake = replace(report, positions=[PositionReport(instrument_id, Decimal(7), Decimal(100))], fills=[])
    corrections = ours.reconcile(fake)
    assert any(isinstance(e, ReconciliationMismatch) and e.subject == "position" for e in corrections)
    assert ours.account_position(instrument_id) == Decimal(7)


def test_reconcile_cancels_orders_the_venue_does_not_have_open(day_series: BarSeries) -> None:
    _, oms, loop = journaled_run(day_series)
    report = loop.broker.reconciliation()  # type: ignore[attr-defined]
    open_before = [o.client_order_id for o in oms.orders.values() if o.is_open]
    empty = replace(report, open_orders=[])
    events = oms.reconcile(empty)
    canceled = {e.client_order_id for e in events if isinstance(e, OrderCanceled)}
    assert canceled == set(open_before)


def test_reconcile_leaves_open_the_submitted_orders_still_on_their_way_and_closes_the_rest(
    day_series: BarSeries,
) -> None:
    """A submitted order the venue does not have is closed unless it may still reach the venue: the broker lists
    it as pending (its step waits for a bar), or after a restart, when any may be resent (`in_flight_ok`)."""
    _, done, loop = journaled_run(day_series)
    report = loop.broker.reconciliation()  # type: ignore[attr-defined]
    oms = OrderManager()
    for instrument in done.instruments.values():
        oms.register(instrument)
    instrument_id = loop.hosts[0].instrument_id  # type: ignore[attr-defined]
    ts = day_series.bar(0).ts
    ids = [ClientOrderId(f"manual-{k}") for k in range(3)]
    for cid in ids:
        oms.submit(Order(cid, StrategyId("manual"), instrument_id, OrderSide.BUY, OrderType.MARKET, Decimal(1)), ts)
    waiting = ids[0]
    nothing = replace(report, open_orders=[], fills=[], positions=[], pending=[waiting])
    assert oms.reconcile(nothing, in_flight_ok=True) == []
    events = oms.reconcile(nothing)
    assert [e.client_order_id for e in events if isinstance(e, OrderCanceled)] == ids[1:]
    assert [oms.orders[cid].status.value for cid in ids] == ["submitted", "canceled", "canceled"]
    assert oms.orders[ids[1]].reason.startswith("RECONCILED")


def test_host_ids_are_deterministic_and_the_sequence_is_restorable(day_series: BarSeries) -> None:
    loop, host = run_live(SPEC, SmaCross, day_series, 50)
    ids = sorted(host.orders)
    assert ids[0] == "sma_cross-000001" and ids[-1] == f"sma_cross-{len(ids):06d}"
    assert loop.oms.last_order_seq(host.strategy_id) == host.order_seq == len(ids)
    restored = StrategyHost(SmaCross(host.strategy.config), host.instrument_obj, order_seq=host.order_seq)
    assert restored.next_order_id(host.strategy_id) == f"sma_cross-{len(ids) + 1:06d}"


def test_host_pause_keeps_the_history_but_calls_no_on_bar_and_update_parameters_validates(
    day_series: BarSeries,
) -> None:
    loop, host = build_live(SPEC, SmaCross, day_series)
    bars = list(day_series.bars())
    calls: list[int] = []
    original = host.strategy.on_bar
    host.strategy.on_bar = lambda bar: (calls.append(bar.ts), original(bar))  # type: ignore[method-assign]
    loop.on_bars(host.instrument_id, bars[:50])
    host.pause()
    assert host.state is HostState.PAUSED
    loop.on_bars(host.instrument_id, bars[50:100])
    assert len(calls) == 50 and host.status()["bars_seen"] == 100
    host.resume()
    with pytest.raises(ConfigError, match="slow"):
        host.update_parameters({"slow": 1})
    assert host.update_parameters({"slow": 20})["slow"] == 20
    loop.on_bars(host.instrument_id, bars[100:])
    assert len(calls) == len(bars) - 50
    host.stop()
    assert host.state is HostState.STOPPED and host.advance().commands == []


def test_indicators_fed_batch_by_batch_equal_the_whole_series_and_follow_new_parameters(
    day_series: BarSeries,
) -> None:
    """The host converts only the new bars' indicator values (`Strategy.set_indicators(..., unchanged)`); after
    any batch sizes they equal one computation over the whole series, and new parameters recompute them all."""
    import numpy as np

    loop, host = build_live(SPEC, SmaCross, day_series)
    bars = list(day_series.bars())
    strategy = host.strategy
    for start, end in ((0, 1), (1, 8), (8, 9), (9, 120)):
        loop.on_bars(host.instrument_id, bars[start:end])
        expected = strategy.indicators(day_series.slice(0, end))
        assert {key: len(values) for key, values in strategy.ind.items()} == dict.fromkeys(expected, end)
        for key, values in expected.items():
            np.testing.assert_array_equal(np.array(strategy.ind[key]), values)
    host.update_parameters({"slow": 20})
    loop.on_bars(host.instrument_id, bars[120:121])
    slow = strategy.indicators(day_series.slice(0, 121))["slow"]
    np.testing.assert_array_equal(np.array(strategy.ind["slow"]), slow)


def test_history_cap_keeps_a_sliding_window(day_series: BarSeries) -> None:
    loop, host = build_live(SPEC, SmaCross, day_series, history_cap=40)
    loop.run(ReplaySource(host.instrument_id, day_series, batch_size=10))
    status = host.status()
    assert status["bars_stepped"] == len(day_series)
    assert len(host._history.bars) <= 50  # the cap plus at most one batch


def test_a_host_rebuilt_mid_run_from_the_journal_continues_with_exactly_the_backtest_fills() -> None:
    series = series_for(SP500_MINUTE, ORB_SPEC["timezone"])
    spec = BacktestSpec(data="orb", strategy="opening_range_breakout", params=ORB_PARAMS, **ORB_SPEC)
    cls = BUILTIN["opening_range_breakout"]
    expected = backtest(spec, cls, series)
    loop, host = build_live(spec, cls, series)
    bars = list(series.bars())
    cut = 700  # mid-day, with a bracket working
    loop.on_bars(host.instrument_id, bars[:cut])
    # The strategy process dies: a new host replays the history with what the OMS recorded for it.
    reborn = rebuild_host(host, loop.oms.history(host.strategy_id), bars[:cut])
    runner = loop.runners[0]
    runner.rebuilt(reborn)
    loop.drive(runner)
    assert reborn.order_seq == host.order_seq
    assert [o.status for o in reborn.orders.values()] == [o.status for o in host.orders.values()]
    loop.on_bars(host.instrument_id, bars[cut:])
    assert [fill_key(f) for f in loop.broker.fills] == [fill_key(f) for f in expected.fills]
    assert loop.broker.equity() == expected.final_value
    assert len(loop.oms.orders) == len(expected.orders)
