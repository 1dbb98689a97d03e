"""Accounts: cash and positions in one currency, booked exactly from fills.

Two ways a position touches cash, chosen per instrument (`Instrument.accounting`):
- CASH (stocks, crypto spot): a buy pays quantity x price x multiplier; a sell (or short sale) receives it.
  Equity = cash + market value of positions.
- MARGIN (futures): no notional changes hands. Initial margin is held while a position is open, and P&L is
  settled into cash as variation margin at every fill and every mark (`mark_to_market`).
  Equity = cash + P&L not yet settled.
Either way: equity = starting cash + realized + unrealized P&L - commissions, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from trading.errors import InvalidValue
from trading.model.fills import Fill
from trading.model.identifiers import AccountId, InstrumentId
from trading.model.instruments import Accounting, Instrument
from trading.model.money import Money
from trading.model.orders import OrderSide
from trading.model.positions import Position, PositionChange

ZERO = Decimal(0)
_BUY = OrderSide.BUY  # read per fill; an Enum class attribute read is slow on Python 3.11 (EnumType.__getattr__)
_CASH = Accounting.CASH


@dataclass(slots=True)
class Account:
    """One account at one venue (or the simulated one), in one currency."""

    account_id: AccountId
    currency: str
    starting_cash: Decimal
    cash: Decimal = ZERO
    commissions: Decimal = ZERO
    positions: dict[InstrumentId, Position] = field(default_factory=dict)
    instruments: dict[InstrumentId, Instrument] = field(default_factory=dict)
    settle_prices: dict[InstrumentId, Decimal] = field(default_factory=dict)
    traded_notional: Decimal = ZERO

    @classmethod
    def open(cls, account_id: str, starting_cash: Decimal | int | str, currency: str = "USD") -> Account:
        cash = Decimal(starting_cash)
        if not cash.is_finite() or cash < 0:
            raise InvalidValue(f"starting cash must be a non-negative number, got {starting_cash}")
        return cls(AccountId(account_id), currency, cash, cash)

    def register(self, instrument: Instrument) -> None:
        if instrument.currency != self.currency:
            raise InvalidValue(
                f"{instrument.id} trades in {instrument.currency}, account {self.account_id} is in {self.currency}"
            )
        self.instruments[instrument.id] = instrument

    def position(self, instrument_id: InstrumentId) -> Position:
        position = self.positions.get(instrument_id)
        if position is None:
            instrument = self.instruments[instrument_id]
            position = Position(instrument_id, multiplier=instrument.multiplier)
            self.positions[instrument_id] = position
        return position

    def quantity(self, instrument_id: InstrumentId) -> Decimal:
        position = self.positions.get(instrument_id)
        return ZERO if position is None else position.quantity

    def apply_fill(self, fill: Fill) -> PositionChange:
        """Book a fill into cash and the position."""
        instrument_id = fill.instrument_id
        instrument = self.instruments[instrument_id]
        position = self.positions.get(instrument_id)
        if position is None:
            position = self.position(instrument_id)
        price = fill.price
        commission = fill.commission
        buy = fill.side is _BUY
        notional = fill.quantity * price * instrument.multiplier
        if instrument.accounting is _CASH:
            self.cash -= notional if buy else -notional
        else:
            # Settle the open position's P&L up to the fill price; afterwards the whole position is at it.
            settle = self.settle_prices.get(instrument_id, price)
            self.cash += position.quantity * (price - settle) * instrument.multiplier
            self.settle_prices[instrument_id] = price
        self.cash -= commission
        self.commissions += commission
        self.traded_notional += notional
        return position.apply(fill.quantity if buy else -fill.quantity, price, commission, fill.ts)

    def mark_to_market(self, instrument_id: InstrumentId, price: Decimal) -> Decimal:
        """Settle a MARGIN position's P&L into cash at `price`; returns the variation margin paid in."""
        instrument = self.instruments[instrument_id]
        if instrument.accounting is not Accounting.MARGIN:
            return ZERO
        position = self.positions.get(instrument_id)
        settle = self.settle_prices.get(instrument_id)
        if position is None or position.quantity == 0 or settle is None:
            self.settle_prices[instrument_id] = price
            return ZERO
        variation = position.quantity * (price - settle) * instrument.multiplier
        self.cash += variation
        self.settle_prices[instrument_id] = price
        return variation

    def equity(self, marks: dict[InstrumentId, Decimal]) -> Decimal:
        """Net liquidation value at the given marks (last price per instrument)."""
        total = self.cash
        for instrument_id, position in self.positions.items():
            if position.quantity == 0:
                continue
            instrument = self.instruments[instrument_id]
            mark = marks[instrument_id]
            if instrument.accounting is Accounting.CASH:
                total += position.market_value(mark)
            else:
                total += position.quantity * (mark - self.settle_prices[instrument_id]) * instrument.multiplier
        return total

    def margin_used(self) -> Decimal:
        return sum(
            (
                abs(p.quantity) * self.instruments[i].margin_init
                for i, p in self.positions.items()
                if self.instruments[i].accounting is Accounting.MARGIN
            ),
            ZERO,
        )

    def realized_pnl(self) -> Decimal:
        return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    def unrealized_pnl(self, marks: dict[InstrumentId, Decimal]) -> Decimal:
        return sum((p.unrealized_pnl(marks[i]) for i, p in self.positions.items() if p.quantity != 0), ZERO)

    def gross_exposure(self, marks: dict[InstrumentId, Decimal]) -> Decimal:
        return sum((abs(p.market_value(marks[i])) for i, p in self.positions.items() if p.quantity != 0), ZERO)

    def balance(self) -> Money:
        return Money(self.cash, self.currency)

    def to_dict(self, marks: dict[InstrumentId, Decimal] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "account_id": self.account_id,
            "currency": self.currency,
            "starting_cash": str(self.starting_cash),
            "cash": str(self.cash),
            "commissions": str(self.commissions),
            "realized_pnl": str(self.realized_pnl()),
            "margin_used": str(self.margin_used()),
            "positions": [p.to_dict() for p in self.positions.values() if p.quantity != 0],
        }
        if marks is not None:
            data["equity"] = str(self.equity(marks))
            data["unrealized_pnl"] = str(self.unrealized_pnl(marks))
        return data
