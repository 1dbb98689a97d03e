"""Order routing: which broker connection gets an order.

Rules, in order: the broker the strategy named (`Order.broker`); else the brokers that trade the instrument's
venue (`InstrumentId.venue`), cheapest first when a price is known and several qualify; else the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from trading.errors import ConfigError, FixRequest
from trading.model.orders import Order

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Cost of one order at a broker: fixed + per unit + fraction of notional, with a floor."""

    per_order: Decimal = ZERO
    per_unit: Decimal = ZERO
    rate: Decimal = ZERO  # 0.001 = 10 bps of notional
    minimum: Decimal = ZERO

    def cost(self, quantity: Decimal, price: Decimal) -> Decimal:
        raw = self.per_order + self.per_unit * quantity + self.rate * quantity * price
        return max(raw, self.minimum)


@dataclass(frozen=True)
class RoutingTable:
    """`venues` maps an instrument venue (e.g. `BINANCE`) to the broker names that can trade it."""

    venues: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fees: Mapping[str, FeeSchedule] = field(default_factory=dict)
    default: str | None = None

    def __post_init__(self) -> None:
        known = self.brokers()
        for venue, names in self.venues.items():
            if not names:
                raise ConfigError(f"routing: venue {venue} lists no broker", key=f"venues.{venue}")
        for name in self.fees:
            if name not in known:
                raise ConfigError(f"routing: fee schedule for unknown broker {name!r}", key=f"fees.{name}")

    def brokers(self) -> set[str]:
        names = {name for group in self.venues.values() for name in group}
        if self.default:
            names.add(self.default)
        return names


class OrderRouter:
    """Picks a broker name for an order; raises `FixRequest` when no broker fits."""

    def __init__(self, table: RoutingTable) -> None:
        self.table = table

    def route(self, order: Order, price: Decimal | None = None) -> str:
        known = self.table.brokers()
        if order.broker:
            if order.broker not in known:
                raise FixRequest(
                    f"order {order.client_order_id} names broker {order.broker!r}, which is not connected "
                    f"(known: {', '.join(sorted(known)) or 'none'})"
                )
            return order.broker
        candidates = list(self.table.venues.get(order.instrument_id.venue, ()))
        if not candidates:
            if self.table.default:
                return self.table.default
            raise FixRequest(f"no broker routes venue {order.instrument_id.venue} ({order.instrument_id})")
        reference = price if price is not None else order.limit_price or order.stop_price
        if len(candidates) == 1 or reference is None:
            return candidates[0]
        return min(candidates, key=lambda name: self._cost(name, order.quantity, reference))

    def _cost(self, broker: str, quantity: Decimal, price: Decimal) -> Decimal:
        schedule = self.table.fees.get(broker)
        # A broker without a known fee schedule sorts last, keeping the configured order among equals.
        return schedule.cost(quantity, price) if schedule is not None else Decimal("Infinity")
