"""The order state machine: every row of TRANSITIONS, every illegal pair, fills, validation, serialization."""

from __future__ import annotations

import itertools
import json
import pickle
from decimal import Decimal

import pytest

from trading.errors import InvalidTransition, InvalidValue
from trading.messages import (
    MESSAGE_TYPES,
    CancelOrder,
    MarketDataRejected,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
    PositionChanged,
    ReconciliationMismatch,
    ReplaceOrder,
    RiskStateChanged,
    SubmitOrder,
    message_from_dict,
)
from trading.model import (
    ClientOrderId,
    ContingencyType,
    Fill,
    InstrumentId,
    Order,
    OrderSide,
    OrderStatus,
    OrderTrigger,
    OrderType,
    StrategyId,
    TimeInForce,
    TradeId,
    VenueOrderId,
)
from trading.model.orders import CLOSED_STATUSES, OPEN_STATUSES, TRANSITIONS, next_status

S, E = OrderStatus, OrderTrigger
IID = InstrumentId("AAPL", "ALPACA")


def new_order(order_type: OrderType = OrderType.LIMIT, quantity: str = "10", **fields) -> Order:
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        fields.setdefault("limit_price", Decimal("100"))
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        fields.setdefault("stop_price", Decimal("101"))
    return Order(
        client_order_id=ClientOrderId("C-1"),
        strategy_id=StrategyId("S"),
        instrument_id=IID,
        side=OrderSide.BUY,
        order_type=order_type,
        quantity=Decimal(quantity),
        **fields,
    )


def order_in(status: OrderStatus) -> Order:
    order = new_order()
    order.status = status
    return order


@pytest.mark.parametrize(("state", "trigger", "expected"), [(s, t, n) for (s, t), n in TRANSITIONS.items()])
def test_every_row_of_the_transition_table_moves_to_its_state(state, trigger, expected) -> None:
    order = order_in(state)
    assert order.apply(trigger, ts=7, reason="why") is expected
    assert (order.status, order.ts_last, order.reason) == (expected, 7, "why")


ILLEGAL = [(s, t) for s, t in itertools.product(OrderStatus, OrderTrigger) if (s, t) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "trigger"), ILLEGAL)
def test_every_pair_not_in_the_table_raises_invalid_transition_and_keeps_the_state(state, trigger) -> None:
    order = order_in(state)
    with pytest.raises(InvalidTransition, match=f"{trigger.value}.*{state.value}"):
        order.apply(trigger)
    assert order.status is state
    with pytest.raises(InvalidTransition):
        next_status(state, trigger)


def test_the_table_and_the_illegal_pairs_cover_every_combination() -> None:
    assert len(ILLEGAL) + len(TRANSITIONS) == len(OrderStatus) * len(OrderTrigger)
    assert OPEN_STATUSES.isdisjoint(CLOSED_STATUSES)
    assert OPEN_STATUSES | CLOSED_STATUSES | {S.INITIALIZED} == set(OrderStatus)


@pytest.mark.parametrize("status", sorted(CLOSED_STATUSES - {S.CANCELED, S.EXPIRED}))
def test_closed_orders_accept_no_trigger_except_late_fills(status) -> None:
    assert [t for t in OrderTrigger if (status, t) in TRANSITIONS] == []


def test_fill_after_cancel_confirmed_then_filled_and_money_is_recorded() -> None:
    order = new_order()
    for trigger in (E.SUBMIT, E.ACCEPT, E.REQUEST_CANCEL, E.CANCEL):
        order.apply(trigger)
    assert order.status is S.CANCELED
    assert order.record_fill(Decimal(10), Decimal("99.5"), ts=5) is S.FILLED
    assert (order.filled_quantity, order.avg_fill_price) == (Decimal(10), Decimal("99.5"))


def test_partial_fill_after_cancel_confirmed_stays_canceled_but_counts_the_quantity() -> None:
    order = order_in(S.CANCELED)
    assert order.record_fill(Decimal(4), Decimal(100), ts=1) is S.CANCELED
    assert order.filled_quantity == 4 and order.leaves_quantity == 6


def test_fill_while_cancel_pending_then_filled() -> None:
    order = order_in(S.PENDING_CANCEL)
    assert order.record_fill(Decimal(3), Decimal(100), 1) is S.PENDING_CANCEL
    assert order.record_fill(Decimal(7), Decimal(100), 2) is S.FILLED


def test_refused_cancel_of_a_partly_filled_order_returns_it_to_partially_filled() -> None:
    order = new_order()
    for trigger in (E.SUBMIT, E.ACCEPT):
        order.apply(trigger)
    order.record_fill(Decimal(3), Decimal(100), 1)
    order.apply(E.REQUEST_CANCEL)
    assert order.apply(E.CANCEL_REJECT) is S.PARTIALLY_FILLED
    assert order.record_fill(Decimal(7), Decimal(100), 2) is S.FILLED


def test_refused_update_of_a_triggered_stop_limit_keeps_it_triggered() -> None:
    order = new_order(OrderType.STOP_LIMIT, limit_price=Decimal(101), stop_price=Decimal(100))
    for trigger in (E.SUBMIT, E.ACCEPT, E.TRIGGER, E.REQUEST_UPDATE):
        order.apply(trigger)
    assert order.to_dict()["status_before_pending"] == "triggered"
    assert Order.from_dict(order.to_dict()).status_before_pending is S.TRIGGERED
    assert order.apply(E.ACCEPT) is S.TRIGGERED


def test_fill_after_expiry_then_filled() -> None:
    order = order_in(S.EXPIRED)
    assert order.record_fill(Decimal(10), Decimal(100), 1) is S.FILLED


def test_partial_fill_after_expiry_then_stays_expired_and_counts_like_after_a_cancel() -> None:
    order = order_in(S.EXPIRED)
    assert order.record_fill(Decimal(4), Decimal(100), 1) is S.EXPIRED
    assert order.record_fill(Decimal(6), Decimal(100), 2) is S.FILLED


def test_record_fill_keeps_the_exact_volume_weighted_average_price() -> None:
    order = order_in(S.ACCEPTED)
    assert order.record_fill(Decimal(3), Decimal("100.10"), 1) is S.PARTIALLY_FILLED
    assert order.record_fill(Decimal(3), Decimal("100.20"), 2) is S.PARTIALLY_FILLED
    assert order.record_fill(Decimal(4), Decimal("100.40"), 3) is S.FILLED
    assert order.avg_fill_price == Decimal("100.25")
    assert order.leaves_quantity == 0 and order.ts_last == 3 and order.is_closed


def test_record_fill_over_the_order_quantity_raises_and_changes_nothing() -> None:
    order = order_in(S.ACCEPTED)
    order.record_fill(Decimal(6), Decimal(100), 1)
    with pytest.raises(InvalidTransition, match="exceeds leaves 4"):
        order.record_fill(Decimal(5), Decimal(100), 2)
    assert (order.filled_quantity, order.status) == (Decimal(6), S.PARTIALLY_FILLED)


@pytest.mark.parametrize("quantity", [Decimal(0), Decimal(-1)])
def test_record_fill_of_non_positive_quantity_raises(quantity) -> None:
    with pytest.raises(InvalidValue, match="positive"):
        order_in(S.ACCEPTED).record_fill(quantity, Decimal(100), 1)


def test_record_fill_on_a_closed_order_raises() -> None:
    with pytest.raises(InvalidTransition):
        order_in(S.REJECTED).record_fill(Decimal(1), Decimal(100), 1)


# ---------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.STOP_LIMIT])
def test_limit_orders_without_a_positive_limit_price_are_invalid(order_type) -> None:
    for price in (None, Decimal(0), Decimal(-1)):
        with pytest.raises(InvalidValue, match="limit price"):
            new_order(order_type, limit_price=price)


@pytest.mark.parametrize("order_type", [OrderType.STOP, OrderType.STOP_LIMIT])
def test_stop_orders_without_a_positive_stop_price_are_invalid(order_type) -> None:
    with pytest.raises(InvalidValue, match="stop price"):
        new_order(order_type, stop_price=None)


@pytest.mark.parametrize(
    ("offset", "percent", "valid"),
    [(None, None, False), (Decimal(1), Decimal(1), False), (Decimal(1), None, True), (None, Decimal(1), True)],
)
def test_trailing_stop_needs_exactly_one_of_offset_and_percent(offset, percent, valid) -> None:
    def build() -> Order:
        return new_order(OrderType.TRAILING_STOP, trailing_offset=offset, trailing_percent=percent)

    if valid:
        assert build().order_type is OrderType.TRAILING_STOP
    else:
        with pytest.raises(InvalidValue, match="exactly one"):
            build()


@pytest.mark.parametrize("quantity", ["0", "-1", "NaN", "Infinity"])
def test_order_quantity_must_be_positive_and_finite(quantity) -> None:
    with pytest.raises(InvalidValue):
        new_order(quantity=quantity)


def test_market_order_needs_no_price() -> None:
    order = new_order(OrderType.MARKET)
    assert order.limit_price is None and order.status is S.INITIALIZED and not order.is_open


# ---------------------------------------------------------------------------------------- serialization
def full_order() -> Order:
    order = new_order(
        OrderType.STOP_LIMIT,
        quantity="2.5",
        limit_price=Decimal("100.25"),
        stop_price=Decimal("101.50"),
        time_in_force=TimeInForce.DAY,
        reduce_only=True,
        contingency=ContingencyType.OCO,
        linked_ids=(ClientOrderId("C-2"),),
        parent_id=ClientOrderId("C-0"),
        broker="alpaca",
        ts_init=123,
        tags={"reason": "test"},
    )
    order.apply(E.SUBMIT, 1)
    order.apply(E.ACCEPT, 2)
    order.venue_order_id = VenueOrderId("V-9")
    order.record_fill(Decimal("1.5"), Decimal("100.10"), 3)
    return order


def test_order_to_dict_from_dict_round_trips_through_json() -> None:
    order = full_order()
    data = json.loads(json.dumps(order.to_dict()))
    again = Order.from_dict(data)
    assert again.to_dict() == order.to_dict()
    assert again.status is S.PARTIALLY_FILLED and again.avg_fill_price == Decimal("100.10")
    assert again.linked_ids == (ClientOrderId("C-2"),) and again.instrument_id == IID


def test_trailing_order_round_trips() -> None:
    order = new_order(OrderType.TRAILING_STOP, trailing_percent=Decimal("1.5"))
    assert Order.from_dict(order.to_dict()).trailing_percent == Decimal("1.5")


def sample_fill() -> Fill:
    return Fill(
        trade_id=TradeId("T-1"),
        client_order_id=ClientOrderId("C-1"),
        strategy_id=StrategyId("S"),
        instrument_id=IID,
        side=OrderSide.SELL,
        quantity=Decimal("1.5"),
        price=Decimal("100.10"),
        commission=Decimal("0.01"),
        currency="USD",
        ts=99,
        venue_order_id=VenueOrderId("V-9"),
        liquidity="maker",
    )


def test_fill_round_trips() -> None:
    fill = sample_fill()
    assert Fill.from_dict(json.loads(json.dumps(fill.to_dict()))) == fill


SAMPLE_MESSAGES = [
    SubmitOrder(full_order(), ts=5),
    CancelOrder(ClientOrderId("C-1"), StrategyId("S"), ts=5),
    ReplaceOrder(ClientOrderId("C-1"), StrategyId("S"), quantity=Decimal("3"), limit_price=Decimal("99.5"), ts=6),
    OrderSubmitted(ClientOrderId("C-1"), StrategyId("S"), IID, 1),
    OrderAccepted(ClientOrderId("C-1"), StrategyId("S"), IID, 2, VenueOrderId("V-9")),
    OrderDenied(ClientOrderId("C-1"), StrategyId("S"), IID, 3, "NOTIONAL_EXCEEDS_MAX_PER_ORDER 5000 > 1000"),
    OrderRejected(ClientOrderId("C-1"), StrategyId("S"), IID, 3, "PRICE_NOT_ON_TICK"),
    OrderTriggered(ClientOrderId("C-1"), StrategyId("S"), IID, 4),
    OrderUpdated(ClientOrderId("C-1"), StrategyId("S"), IID, 4, Decimal("5"), None, Decimal("98.75")),
    OrderCanceled(ClientOrderId("C-1"), StrategyId("S"), IID, 5, "IOC_REMAINDER_CANCELED"),
    OrderExpired(ClientOrderId("C-1"), StrategyId("S"), IID, 6),
    OrderFilled(sample_fill()),
    PositionChanged("ACC", IID, Decimal("-2"), Decimal("100.5"), Decimal("-1.25"), 7),
    RiskStateChanged("halted", "active", "daily loss limit", 8),
    MarketDataRejected(IID, "HIGH_BELOW_LOW", 9, {"high": 1.0, "low": 2.0}),
    ReconciliationMismatch("position", {"instrument_id": "XYZ.SIM", "ours": "3", "venue": "2"}, 10),
]


def test_the_samples_cover_every_message_type() -> None:
    assert {type(m) for m in SAMPLE_MESSAGES} == set(MESSAGE_TYPES.values())


@pytest.mark.parametrize("message", SAMPLE_MESSAGES, ids=lambda m: m.kind)
def test_message_to_dict_from_dict_round_trips_through_json(message) -> None:
    data = json.loads(json.dumps(message.to_dict()))
    assert data["kind"] == message.kind
    again = message_from_dict(data)
    assert type(again) is type(message)
    assert again.to_dict() == message.to_dict()
    if not isinstance(message, SubmitOrder):  # Order compares by identity (it is the one mutable model type)
        assert again == message


@pytest.mark.parametrize("message", SAMPLE_MESSAGES, ids=lambda m: m.kind)
def test_message_pickles_as_ray_sends_it_and_keeps_comparing_by_value(message) -> None:
    again = pickle.loads(pickle.dumps(message))
    assert again.to_dict() == message.to_dict()
    if not isinstance(message, SubmitOrder | MarketDataRejected | ReconciliationMismatch):  # order, dict: no hash
        assert again == message and hash(again) == hash(message)


def test_fill_pickles_and_hashes_by_value() -> None:
    fill = sample_fill()
    assert pickle.loads(pickle.dumps(fill)) == fill and hash(pickle.loads(pickle.dumps(fill))) == hash(fill)


def test_an_order_pickles_with_its_state_and_a_command_with_its_order() -> None:
    """Orders, fills and messages pickle positionally (`trading.model.pickling`): state survives the hop from a
    strategy actor to the order manager."""
    order = full_order()  # partly filled, with tags and links
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_quantity > 0
    again = pickle.loads(pickle.dumps(order))
    assert again.to_dict() == order.to_dict() and again.status is OrderStatus.PARTIALLY_FILLED
    command = SubmitOrder(order, 5)
    back = pickle.loads(pickle.dumps([command]))
    assert back[0].to_dict() == command.to_dict() and back[0].order.status is OrderStatus.PARTIALLY_FILLED


@pytest.mark.parametrize("message", SAMPLE_MESSAGES, ids=lambda m: m.kind)
def test_a_shallow_copy_of_a_message_is_a_new_object_equal_to_it(message) -> None:
    import copy

    again = copy.copy(message)
    assert again is not message and again.to_dict() == message.to_dict()


def test_a_copied_order_keeps_its_state_and_changes_apart_from_the_original() -> None:
    """`copy.copy` copies field by field (`PositionalPickle.__copy__`), without running `__init__` again."""
    import copy

    from trading.live.order_events import fresh_copy, state_copy

    order = full_order()
    again = state_copy(order)
    assert again is not order and again.to_dict() == order.to_dict()
    again.tags["note"] = "changed"
    again.apply(OrderTrigger.CANCEL, order.ts_last + 1)
    assert "note" not in order.tags and order.status is OrderStatus.PARTIALLY_FILLED
    fresh = fresh_copy(order)
    assert fresh.status is OrderStatus.INITIALIZED and fresh.filled_quantity == 0
    assert copy.copy(sample_fill()) == sample_fill()
