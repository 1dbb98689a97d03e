"""Round-trip trades, derived from fills: a trade opens when a position leaves flat and closes when it
returns to flat (a flip closes one trade and opens the next at the same fill)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trading.model.fills import Fill
from trading.model.identifiers import InstrumentId
from trading.model.orders import OrderSide

ZERO = Decimal(0)
_BUY = OrderSide.BUY  # read per fill; an Enum class attribute read is slow on Python 3.11 (EnumType.__getattr__)


@dataclass(slots=True, unsafe_hash=True)
class Trade:
    """One closed round trip. Immutable by convention (not frozen: a backtest builds one per round trip)."""

    instrument_id: InstrumentId
    direction: str  # "long" or "short"
    quantity: Decimal  # the largest absolute size held during the trade
    entry_ts: int
    exit_ts: int
    entry_price: Decimal  # average over entries
    exit_price: Decimal  # average over exits
    pnl: Decimal  # realized P&L net of commissions
    commission: Decimal
    bars_held: int
    multiplier: Decimal = Decimal(1)  # contract multiplier: P&L is in money, so the notional needs it too

    @property
    def return_pct(self) -> float:
        notional = self.entry_price * self.quantity * self.multiplier
        return float(self.pnl / notional * 100) if notional else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument_id": str(self.instrument_id),
            "direction": self.direction,
            "quantity": str(self.quantity),
            "entry_ts": self.entry_ts,
            "exit_ts": self.exit_ts,
            "entry_price": str(self.entry_price),
            "exit_price": str(self.exit_price),
            "pnl": str(self.pnl),
            "commission": str(self.commission),
            "bars_held": self.bars_held,
            "return_pct": self.return_pct,
        }


@dataclass(slots=True)
class _OpenTrade:
    direction: str
    entry_ts: int
    entry_bar: int
    multiplier: Decimal = Decimal(1)  # before the running totals: built positionally, one per round trip
    entry_quantity: Decimal = ZERO
    entry_value: Decimal = ZERO
    exit_quantity: Decimal = ZERO
    exit_value: Decimal = ZERO
    max_quantity: Decimal = ZERO
    realized: Decimal = ZERO
    commission: Decimal = ZERO


class TradeTracker:
    """Turns fills into closed round trips. It reads what each fill did to the position from the venue's
    booking (`OrderFilled.position_quantity` / `realized_pnl`), so the arithmetic is done once."""

    def __init__(self) -> None:
        self.trades: list[Trade] = []
        self._open: dict[InstrumentId, _OpenTrade] = {}

    def on_fill(
        self, fill: Fill, position_after: Decimal, realized_pnl: Decimal, multiplier: Decimal, bar_index: int
    ) -> None:
        quantity = fill.quantity  # always positive: the side says which way
        buy = fill.side is _BUY
        before = position_after - quantity if buy else position_after + quantity
        trade = self._open.get(fill.instrument_id)
        opening = quantity
        if trade is not None and before and (before > 0) is not buy:
            closing = min(quantity, abs(before))
            opening -= closing
            trade.exit_quantity += closing
            trade.exit_value += closing * fill.price
            trade.realized += realized_pnl
            trade.commission += fill.commission
            if not position_after or (position_after > 0) is not (before > 0):
                self._close(fill.instrument_id, trade, fill.ts, bar_index)
                trade = None
        if opening > 0:
            if trade is None:
                direction = "long" if position_after > 0 else "short"
                trade = _OpenTrade(direction, fill.ts, bar_index, multiplier)
                self._open[fill.instrument_id] = trade
            trade.entry_quantity += opening
            trade.entry_value += opening * fill.price
            if opening == quantity:  # a fill that closed nothing pays its commission to the new trade
                trade.commission += fill.commission
            trade.max_quantity = max(trade.max_quantity, abs(position_after))

    def _close(self, instrument_id: InstrumentId, trade: _OpenTrade, ts: int, bar_index: int) -> None:
        del self._open[instrument_id]
        self.trades.append(
            Trade(  # positional, in field order: keywords make a dataclass `__init__` several times slower
                instrument_id,
                trade.direction,
                trade.max_quantity,  # quantity
                trade.entry_ts,
                ts,  # exit_ts
                trade.entry_value / trade.entry_quantity,  # entry_price
                trade.exit_value / trade.exit_quantity,  # exit_price
                trade.realized - trade.commission,  # pnl
                trade.commission,
                bar_index - trade.entry_bar,  # bars_held
                trade.multiplier,
            )
        )

    def open_trades(self) -> int:
        return len(self._open)
