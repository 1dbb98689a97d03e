"""What each kind of venue can take: order types, time in force, trailing distances, contingent orders.

One table, read before an order leaves for a venue, so a person gets a 422 naming the field and the venue instead
of a rejection from the venue later (or, worse, an order the adapter silently changes: IB and Degiro would send a
bracket's legs as unrelated orders). The rows follow what each adapter sends:

- `paper`: everything the simulated venue matches (`trading.sim.venue`): contingent orders are separate orders
  linked by `parent_id` / `linked_ids`, as `Strategy.bracket` builds them.
- `alpaca`: `trading.brokers.alpaca.execution.order_request`: a bracket or OCO is *one* order whose exit prices
  travel in its tags (`take_profit`, `stop_loss`, `stop_loss_limit`); Alpaca makes the legs. No reduce-only flag.
- `ccxt`: Binance spot through ccxt (the configured exchange): market, limit and stop-limit, GTC/IOC/FOK; no
  trailing stops, no contingent orders, no reduce-only (a spot market has no short position to reduce).
- `ib`: `trading.brokers.ib.parsing.ib_order`: every order type with DAY/GTC/IOC/FOK; legs are not linked
  (no parentId / ocaGroup), so no contingent orders.
- `degiro`: market, limit, stop, stop-limit, DAY or GTC only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from trading.errors import TradingError
from trading.model.orders import OrderType, TimeInForce

Contingency = Literal["bracket", "oco", "oto"]
Trailing = Literal["offset", "percent"]
LinkStyle = Literal["linked", "legs"]  # separate linked orders (paper) | one order carrying its legs (Alpaca)

_ALL_TYPES = frozenset(OrderType)
_ALL_TIF = frozenset(TimeInForce)


class UnsupportedOrder(TradingError, ValueError):
    """The venue cannot take this order as asked; `field` names the request field, `venue` the broker."""

    def __init__(self, message: str, *, field: str, venue: str) -> None:
        super().__init__(message)
        self.field = field
        self.venue = venue


@dataclass(frozen=True, slots=True)
class VenueCapabilities:
    """What one kind of venue takes."""

    kind: str
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    trailing: frozenset[Trailing]
    contingencies: frozenset[Contingency]
    reduce_only: bool
    link_style: LinkStyle = "linked"


CAPABILITIES: dict[str, VenueCapabilities] = {
    "paper": VenueCapabilities(
        "paper", _ALL_TYPES, _ALL_TIF, frozenset({"offset", "percent"}), frozenset({"bracket", "oco", "oto"}), True
    ),
    "alpaca": VenueCapabilities(
        "alpaca", _ALL_TYPES, _ALL_TIF, frozenset({"offset", "percent"}), frozenset({"bracket", "oco", "oto"}),
        False, link_style="legs",
    ),
    "ccxt": VenueCapabilities(
        "ccxt",
        frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
        frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
        frozenset(),
        frozenset(),
        False,
    ),
    "ib": VenueCapabilities(
        "ib", _ALL_TYPES, _ALL_TIF, frozenset({"offset", "percent"}), frozenset(), False
    ),
    "degiro": VenueCapabilities(
        "degiro",
        frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT}),
        frozenset({TimeInForce.DAY, TimeInForce.GTC}),
        frozenset(),
        frozenset(),
        False,
    ),
}


def capabilities(kind: str) -> VenueCapabilities:
    """The row for a broker kind; an unknown kind is a bug in the caller (every `BrokerKind` has a row)."""
    try:
        return CAPABILITIES[kind]
    except KeyError:
        raise KeyError(f"no venue capabilities for broker kind {kind!r}") from None


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(values)) or "none"


def check_order(
    kind: str,
    broker: str,
    *,
    order_type: OrderType,
    time_in_force: TimeInForce,
    trailing: Trailing | None = None,
    contingency: Contingency | None = None,
    reduce_only: bool = False,
    field_prefix: str = "",
) -> None:
    """Raise `UnsupportedOrder` (naming the field and the venue) if broker `broker` of kind `kind` cannot take
    this order. `field_prefix` names a nested order in the request (e.g. "oco.")."""
    row = capabilities(kind)
    venue = f"broker {broker!r} ({kind})"
    if order_type not in row.order_types:
        raise UnsupportedOrder(
            f"{venue} cannot take {order_type.value} orders (it takes {_names(t.value for t in row.order_types)})",
            field=f"{field_prefix}order_type", venue=broker,
        )
    if trailing is not None and trailing not in row.trailing:
        raise UnsupportedOrder(
            f"{venue} cannot take a trailing {trailing} (it takes: {_names(row.trailing)})",
            field=f"{field_prefix}trailing_{trailing}", venue=broker,
        )
    if time_in_force not in row.time_in_force:
        raise UnsupportedOrder(
            f"{venue} has no {time_in_force.value} time in force (it takes "
            f"{_names(t.value for t in row.time_in_force)})",
            field=f"{field_prefix}time_in_force", venue=broker,
        )
    if reduce_only and not row.reduce_only:
        raise UnsupportedOrder(f"{venue} has no reduce-only orders", field=f"{field_prefix}reduce_only", venue=broker)
    if contingency is not None and contingency not in row.contingencies:
        raise UnsupportedOrder(
            f"{venue} cannot take {contingency} orders (contingent orders it takes: {_names(row.contingencies)})",
            field=contingency, venue=broker,
        )
