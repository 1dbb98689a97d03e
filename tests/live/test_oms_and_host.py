"""Order manager (journal, rebuild, reconcile, duplicates) and strategy host (lifecycle, ids, restart replay)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import pytest

from strategies import BUILTIN, SmaCross
from trading.backtest.runner import BacktestSpec
from trading.brokers.protocol import ExecutionReport, OrderReport, PositionReport
from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.live import HostState, InMemoryJournal, OrderManager, ReconciliationMismatch, StrategyHost
from trading.live.loop import LiveLoop, rebuild_host
from trading.live.oms import EXTERNAL
from trading.messages import OrderCanceled, OrderFilled
from trading.model.identifiers import ClientOrderId, StrategyId
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType

from .live_support import (
    ORB_PARAMS,
    ORB_SPEC,
    SP500_MINUTE,
    backtest,
    build_live,
    feed,
    fill_key,
    reconciliation,
    run_live,
    series_for,
)

SPEC = BacktestSpec(data="day", strategy="sma_cross", params={"fast": 1, "slow": 15})


def journaled_run(series: BarSeries) -> tuple[InMemoryJournal, OrderManager, LiveLoop]:
    loop, host = build_live(SPEC, SmaCross, series)
    journal = InMemoryJournal()
    loop.oms.journal = journal
    feed(loop, host, list(series.bars()))
    return journal, loop.oms, loop


def test_oms_books_each_fill_once_and_rebuilds_the_same_state_from_its_journal(day_series: BarSeries) -> None:
    journal, oms, _ = journaled_run(day_series)
    assert oms.fills
    again = oms.apply(list(oms.fills))  # a replayed venue report
    assert again == [] and len(oms.fills) == len(journal.read(stream="oms")) - len(
        [e for e in journal.entries if e.kind != "OrderFilled"]
    )
    rebuilt = OrderManager(account_id="paper")
    for instrument in oms.instruments.values():
        rebuilt.register(instrument)
    rebuilt.rebuild(journal.entries)
    assert rebuilt.snapshot()["orders"] == oms.snapshot()["orders"]
    assert rebuilt.account_positions.keys() == oms.account_positions.keys()
    for key, position in oms.account_positions.items():
        assert rebuilt.account_positions[key].to_dict() == position.to_dict()
    assert rebuilt.account_pnl("paper").realized == oms.account_pnl("paper").realized
    # Appending the same events again is a no-op for the journal (idempotency keys).
    size = len(journal.entries)
    journal.extend(list(journal.entries))
    assert len(journal.entries) == size


def test_reconcile_books_missing_fills_and_corrects_positions(day_series: BarSeries) -> None:
    journal, _, loop = journaled_run(day_series)
    report = reconciliation(loop)
    instrument_id = next(iter(loop.hosts.values())).instrument_id
    behind = OrderManager(account_id="paper")
    behind.rebuild(journal.entries[: len(journal.entries) // 2])  # the OMS lost the second half
    events = behind.reconcile(report, "paper")
    missing = [e for e in events if isinstance(e, OrderFilled)]
    assert missing and {f.fill.trade_id for f in missing} <= {f.trade_id for f in report.fills}
    assert behind.account_position(instrument_id, "paper") == loop.venue.ledger.quantity(instrument_id)
    assert behind.reconcile(report, "paper") == []  # the same report again books nothing
    # A position the venue has and we do not is taken from the venue and reported.
    ours = OrderManager(account_id="paper")
    ours.rebuild(journal.entries)
    fake = replace(report, positions=[PositionReport(instrument_id, Decimal(7), Decimal(100))], fills=[])
    corrections = ours.reconcile(fake, "paper")
    assert any(isinstance(e, ReconciliationMismatch) and e.subject == "position" for e in corrections)
    assert ours.account_position(instrument_id, "paper") == Decimal(7)


def test_reconcile_closes_accepted_orders_the_venue_has_no_record_of_and_keeps_unanswered_ones_in_doubt(
    day_series: BarSeries,
) -> None:
    """An order the venue accepted but no longer lists, and no lookup finds, is closed; an order whose write
    went unanswered (still `submitted`) stays open, in doubt: the venue may still get it."""
    oms = OrderManager(account_id="paper")
    _, done, loop = journaled_run(day_series)
    for instrument in done.instruments.values():
        oms.register(instrument)
    instrument_id = next(iter(loop.hosts.values())).instrument_id
    ts = day_series.bar(0).ts
    ids = [ClientOrderId(f"manual-{k}") for k in range(2)]
    for cid in ids:
        order = Order(cid, StrategyId("manual"), instrument_id, OrderSide.BUY, OrderType.LIMIT, Decimal(1),
                      limit_price=Decimal(100), broker="paper")
        oms.submit(order, ts)
    accepted = report_for(oms.orders[ids[1]], OrderStatus.ACCEPTED, ts)
    oms.on_report(ExecutionReport(accepted), "paper", ts)
    nothing = replace(reconciliation(loop), open_orders=[], fills=[], positions=[])
    events = oms.reconcile(nothing, "paper")
    assert [e.client_order_id for e in events if isinstance(e, OrderCanceled)] == [ids[1]]
    assert [oms.orders[cid].status.value for cid in ids] == ["submitted", "canceled"]
    assert oms.orders[ids[1]].reason.startswith("RECONCILED")
    assert [o.client_order_id for o in oms.in_doubt()] == [ids[0]]


def test_an_order_made_by_hand_at_the_venue_is_adopted_and_flagged(day_series: BarSeries) -> None:
    _, oms, loop = journaled_run(day_series)
    instrument_id = next(iter(loop.hosts.values())).instrument_id
    before = oms.account_position(instrument_id, "paper")
    ts = day_series.bar(10).ts
    hand = Order(ClientOrderId("by-hand-1"), StrategyId("x"), instrument_id, OrderSide.BUY, OrderType.MARKET,
                 Decimal(3))
    filled = report_for(hand, OrderStatus.FILLED, ts)
    from trading.model.fills import Fill
    from trading.model.identifiers import TradeId

    fill = Fill(TradeId("T-hand"), hand.client_order_id, StrategyId(""), instrument_id, OrderSide.BUY, Decimal(3),
                Decimal(4000), Decimal(0), "USD", ts)
    events = oms.on_report(ExecutionReport(filled, fill), "paper", ts)
    assert any(isinstance(e, ReconciliationMismatch) and e.subject == "unknown_venue_order" for e in events)
    assert oms.orders[hand.client_order_id].strategy_id == EXTERNAL
    assert oms.account_position(instrument_id, "paper") == before + 3
    assert oms.on_report(ExecutionReport(filled, fill), "paper", ts) == []  # delivered twice, booked once


def report_for(order: Order, status: OrderStatus, ts: int) -> OrderReport:
    return OrderReport(order.client_order_id, None, order.instrument_id, order.side, order.order_type,
                       order.quantity, order.quantity if status is OrderStatus.FILLED else Decimal(0), status,
                       limit_price=order.limit_price, ts=ts)


def test_host_ids_are_deterministic_and_the_sequence_is_restorable(day_series: BarSeries) -> None:
    loop, host = run_live(SPEC, SmaCross, day_series)
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
    feed(loop, host, bars[:50])
    host.pause()
    assert host.state is HostState.PAUSED
    feed(loop, host, bars[50:100])
    assert len(calls) == 50 and host.status()["bars_seen"] == 100
    host.resume()
    with pytest.raises(ConfigError, match="slow"):
        host.update_parameters({"slow": 1})
    assert host.update_parameters({"slow": 20})["slow"] == 20
    feed(loop, host, bars[100:])
    assert len(calls) == len(bars) - 50
    host.stop()
    assert host.state is HostState.STOPPED and host.advance().commands == []


def test_indicators_fed_batch_by_batch_equal_the_whole_series_and_follow_new_parameters(
    day_series: BarSeries,
) -> None:
    """The host converts only the new bars' indicator values (`Strategy.set_indicators(..., unchanged)`); after
    any batch sizes they equal one computation over the whole series, and new parameters recompute them all."""
    import numpy as np

    _, host = build_live(SPEC, SmaCross, day_series)
    bars = list(day_series.bars())
    strategy = host.strategy
    for start, end in ((0, 1), (1, 8), (8, 9), (9, 120)):
        host.on_bars(bars[start:end])
        host.advance()
        expected = strategy.indicators(day_series.slice(0, end))
        assert {key: len(values) for key, values in strategy.ind.items()} == dict.fromkeys(expected, end)
        for key, values in expected.items():
            np.testing.assert_array_equal(np.array(strategy.ind[key]), values)
    host.update_parameters({"slow": 20})
    host.on_bars(bars[120:121])
    host.advance()
    slow = strategy.indicators(day_series.slice(0, 121))["slow"]
    np.testing.assert_array_equal(np.array(strategy.ind["slow"]), slow)


def test_history_cap_keeps_a_sliding_window(day_series: BarSeries) -> None:
    loop, host = build_live(SPEC, SmaCross, day_series, history_cap=40)
    feed(loop, host, list(day_series.bars()))
    status = host.status()
    assert status["bars_stepped"] == len(day_series)
    assert len(host._history.bars) <= 41  # the cap plus the bar being stepped


def test_a_host_rebuilt_mid_run_from_the_journal_continues_with_exactly_the_backtest_fills() -> None:
    series = series_for(SP500_MINUTE, ORB_SPEC["timezone"])
    spec = BacktestSpec(data="orb", strategy="opening_range_breakout", params=ORB_PARAMS, **ORB_SPEC)
    cls = BUILTIN["opening_range_breakout"]
    expected = backtest(spec, cls, series)
    loop, host = build_live(spec, cls, series)
    bars = list(series.bars())
    cut = 700  # mid-day, with a bracket working
    feed(loop, host, bars[:cut])
    # The strategy process dies: a new host replays the history with what the OMS recorded for it.
    sid = host.strategy_id
    reborn = rebuild_host(host, loop.oms.history(sid), bars[:cut], loop.oms.last_order_seq(sid))
    loop.replace_host(reborn)
    assert reborn.order_seq == host.order_seq
    assert [o.status for o in reborn.orders.values()] == [o.status for o in host.orders.values()]
    feed(loop, reborn, bars[cut:])
    assert [fill_key(f) for f in loop.venue.fills] == [fill_key(f) for f in expected.fills]
    assert asyncio.run(loop.venue.account_report()).equity == expected.final_value
    assert len(loop.oms.orders) == len(expected.orders)
