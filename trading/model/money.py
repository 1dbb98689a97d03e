"""Money: an exact amount in one currency. Amounts of different currencies refuse to mix."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from trading.errors import InvalidValue


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise InvalidValue(f"money amount must be a finite Decimal, got {self.amount!r}")
        if not self.currency:
            raise InvalidValue("money needs a currency")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidValue(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"
