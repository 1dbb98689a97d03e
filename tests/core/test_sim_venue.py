"""The simulated venue's matching rules, bar by bar, on hand-built bars (Bar(ts, o, h, l, c, v))."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading.messages import OrderCanceled, OrderExpired, OrderRejected, OrderTriggered
from trading.model import (
    ClientOrderId,
    ContingencyType,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    crypto_spot,
    future,
)
from trading.sim import FillTiming, PercentFee, PercentSlippage, PerUnitFee, TickSlippage

from .venue_support import (
    NS_PER_DAY,
    STOCK,
    T0,
    D,
    bar,
    fills_of,
    kinds,
    make_order,
    make_venue,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
LIMIT, STOP, STOP_LIMIT, TRAILING = OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP
XYZ = STOCK.id


def submit_on(venue, order, signal_bar, in_session=True):
    """The signal bar is seen by the venue first, then the strategy submits on it (as the engine does)."""
    venue.on_bar(XYZ, signal_bar, in_session)
    return venue.submit(order, signal_bar, in_session)


def only_fill(events):
    fills = fills_of(events)
    assert len(fills) == 1, events
    return fills[0].fill


# ------------------------------------------------------------------------------------------ market
def test_market_order_when_next_open_then_fills_at_next_bar_open() -> None:
    venue = make_venue()
    order = make_order(BUY, 10)
    events = submit_on(venue, order, bar(0, 100, 101, 99, 100.5))
    assert kinds(events) == ["OrderAccepted"]
    fill = only_fill(venue.on_bar(XYZ, bar(1, 102, 103, 101, 102.5)))
    assert (fill.price, fill.quantity, fill.ts) == (D("102"), D(10), bar(1, 0, 0, 0, 0).ts)
    assert order.status is OrderStatus.FILLED
    assert venue.account.quantity(XYZ) == 10


def test_market_order_never_fills_on_the_bar_it_arrived_on() -> None:
    venue = make_venue()
    signal = bar(0, 100, 101, 99, 100.5)
    submit_on(venue, make_order(BUY, 1), signal)
    assert venue.on_bar(XYZ, signal) == []  # the same bar again: the order arrived at its close


def test_market_order_when_close_timing_then_fills_at_signal_bar_close() -> None:
    venue = make_venue(fill_timing=FillTiming.CLOSE)
    order = make_order(BUY, 3)
    signal = bar(0, 100, 101, 99, 100.55)
    fill = only_fill(submit_on(venue, order, signal))
    assert (fill.price, fill.ts) == (D("100.55"), signal.ts)
    assert venue.on_bar(XYZ, bar(1, 90, 91, 89, 90)) == []  # filled once, nothing left


# ------------------------------------------------------------------------------------------- limit
@pytest.mark.parametrize(
    ("side", "limit", "next_bar", "expected"),
    [
        (BUY, "100", (99, 101, 98, 100), "99"),  # gapped below the limit: the better open price
        (BUY, "100", (101, 102, 99.5, 101), "100"),  # traded down through the limit: the limit
        (BUY, "100", (101, 102, 100, 101), "100"),  # the low touched the limit exactly
        (SELL, "100", (101, 102, 99, 100), "101"),  # gapped above: the open
        (SELL, "100", (99, 100.5, 98, 99), "100"),  # traded up through: the limit
    ],
)
def test_limit_order_when_price_reaches_limit_then_fills_at_open_or_limit(side, limit, next_bar, expected):
    venue = make_venue()
    order = make_order(side, 5, LIMIT, limit_price=limit)
    submit_on(venue, order, bar(0, 100.5, 100.5, 100.5, 100.5))
    fill = only_fill(venue.on_bar(XYZ, bar(1, *next_bar)))
    assert fill.price == D(expected)
    assert fill.liquidity == ("taker" if fill.price != D(limit) else "maker")


@pytest.mark.parametrize(("side", "next_bar"), [(BUY, (101, 102, 100.01, 101)), (SELL, (99, 99.99, 98, 99))])
def test_limit_order_when_price_never_reaches_limit_then_keeps_working(side, next_bar):
    venue = make_venue()
    order = make_order(side, 5, LIMIT, limit_price="100")
    submit_on(venue, order, bar(0, 100.5, 100.5, 100.5, 100.5))
    assert fills_of(venue.on_bar(XYZ, bar(1, *next_bar))) == []
    assert order.status is OrderStatus.ACCEPTED
    assert venue.working_orders() == [order]


def test_limit_fill_pays_no_slippage() -> None:
    venue = make_venue(slippage=TickSlippage(3))
    submit_on(venue, make_order(BUY, 1, LIMIT, limit_price="100"), bar(0, 101, 101, 101, 101))
    assert only_fill(venue.on_bar(XYZ, bar(1, 101, 102, 99, 101))).price == D("100")


# -------------------------------------------------------------------------------------------- stop
@pytest.mark.parametrize(
    ("side", "next_bar", "expected"),
    [
        (BUY, (106, 107, 105, 106), "106"),  # gapped through the stop: the open
        (BUY, (104, 105.5, 103, 105), "105"),  # traded up to the stop: the stop
        (SELL, (94, 96, 93, 95), "94"),
        (SELL, (96, 97, 94.5, 95), "95"),
    ],
)
def test_stop_order_when_touched_then_fills_at_stop_or_gap_open(side, next_bar, expected):
    venue = make_venue()
    stop = "105" if side is BUY else "95"
    order = make_order(side, 2, STOP, stop_price=stop)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert only_fill(venue.on_bar(XYZ, bar(1, *next_bar))).price == D(expected)


def test_stop_order_when_not_touched_then_keeps_working() -> None:
    venue = make_venue()
    order = make_order(BUY, 2, STOP, stop_price="105")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert venue.on_bar(XYZ, bar(1, 100, 104.99, 99, 104)) == []
    assert order.is_open


def test_stop_fill_pays_tick_slippage_against_the_trader() -> None:
    venue = make_venue(slippage=TickSlippage(2))
    submit_on(venue, make_order(SELL, 2, STOP, stop_price="95"), bar(0, 100, 100, 100, 100))
    assert only_fill(venue.on_bar(XYZ, bar(1, 96, 97, 94, 95))).price == D("94.98")


# -------------------------------------------------------------------------------------- stop-limit
def test_stop_limit_when_stop_touched_inside_limit_then_fills_at_stop_on_trigger_bar() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, STOP_LIMIT, stop_price="101", limit_price="101.50")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    events = venue.on_bar(XYZ, bar(1, 100, 102, 99, 101.8))
    assert kinds(events) == ["OrderTriggered", "OrderFilled"]
    assert only_fill(events).price == D("101")


def test_stop_limit_when_gap_beyond_limit_then_triggers_and_works_as_limit() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, STOP_LIMIT, stop_price="101", limit_price="101.50")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    events = venue.on_bar(XYZ, bar(1, 103, 104, 102, 103))
    assert [type(e) for e in events] == [OrderTriggered]
    assert order.status is OrderStatus.TRIGGERED
    # Next bar never comes back to the limit: still working, not re-triggered.
    assert venue.on_bar(XYZ, bar(2, 103, 104, 101.6, 103)) == []
    # Then it trades down to the limit: a limit fill at the limit, not at the stop.
    assert only_fill(venue.on_bar(XYZ, bar(3, 102, 102, 101, 101.2))).price == D("101.50")
    assert order.status is OrderStatus.FILLED


def test_stop_limit_when_stop_not_touched_then_nothing_happens() -> None:
    venue = make_venue()
    order = make_order(SELL, 1, STOP_LIMIT, stop_price="99", limit_price="98.5")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert venue.on_bar(XYZ, bar(1, 100, 101, 99.01, 100)) == []
    assert order.status is OrderStatus.ACCEPTED


# ---------------------------------------------------------------------------------- trailing stop
def test_trailing_stop_sell_ratchets_up_with_highs_and_triggers_on_the_pullback() -> None:
    venue = make_venue()
    order = make_order(SELL, 1, TRAILING, trailing_offset="2")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))  # watermark 100: stop 98
    assert venue.on_bar(XYZ, bar(1, 100, 105, 99, 104)) == []  # low 99 above 98; stop ratchets to 103
    assert venue.on_bar(XYZ, bar(2, 104, 104.5, 103.5, 104)) == []  # new high below 105: stop stays 103
    assert only_fill(venue.on_bar(XYZ, bar(3, 104, 104, 102, 102.5))).price == D("103")


def test_trailing_stop_never_moves_against_the_trader() -> None:
    venue = make_venue()
    order = make_order(SELL, 1, TRAILING, trailing_offset="2")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert venue.on_bar(XYZ, bar(1, 100, 110, 99, 109)) == []  # stop 108
    assert venue.on_bar(XYZ, bar(2, 109, 109.5, 108.5, 109)) == []  # lower high: stop still 108
    assert only_fill(venue.on_bar(XYZ, bar(3, 109, 109, 107, 107))).price == D("108")


def test_trailing_stop_buy_by_percent_ratchets_down_and_gap_fills_at_open() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, TRAILING, trailing_percent="10")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))  # stop 110
    assert venue.on_bar(XYZ, bar(1, 100, 101, 80, 81)) == []  # low 80: stop 88
    assert only_fill(venue.on_bar(XYZ, bar(2, 90, 91, 89, 90))).price == D("90")  # gapped above 88


# --------------------------------------------------------------------------------------- IOC / FOK
def test_ioc_when_volume_capped_then_fills_what_it_can_and_cancels_the_rest() -> None:
    venue = make_venue(volume_cap=0.5)
    order = make_order(BUY, 80, LIMIT, limit_price="100", time_in_force=TimeInForce.IOC)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    events = venue.on_bar(XYZ, bar(1, 100, 100, 99, 100, v=100))
    assert only_fill(events).quantity == D(50)
    assert isinstance(events[-1], OrderCanceled) and events[-1].reason.startswith("IOC")
    assert (order.status, order.filled_quantity) == (OrderStatus.CANCELED, D(50))
    assert venue.on_bar(XYZ, bar(2, 100, 100, 99, 100, v=100)) == []


def test_ioc_when_not_marketable_on_first_bar_then_canceled_unfilled() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="90", time_in_force=TimeInForce.IOC)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert kinds(venue.on_bar(XYZ, bar(1, 100, 101, 95, 100))) == ["OrderCanceled"]
    assert venue.on_bar(XYZ, bar(2, 85, 86, 84, 85)) == []  # would have filled: too late
    assert order.filled_quantity == 0


def test_ioc_when_close_timing_and_not_marketable_at_close_then_canceled_on_the_signal_bar() -> None:
    venue = make_venue(fill_timing=FillTiming.CLOSE)
    order = make_order(BUY, 1, LIMIT, limit_price="90", time_in_force=TimeInForce.IOC)
    events = submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]
    assert fills_of(venue.on_bar(XYZ, bar(1, 85, 86, 84, 85))) == []


def test_fok_when_volume_is_short_then_canceled_and_nothing_filled() -> None:
    venue = make_venue(volume_cap=0.5)
    order = make_order(BUY, 60, time_in_force=TimeInForce.FOK)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    events = venue.on_bar(XYZ, bar(1, 100, 100, 99, 100, v=100))
    assert kinds(events) == ["OrderCanceled"]
    assert order.filled_quantity == 0 and venue.account.quantity(XYZ) == 0
    assert venue.account.cash == venue.account.starting_cash


def test_fok_when_volume_suffices_then_fills_completely() -> None:
    venue = make_venue(volume_cap=0.5)
    order = make_order(BUY, 50, time_in_force=TimeInForce.FOK)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert only_fill(venue.on_bar(XYZ, bar(1, 100, 100, 99, 100, v=100))).quantity == D(50)
    assert order.status is OrderStatus.FILLED


# ------------------------------------------------------------------------------------- volume cap
def test_volume_cap_when_order_exceeds_bar_volume_then_partial_fills_across_bars() -> None:
    venue = make_venue(volume_cap=0.25)
    order = make_order(BUY, 120)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    quantities = []
    for k in (1, 2, 3):
        fill = only_fill(venue.on_bar(XYZ, bar(k, 100 + k, 101 + k, 99 + k, 100 + k, v=200)))
        quantities.append(fill.quantity)
        assert fill.price == D(100 + k)
    assert quantities == [D(50), D(50), D(20)]
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == (D(50) * 101 + D(50) * 102 + D(20) * 103) / 120


def test_volume_cap_is_shared_by_orders_on_the_same_bar() -> None:
    venue = make_venue(volume_cap=0.5, fill_timing=FillTiming.CLOSE)
    signal = bar(0, 100, 100, 100, 100, v=100)
    venue.on_bar(XYZ, signal)
    first = fills_of(venue.submit(make_order(BUY, 40), signal))
    second = fills_of(venue.submit(make_order(BUY, 40), signal))
    assert sum(f.fill.quantity for f in first + second) == D(50)


def test_volume_cap_ignores_bars_without_reported_volume() -> None:
    venue = make_venue(volume_cap=0.1)
    submit_on(venue, make_order(BUY, 500), bar(0, 100, 100, 100, 100))
    assert only_fill(venue.on_bar(XYZ, bar(1, 100, 100, 100, 100, v=0))).quantity == D(500)


# ------------------------------------------------------------------------------- sessions and DAY
def test_day_order_when_session_ends_then_expires_and_gtc_survives() -> None:
    venue = make_venue()
    day = make_order(BUY, 1, LIMIT, limit_price="90", time_in_force=TimeInForce.DAY)
    gtc = make_order(BUY, 1, LIMIT, limit_price="90")
    submit_on(venue, day, bar(0, 100, 100, 100, 100))
    venue.submit(gtc, bar(0, 100, 100, 100, 100))
    events = venue.end_of_session(XYZ, bar(0, 0, 0, 0, 0).ts)
    assert [type(e) for e in events] == [OrderExpired]
    assert day.status is OrderStatus.EXPIRED
    assert venue.working_orders() == [gtc]


def test_day_order_without_sessions_when_utc_date_changes_then_expires_unfilled() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="100", time_in_force=TimeInForce.DAY)
    submit_on(venue, order, bar(0, 101, 101, 101, 101))
    assert venue.on_bar(XYZ, bar(1, 101, 102, 100.5, 101)) == []  # same day, not reached
    next_day = bar(0, 99, 99, 98, 99, start=T0 + NS_PER_DAY)  # would fill, but it is another UTC day
    assert kinds(venue.on_bar(XYZ, next_day)) == ["OrderExpired"]
    assert order.status is OrderStatus.EXPIRED and order.filled_quantity == 0


def test_no_fills_outside_the_session() -> None:
    venue = make_venue()
    order = make_order(BUY, 1)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert venue.on_bar(XYZ, bar(1, 100, 100, 100, 100), in_session=False) == []
    assert order.status is OrderStatus.ACCEPTED
    assert only_fill(venue.on_bar(XYZ, bar(2, 103, 104, 102, 103))).price == D("103")


def test_close_timing_outside_the_session_waits_for_the_session() -> None:
    venue = make_venue(fill_timing=FillTiming.CLOSE)
    order = make_order(BUY, 1)
    assert kinds(submit_on(venue, order, bar(0, 100, 100, 100, 100), in_session=False)) == ["OrderAccepted"]
    assert only_fill(venue.on_bar(XYZ, bar(1, 101, 101, 101, 101))).price == D("101")


# --------------------------------------------------------------------------------- OCO and brackets
def _oco_pair(quantity: int = 1):
    stop = make_order(SELL, quantity, STOP, stop_price="95", contingency=ContingencyType.OCO)
    take = make_order(SELL, quantity, LIMIT, limit_price="110", contingency=ContingencyType.OCO)
    stop.linked_ids = (take.client_order_id,)
    take.linked_ids = (stop.client_order_id,)
    return stop, take


def test_oco_when_one_fills_then_the_other_is_canceled() -> None:
    venue = make_venue()
    stop, take = _oco_pair()
    submit_on(venue, stop, bar(0, 100, 100, 100, 100))
    venue.submit(take, bar(0, 100, 100, 100, 100))
    events = venue.on_bar(XYZ, bar(1, 100, 111, 99, 110))
    assert only_fill(events).client_order_id == take.client_order_id
    assert stop.status is OrderStatus.CANCELED
    assert venue.working_orders() == []
    assert venue.on_bar(XYZ, bar(2, 90, 90, 80, 85)) == []


def _bracket(entry_type=OrderType.MARKET, **entry_fields):
    entry = make_order(BUY, 10, entry_type, contingency=ContingencyType.OTO, **entry_fields)
    stop, take = _oco_pair(10)
    for child in (stop, take):
        child.parent_id = entry.client_order_id
        child.reduce_only = True
    entry.linked_ids = (stop.client_order_id, take.client_order_id)
    return entry, stop, take


def test_bracket_children_wait_for_the_parent_then_activate_and_cancel_each_other() -> None:
    venue = make_venue()
    entry, stop, take = _bracket()
    signal = bar(0, 100, 100, 100, 100)
    submit_on(venue, entry, signal)
    assert kinds(venue.submit(stop, signal) + venue.submit(take, signal)) == ["OrderAccepted", "OrderAccepted"]
    assert venue.working_orders() == [entry]
    assert set(venue.open_orders()) == {entry, stop, take}
    # The entry fills at the open of a bar whose range covers both exits: children only work from the next bar.
    fill = only_fill(venue.on_bar(XYZ, bar(1, 100, 120, 90, 100)))
    assert fill.client_order_id == entry.client_order_id
    assert set(venue.working_orders()) == {stop, take}
    events = venue.on_bar(XYZ, bar(2, 100, 100, 94, 96))
    assert only_fill(events).client_order_id == stop.client_order_id
    assert take.status is OrderStatus.CANCELED
    assert venue.account.quantity(XYZ) == 0


def test_bracket_children_when_parent_partially_filled_and_done_then_activate_with_its_filled_quantity() -> None:
    venue = make_venue(volume_cap=0.5)
    entry, stop, take = _bracket(time_in_force=TimeInForce.IOC)
    signal = bar(0, 100, 100, 100, 100)
    submit_on(venue, entry, signal)
    venue.submit(stop, signal)
    venue.submit(take, signal)
    venue.on_bar(XYZ, bar(1, 100, 100, 100, 100, v=8))
    assert (entry.status, entry.filled_quantity) == (OrderStatus.CANCELED, D(4))
    assert set(venue.working_orders()) == {stop, take}
    assert stop.quantity == take.quantity == D(4)
    fill = only_fill(venue.on_bar(XYZ, bar(2, 100, 111, 100, 110, v=1000)))
    assert (fill.client_order_id, fill.quantity) == (take.client_order_id, D(4))
    assert venue.account.quantity(XYZ) == 0


def test_bracket_children_when_parent_canceled_unfilled_then_canceled() -> None:
    venue = make_venue()
    entry, stop, take = _bracket(LIMIT, limit_price="90")
    signal = bar(0, 100, 100, 100, 100)
    submit_on(venue, entry, signal)
    venue.submit(stop, signal)
    venue.submit(take, signal)
    events = venue.cancel(entry.client_order_id, signal.ts)
    assert kinds(events) == ["OrderCanceled"] * 3
    assert venue.open_orders() == []


def test_bracket_children_when_parent_already_rejected_then_canceled_not_held_forever() -> None:
    venue = make_venue()
    entry, stop, take = _bracket(LIMIT, limit_price="90.001")  # off tick: rejected
    signal = bar(0, 100, 100, 100, 100)
    assert kinds(submit_on(venue, entry, signal)) == ["OrderRejected"]
    venue.submit(stop, signal)
    venue.submit(take, signal)
    assert stop.is_closed and take.is_closed
    assert venue.open_orders() == []


def test_bracket_children_when_parent_unknown_to_the_venue_then_rejected() -> None:
    venue = make_venue()
    _entry, stop, take = _bracket()  # the entry never reached the venue (denied by risk)
    signal = bar(0, 100, 100, 100, 100)
    venue.on_bar(XYZ, signal)
    events = venue.submit(stop, signal) + venue.submit(take, signal)
    assert [type(e) for e in events] == [OrderRejected, OrderRejected]
    assert venue.open_orders() == []
    assert venue.on_bar(XYZ, bar(1, 100, 120, 80, 100)) == []


# --------------------------------------------------------------------------------------- rejections
def test_buy_when_cash_is_insufficient_then_canceled_and_nothing_booked() -> None:
    venue = make_venue(cash=1_000)
    order = make_order(BUY, 11)
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    events = venue.on_bar(XYZ, bar(1, 100, 100, 100, 100))
    assert kinds(events) == ["OrderCanceled"] and "INSUFFICIENT_FUNDS" in order.reason
    assert venue.account.cash == D(1000) and venue.account.quantity(XYZ) == 0


def test_buy_when_cash_exactly_suffices_including_fees_then_fills() -> None:
    venue = make_venue(cash=1_001, fees=PerUnitFee(D("0.1")))
    submit_on(venue, make_order(BUY, 10), bar(0, 100, 100, 100, 100))
    only_fill(venue.on_bar(XYZ, bar(1, 100, 100, 100, 100)))
    assert venue.account.cash == 0


def test_futures_buy_when_margin_is_insufficient_then_canceled() -> None:
    es = future("ES", margin_init="12000")
    venue = make_venue(es, cash=20_000)
    order = make_order(BUY, 2, instrument=es)
    venue.on_bar(es.id, bar(0, 4000, 4000, 4000, 4000))
    venue.submit(order, bar(0, 4000, 4000, 4000, 4000))
    assert kinds(venue.on_bar(es.id, bar(1, 4000, 4000, 4000, 4000))) == ["OrderCanceled"]
    one = make_order(BUY, 1, instrument=es)
    venue.submit(one, bar(1, 4000, 4000, 4000, 4000))
    only_fill(venue.on_bar(es.id, bar(2, 4000, 4000, 4000, 4000)))
    assert venue.account.margin_used() == D(12000)


def test_limit_price_off_tick_then_rejected() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="100.005")
    events = submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert [type(e) for e in events] == [OrderRejected]
    assert "PRICE_NOT_ON_TICK" in order.reason and order.status is OrderStatus.REJECTED


def test_quantity_off_lot_then_rejected() -> None:
    btc = crypto_spot("BTC/USDT", lot_size="0.001")
    venue = make_venue(btc)
    order = make_order(BUY, "0.0015", instrument=btc)
    venue.on_bar(btc.id, bar(0, 100, 100, 100, 100))
    events = venue.submit(order, bar(0, 100, 100, 100, 100))
    assert [type(e) for e in events] == [OrderRejected] and "QUANTITY_NOT_ON_LOT" in order.reason


def test_replace_with_price_off_tick_then_rejected_and_order_unchanged() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="90")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    events = venue.replace(order.client_order_id, bar(0, 0, 0, 0, 0).ts, limit_price=D("95.555"))
    assert [type(e) for e in events] == [OrderRejected]
    assert order.limit_price == D("90") and order.is_open


def test_replace_limit_price_then_matches_at_the_new_price() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="90")
    submit_on(venue, order, bar(0, 100, 100, 100, 100))
    assert kinds(venue.replace(order.client_order_id, 0, limit_price=D("99"))) == ["OrderUpdated"]
    assert only_fill(venue.on_bar(XYZ, bar(1, 100, 100, 98, 99))).price == D("99")


def test_short_sale_of_unshortable_instrument_then_rejected() -> None:
    from dataclasses import replace

    hard_to_borrow = replace(STOCK, shortable=False)
    venue = make_venue(hard_to_borrow)
    order = make_order(SELL, 1, instrument=hard_to_borrow)
    venue.on_bar(XYZ, bar(0, 100, 100, 100, 100))
    assert [type(e) for e in venue.submit(order, bar(0, 100, 100, 100, 100))] == [OrderRejected]


# ------------------------------------------------------------------------------------- idempotency
def test_resubmit_of_the_same_client_order_id_then_no_second_order_and_no_second_fill() -> None:
    venue = make_venue()
    order = make_order(BUY, 5, client_order_id="DUP-1")
    signal = bar(0, 100, 100, 100, 100)
    submit_on(venue, order, signal)
    assert venue.submit(order, signal) == []
    resend = make_order(BUY, 5, client_order_id="DUP-1")
    assert venue.submit(resend, signal) == []
    assert list(venue.orders) == [ClientOrderId("DUP-1")]
    assert len(fills_of(venue.on_bar(XYZ, bar(1, 100, 100, 100, 100)))) == 1
    assert venue.submit(resend, bar(1, 100, 100, 100, 100)) == []
    assert fills_of(venue.on_bar(XYZ, bar(2, 100, 100, 100, 100))) == []
    assert venue.account.quantity(XYZ) == 5


# --------------------------------------------------------------------------------- fees and slippage
@pytest.mark.parametrize(
    ("fees", "quantity", "price", "expected"),
    [
        (PerUnitFee(D("0.005")), 1000, 100, "5.000"),
        (PerUnitFee(D("0.005"), minimum=D(1)), 10, 100, "1"),
        (PercentFee(D("0.001")), 10, 100, "1.000"),
        (PercentFee(D("0.001"), minimum=D("2.5")), 10, 100, "2.5"),
    ],
)
def test_fee_models_charge_per_unit_percent_and_minimum(fees, quantity, price, expected) -> None:
    venue = make_venue(fees=fees)
    submit_on(venue, make_order(BUY, quantity), bar(0, price, price, price, price))
    fill = only_fill(venue.on_bar(XYZ, bar(1, price, price, price, price)))
    assert fill.commission == D(expected)
    assert venue.account.cash == D(1_000_000) - D(quantity) * price - D(expected)
    assert venue.account.commissions == D(expected)


def test_percent_fee_on_futures_uses_the_multiplied_notional() -> None:
    es = future("ES", multiplier="50", margin_init="100")
    assert PercentFee(D("0.0001")).commission(es, D(2), D("4000.25")) == D("0.0001") * 2 * D("4000.25") * 50


@pytest.mark.parametrize(
    ("side", "bps", "price", "expected"),
    [
        (BUY, "10", "100.03", "100.14"),  # 100.13003 rounds up, against the buyer
        (SELL, "10", "100.03", "99.92"),  # 99.92997 rounds down, against the seller
        (BUY, "15", "100.00", "100.15"),  # exactly on tick: unchanged by rounding
        (SELL, "0", "100.00", "100.00"),
    ],
)
def test_percent_slippage_rounds_to_the_tick_against_the_trader(side, bps, price, expected) -> None:
    assert PercentSlippage(D(bps)).adjust(STOCK, side, D(price)) == D(expected)


@pytest.mark.parametrize(("side", "expected"), [(BUY, "100.03"), (SELL, "99.97")])
def test_tick_slippage_moves_market_fills_against_the_trader(side, expected) -> None:
    venue = make_venue(slippage=TickSlippage(3))
    submit_on(venue, make_order(side, 1), bar(0, 100, 100, 100, 100))
    assert only_fill(venue.on_bar(XYZ, bar(1, 100, 100, 100, 100))).price == D(expected)


def test_cancel_of_a_working_order_then_it_never_fills() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="100")
    submit_on(venue, order, bar(0, 101, 101, 101, 101))
    assert kinds(venue.cancel(order.client_order_id, 0)) == ["OrderCanceled"]
    assert venue.cancel(order.client_order_id, 0) == []
    assert venue.on_bar(XYZ, bar(1, 90, 90, 90, 90)) == []
    assert venue.account.cash == Decimal(1_000_000)


def test_bracket_child_canceled_while_held_then_no_longer_open_and_not_activated() -> None:
    venue = make_venue()
    entry, stop, take = _bracket()
    signal = bar(0, 100, 100, 100, 100)
    submit_on(venue, entry, signal)
    venue.submit(stop, signal)
    venue.submit(take, signal)
    assert kinds(venue.cancel(take.client_order_id, signal.ts)) == ["OrderCanceled"]
    assert set(venue.open_orders()) == {entry, stop}
    venue.on_bar(XYZ, bar(1, 100, 100, 100, 100))
    assert venue.open_orders() == venue.working_orders() == [stop]


def test_bracket_children_when_fok_parent_canceled_then_canceled_too() -> None:
    venue = make_venue(volume_cap=0.5)
    entry, stop, take = _bracket(time_in_force=TimeInForce.FOK)
    signal = bar(0, 100, 100, 100, 100)
    submit_on(venue, entry, signal)
    venue.submit(stop, signal)
    venue.submit(take, signal)
    assert kinds(venue.on_bar(XYZ, bar(1, 100, 100, 100, 100, v=10))) == ["OrderCanceled"] * 3
    assert venue.open_orders() == [] and not venue.has_open_orders(STOCK.id)


def test_stop_limit_triggered_at_close_in_close_timing_reports_the_trigger() -> None:
    venue = make_venue(fill_timing=FillTiming.CLOSE)
    order = make_order(BUY, 1, STOP_LIMIT, stop_price="101", limit_price="101.50")
    events = submit_on(venue, order, bar(0, 100, 103, 100, 102))
    assert kinds(events) == ["OrderAccepted", "OrderTriggered"]
    assert order.status is OrderStatus.TRIGGERED
    assert only_fill(venue.on_bar(XYZ, bar(1, 101, 101, 100, 100.5))).price == D("101")


def test_day_order_on_daily_bars_without_sessions_works_the_next_day_then_expires() -> None:
    venue = make_venue()
    order = make_order(BUY, 1, LIMIT, limit_price="100", time_in_force=TimeInForce.DAY)
    submit_on(venue, order, bar(0, 101, 101, 101, 101))  # placed at a daily close
    next_day = bar(0, 101, 102, 99, 101, start=T0 + NS_PER_DAY)
    assert only_fill(venue.on_bar(XYZ, next_day)).price == D("100")

    unfilled = make_order(BUY, 1, LIMIT, limit_price="50", time_in_force=TimeInForce.DAY)
    submit_on(venue, unfilled, next_day)
    assert venue.on_bar(XYZ, bar(0, 101, 102, 99, 101, start=T0 + 2 * NS_PER_DAY)) == []  # its day: works
    assert kinds(venue.on_bar(XYZ, bar(0, 101, 102, 99, 101, start=T0 + 3 * NS_PER_DAY))) == ["OrderExpired"]


def test_reduce_only_order_is_cut_to_the_position_and_never_opens_one() -> None:
    venue = make_venue()
    submit_on(venue, make_order(BUY, 3), bar(0, 100, 100, 100, 100))
    venue.on_bar(XYZ, bar(1, 100, 100, 100, 100))
    exit_order = make_order(SELL, 5, reduce_only=True)
    submit_on(venue, exit_order, bar(1, 100, 100, 100, 100))
    fill = only_fill(venue.on_bar(XYZ, bar(2, 101, 101, 101, 101)))
    assert fill.quantity == D(3) and venue.account.quantity(XYZ) == 0

    opener = make_order(SELL, 1, reduce_only=True)
    submit_on(venue, opener, bar(2, 101, 101, 101, 101))
    events = venue.on_bar(XYZ, bar(3, 101, 101, 101, 101))
    assert kinds(events) == ["OrderCanceled"] and "REDUCE_ONLY" in opener.reason
    assert venue.account.quantity(XYZ) == 0
