"""Netting positions with average-cost accounting that conserves money exactly.

A position keeps its signed quantity and its signed cost basis (sum of quantity x price of what is open).
When a fill reduces it, the cost removed is the same number that leaves the basis, so realized plus
unrealized P&L always equals the cash that moved, to the last digit, even when the average price is a
repeating decimal: the cost removed is rounded to a fine finite quantum first, because a repeating decimal
would be rounded again by every later sum and product and the totals would drift in the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading.model.identifiers import InstrumentId

ZERO = Decimal(0)
COST_QUANTUM_EXPONENT = -12  # cost removed by a partial close: 1e-12 of a price unit, or the basis's own digits


@dataclass(slots=True, unsafe_hash=True)
class PositionChange:
    """What one fill did to a position. Immutable by convention (not frozen: it is built for every fill)."""

    realized_pnl: Decimal  # money, before commission
    opened: bool  # went from flat to open
    closed: bool  # went from open to flat (or flipped through flat)
    flipped: bool
    quantity: Decimal  # the position after the fill


@dataclass(slots=True)
class Position:
    """A netting position in one instrument. Quantity is signed: negative is short."""

    instrument_id: InstrumentId
    multiplier: Decimal = Decimal(1)
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO  # signed, in price units (x multiplier for money)
    realized_pnl: Decimal = ZERO  # money, before commissions
    commissions: Decimal = ZERO
    ts_opened: int = 0
    ts_last: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def avg_price(self) -> Decimal:
        """The average entry price of what is open (display; the ledger uses the exact cost basis)."""
        return ZERO if self.quantity == 0 else self.cost_basis / self.quantity

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (self.quantity * mark - self.cost_basis) * self.multiplier

    def market_value(self, mark: Decimal) -> Decimal:
        return self.quantity * mark * self.multiplier

    def apply(self, signed_quantity: Decimal, price: Decimal, commission: Decimal, ts: int) -> PositionChange:
        """Book one fill (signed quantity: positive buys) and say what it did."""
        quantity = self.quantity
        self.commissions += commission
        self.ts_last = ts
        if quantity and (quantity > 0) != (signed_quantity > 0):
            return self._reduce(quantity, signed_quantity, price, ts)
        # Opening or adding: nothing is realized.
        if not quantity:
            self.ts_opened = ts
        self.cost_basis += signed_quantity * price
        self.quantity = quantity + signed_quantity
        return PositionChange(ZERO, not quantity, False, False, self.quantity)

    def _reduce(self, quantity: Decimal, signed_quantity: Decimal, price: Decimal, ts: int) -> PositionChange:
        """A fill against the position: realize P&L on the part it closes, then open the rest the other way."""
        size = abs(quantity)
        closing = min(abs(signed_quantity), size)
        direction = 1 if quantity > 0 else -1
        cost_removed = (
            self.cost_basis if closing == size else _finite(self.cost_basis * closing / size, self.cost_basis)
        )
        realized = (direction * closing * price - cost_removed) * self.multiplier
        self.cost_basis -= cost_removed
        quantity -= direction * closing
        remaining = signed_quantity + direction * closing
        flipped = remaining != 0
        if flipped:  # closed through flat: the rest opens a position the other way
            self.ts_opened = ts
            self.cost_basis += remaining * price
            quantity += remaining
        self.quantity = quantity
        self.realized_pnl += realized
        return PositionChange(realized, flipped, flipped or not quantity, flipped, quantity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument_id": str(self.instrument_id),
            "quantity": str(self.quantity),
            "avg_price": str(self.avg_price),
            "cost_basis": str(self.cost_basis),
            "multiplier": str(self.multiplier),
            "realized_pnl": str(self.realized_pnl),
            "commissions": str(self.commissions),
            "ts_opened": self.ts_opened,
            "ts_last": self.ts_last,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        return cls(
            instrument_id=InstrumentId.parse(data["instrument_id"]),
            multiplier=Decimal(data.get("multiplier", "1")),
            quantity=Decimal(data["quantity"]),
            cost_basis=Decimal(data["cost_basis"]),
            realized_pnl=Decimal(data.get("realized_pnl", "0")),
            commissions=Decimal(data.get("commissions", "0")),
            ts_opened=int(data.get("ts_opened", 0)),
            ts_last=int(data.get("ts_last", 0)),
        )


def _finite(value: Decimal, basis: Decimal) -> Decimal:
    """`value` rounded to 1e-12, or to `basis`'s exponent if that is finer: short enough that sums stay exact."""
    exponent = basis.as_tuple().exponent
    finest = min(exponent, COST_QUANTUM_EXPONENT) if isinstance(exponent, int) else COST_QUANTUM_EXPONENT
    return value.quantize(Decimal(1).scaleb(finest))
