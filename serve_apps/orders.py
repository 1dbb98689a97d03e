"""A person's order request made into the core's orders for the chosen venue, after the venue's capabilities
allow it (`trading.brokers.capabilities`).

- Client order ids get the prefix `m-` unless they have it: strategies' ids are `<strategy id>-...` and the
  gateway refuses a strategy named `m`, so the two never collide at a venue or in the journal.
- A bracket on a venue that links orders (paper) is three orders linked as `Strategy.bracket` links them: the
  entry (OTO, `linked_ids` = its exits) and a stop-loss and a take-profit (reduce-only, opposite side, OCO with
  each other, `parent_id` = the entry), ids `<id>-sl` and `<id>-tp`. An OCO pair is two orders, each OCO and
  linked to the other. On a venue that makes the legs itself (Alpaca) it is one order carrying the exit prices in
  its tags (`take_profit`, `stop_loss`, `stop_loss_limit`), as its adapter expects.
"""

from __future__ import annotations

from decimal import Decimal

from serve_apps.schemas import OcoLeg, OrderRequest
from trading.brokers.capabilities import Contingency, Trailing, UnsupportedOrder, capabilities, check_order
from trading.live.config import BrokerConfig
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.orders import ContingencyType, Order, OrderSide, OrderType, TimeInForce

MANUAL_PREFIX = "m-"


def manual_id(client_order_id: str) -> str:
    """The stored id of a person's order: the caller's id with the `m-` prefix (added once)."""
    return client_order_id if client_order_id.startswith(MANUAL_PREFIX) else f"{MANUAL_PREFIX}{client_order_id}"


def _trailing(offset: Decimal | None, percent: Decimal | None) -> Trailing | None:
    if offset is not None:
        return "offset"
    if percent is not None:
        return "percent"
    return None


def check_request(body: OrderRequest, broker: BrokerConfig) -> None:
    """Raise `UnsupportedOrder` naming the field if `broker`'s venue cannot take this request."""
    contingency: Contingency | None = "bracket" if body.bracket is not None else "oco" if body.oco else None
    tif = TimeInForce(body.time_in_force)
    check_order(
        broker.kind, broker.name, order_type=OrderType(body.order_type), time_in_force=tif,
        trailing=_trailing(body.trailing_offset, body.trailing_percent), contingency=contingency,
        reduce_only=body.reduce_only,
    )
    if body.oco is not None:
        leg = body.oco
        check_order(broker.kind, broker.name, order_type=OrderType(leg.order_type), time_in_force=tif,
                    trailing=_trailing(leg.trailing_offset, leg.trailing_percent), field_prefix="oco.")


def build_orders(body: OrderRequest, broker: BrokerConfig, owner: str, now_ns: int) -> list[Order]:
    """The core orders for `body` at `broker` (checked first), owned by strategy id `owner`; the primary first."""
    check_request(body, broker)
    cid = manual_id(body.client_order_id)
    side = OrderSide(body.side)
    tif = TimeInForce(body.time_in_force)
    iid = InstrumentId.parse(body.instrument_id)

    def order(
        client_order_id: str, order_side: OrderSide, order_type: OrderType, *, limit: Decimal | None = None,
        stop: Decimal | None = None, offset: Decimal | None = None, percent: Decimal | None = None,
        reduce_only: bool = False,
    ) -> Order:
        return Order(
            client_order_id=ClientOrderId(client_order_id), strategy_id=StrategyId(owner), instrument_id=iid,
            side=order_side, order_type=order_type, quantity=body.quantity,
            limit_price=limit, stop_price=stop, trailing_offset=offset, trailing_percent=percent,
            time_in_force=tif, reduce_only=reduce_only, broker=broker.name, ts_init=now_ns, tags={"source": "api"},
        )

    primary = order(cid, side, OrderType(body.order_type), limit=body.limit_price, stop=body.stop_price,
                    offset=body.trailing_offset, percent=body.trailing_percent, reduce_only=body.reduce_only)
    legs = capabilities(broker.kind).link_style == "legs"
    if body.bracket is not None:
        exits = body.bracket
        if legs:
            primary.contingency = ContingencyType.OTO
            primary.tags.update(take_profit=str(exits.take_profit), stop_loss=str(exits.stop_loss))
            if exits.stop_loss_limit is not None:
                primary.tags["stop_loss_limit"] = str(exits.stop_loss_limit)
            return [primary]
        stop_type = OrderType.STOP if exits.stop_loss_limit is None else OrderType.STOP_LIMIT
        stop = order(f"{cid}-sl", side.opposite, stop_type, stop=exits.stop_loss, limit=exits.stop_loss_limit,
                     reduce_only=True)
        take = order(f"{cid}-tp", side.opposite, OrderType.LIMIT, limit=exits.take_profit, reduce_only=True)
        primary.contingency = ContingencyType.OTO
        primary.linked_ids = (stop.client_order_id, take.client_order_id)
        for child, other in ((stop, take), (take, stop)):
            child.parent_id = primary.client_order_id
            child.contingency = ContingencyType.OCO
            child.linked_ids = (other.client_order_id,)
        return [primary, stop, take]
    if body.oco is not None:
        leg: OcoLeg = body.oco
        if legs:
            return [_oco_as_legs(primary, leg, broker)]
        other = order(manual_id(leg.client_order_id or f"{body.client_order_id}-oco"), side,
                      OrderType(leg.order_type), limit=leg.limit_price, stop=leg.stop_price,
                      offset=leg.trailing_offset, percent=leg.trailing_percent, reduce_only=body.reduce_only)
        if other.client_order_id == primary.client_order_id:
            raise UnsupportedOrder("the two orders of an OCO pair need different client order ids",
                                   field="oco.client_order_id", venue=broker.name)
        for one, two in ((primary, other), (other, primary)):
            one.contingency = ContingencyType.OCO
            one.linked_ids = (two.client_order_id,)
        return [primary, other]
    return [primary]


def _oco_as_legs(primary: Order, leg: OcoLeg, broker: BrokerConfig) -> Order:
    """An OCO as one order whose legs the venue makes (Alpaca): a take-profit limit plus a stop(-limit) loss."""
    if primary.order_type is not OrderType.LIMIT:
        raise UnsupportedOrder(f"broker {broker.name!r} ({broker.kind}) takes an OCO pair as a limit take-profit "
                               "(this order) and a stop-loss (oco)", field="order_type", venue=broker.name)
    if leg.order_type not in ("stop", "stop_limit"):
        raise UnsupportedOrder(f"broker {broker.name!r} ({broker.kind}) takes an OCO pair's second order as a stop "
                               "or stop_limit", field="oco.order_type", venue=broker.name)
    primary.contingency = ContingencyType.OCO
    primary.tags.update(take_profit=str(primary.limit_price), stop_loss=str(leg.stop_price))
    if leg.limit_price is not None and leg.order_type == "stop_limit":
        primary.tags["stop_loss_limit"] = str(leg.limit_price)
    return primary
