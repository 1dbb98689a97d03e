"""What each venue takes, checked before an order leaves the gateway, and a person's order request made into the
core's linked orders (no cluster)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from serve_apps.orders import build_orders, manual_id
from serve_apps.schemas import OrderRequest
from trading.brokers.capabilities import CAPABILITIES, UnsupportedOrder, check_order
from trading.live.config import BrokerConfig
from trading.model.orders import ContingencyType, OrderSide, OrderType, TimeInForce

PAPER = BrokerConfig(name="paper", kind="paper")
BINANCE = BrokerConfig(name="binance", kind="ccxt")
ALPACA = BrokerConfig(name="alpaca", kind="alpaca")


def request(**fields: Any) -> OrderRequest:
    base: dict[str, Any] = {"client_order_id": "o1", "instrument_id": "SPX.PAPER", "side": "buy", "quantity": "2"}
    return OrderRequest(**{**base, **fields})


def test_every_broker_kind_has_a_row() -> None:
    from typing import get_args

    from trading.live.config import BrokerKind

    assert set(get_args(BrokerKind)) == set(CAPABILITIES)


def test_a_trailing_stop_on_ccxt_is_refused_naming_the_field_and_the_venue() -> None:
    with pytest.raises(UnsupportedOrder) as refused:
        check_order("ccxt", "binance", order_type=OrderType.TRAILING_STOP, time_in_force=TimeInForce.GTC,
                    trailing="percent")
    assert refused.value.field == "order_type" and refused.value.venue == "binance"
    assert "binance" in str(refused.value) and "trailing_stop" in str(refused.value)


@pytest.mark.parametrize(
    ("broker", "fields", "field"),
    [
        (BINANCE, {"order_type": "stop", "stop_price": "10"}, "order_type"),
        (BINANCE, {"time_in_force": "day"}, "time_in_force"),
        (BINANCE, {"reduce_only": True}, "reduce_only"),
        (BINANCE, {"bracket": {"stop_loss": "90", "take_profit": "110"}}, "bracket"),
        (BINANCE, {"order_type": "limit", "limit_price": "100",
                   "oco": {"order_type": "stop_limit", "stop_price": "90", "limit_price": "89"}}, "oco"),
        (BrokerConfig(name="ib", kind="ib"), {"bracket": {"stop_loss": "90", "take_profit": "110"}}, "bracket"),
        (BrokerConfig(name="dg", kind="degiro"), {"time_in_force": "ioc"}, "time_in_force"),
        (BrokerConfig(name="dg", kind="degiro"), {"order_type": "trailing_stop", "trailing_offset": "1"},
         "order_type"),
        (ALPACA, {"reduce_only": True}, "reduce_only"),
        (ALPACA, {"order_type": "market", "oco": {"order_type": "stop", "stop_price": "90"}}, "order_type"),
    ],
)
def test_what_a_venue_cannot_take_is_refused_with_the_field(
    broker: BrokerConfig, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(UnsupportedOrder) as refused:
        build_orders(request(**fields), broker, "manual", 1)
    assert refused.value.field == field and broker.name in str(refused.value)


def test_what_a_venue_can_take_passes() -> None:
    for fields in ({}, {"order_type": "limit", "limit_price": "100", "time_in_force": "ioc"},
                   {"order_type": "stop_limit", "stop_price": "90", "limit_price": "89", "time_in_force": "fok"}):
        assert len(build_orders(request(**fields), BINANCE, "manual", 1)) == 1
    trailing = build_orders(request(order_type="trailing_stop", trailing_percent="1.5", time_in_force="day"),
                            PAPER, "manual", 1)
    assert trailing[0].trailing_percent == Decimal("1.5") and trailing[0].time_in_force is TimeInForce.DAY


def test_manual_ids_carry_the_prefix_once() -> None:
    assert manual_id("abc") == "m-abc" and manual_id("m-abc") == "m-abc"
    (order,) = build_orders(request(client_order_id="sma_cross-000001"), PAPER, "manual", 1)
    assert order.client_order_id == "m-sma_cross-000001"  # never a strategy's id


def test_a_bracket_on_paper_is_three_orders_linked_like_a_strategys() -> None:
    entry, stop, take = build_orders(request(bracket={"stop_loss": "90", "take_profit": "110"}), PAPER, "manual", 1)
    assert (entry.client_order_id, stop.client_order_id, take.client_order_id) == ("m-o1", "m-o1-sl", "m-o1-tp")
    assert entry.contingency is ContingencyType.OTO and entry.linked_ids == ("m-o1-sl", "m-o1-tp")
    assert stop.order_type is OrderType.STOP and stop.stop_price == Decimal(90) and stop.side is OrderSide.SELL
    assert take.order_type is OrderType.LIMIT and take.limit_price == Decimal(110) and take.side is OrderSide.SELL
    for child, other in ((stop, take), (take, stop)):
        assert child.parent_id == "m-o1" and child.contingency is ContingencyType.OCO
        assert child.linked_ids == (other.client_order_id,) and child.reduce_only
        assert child.quantity == entry.quantity and child.broker == "paper"


def test_an_oco_pair_on_paper_links_both_ways() -> None:
    body = request(side="sell", order_type="limit", limit_price="110",
                   oco={"order_type": "stop", "stop_price": "90"})
    take, stop = build_orders(body, PAPER, "manual", 1)
    assert stop.client_order_id == "m-o1-oco" and stop.side is OrderSide.SELL
    assert take.linked_ids == (stop.client_order_id,) and stop.linked_ids == (take.client_order_id,)
    assert take.contingency is stop.contingency is ContingencyType.OCO and stop.parent_id is None


def test_alpaca_gets_one_order_carrying_its_legs() -> None:
    (entry,) = build_orders(request(bracket={"stop_loss": "90", "take_profit": "110"}), ALPACA, "manual", 1)
    assert entry.contingency is ContingencyType.OTO
    assert (entry.tags["take_profit"], entry.tags["stop_loss"]) == ("110", "90")
    (oco,) = build_orders(request(side="sell", order_type="limit", limit_price="110",
                                  oco={"order_type": "stop_limit", "stop_price": "90", "limit_price": "89"}),
                          ALPACA, "manual", 1)
    assert oco.contingency is ContingencyType.OCO
    assert (oco.tags["take_profit"], oco.tags["stop_loss"], oco.tags["stop_loss_limit"]) == ("110", "90", "89")


def test_requests_need_the_prices_of_their_type() -> None:
    from pydantic import ValidationError

    for fields in ({"order_type": "trailing_stop"}, {"order_type": "trailing_stop", "trailing_offset": "1",
                                                     "trailing_percent": "1"},
                   {"order_type": "limit", "limit_price": "1", "trailing_offset": "1"},
                   {"bracket": {"stop_loss": "1", "take_profit": "2"}, "oco": {"order_type": "stop",
                                                                               "stop_price": "1"}}):
        with pytest.raises(ValidationError):
            request(**fields)
