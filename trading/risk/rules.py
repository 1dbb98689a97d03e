"""Pre-trade risk rules and the firm-wide trading state, as pure Python (the risk actor only hosts this).

`RiskEngine.check(order, view)` returns None to allow an order, or a denial reason: a code first, then the
detail, e.g. `NOTIONAL_EXCEEDS_MAX_PER_ORDER: 152000.00 > 100000`. The engine's state is ACTIVE (trade
freely), REDUCING (only orders that shrink a position) or HALTED (nothing); the daily-loss and drawdown
circuit breakers move it there on their own, the kill switch halts everything at once, and only a person
(`resume`) moves it back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from trading.messages import RiskStateChanged
from trading.model.identifiers import InstrumentId
from trading.model.orders import Order, OrderSide

ZERO = Decimal(0)
NS_PER_SECOND = 1_000_000_000


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class RiskLimits(BaseModel):
    """Firm-wide limits; None switches a rule off. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_order_quantity: Decimal | None = Field(None, gt=0, description="Largest quantity of one order")
    max_order_notional: Decimal | None = Field(None, gt=0, description="Largest quantity x price of one order")
    max_position_quantity: Decimal | None = Field(None, gt=0, description="Largest absolute position per instrument")
    max_gross_exposure: Decimal | None = Field(None, gt=0, description="Largest sum of |position value|")
    max_open_orders: int | None = Field(None, gt=0, description="Most working orders at once")
    max_orders_per_second: int | None = Field(None, gt=0, description="Order rate throttle (over one second)")
    price_band_pct: Decimal | None = Field(
        None, gt=0, description="Limit/stop prices further than this % from the last price are fat fingers"
    )
    daily_loss_limit: Decimal | None = Field(None, gt=0, description="Loss since the day's start that halts trading")
    max_drawdown_pct: Decimal | None = Field(
        None, gt=0, lt=100, description="Drop from the equity peak (in %) that moves trading to REDUCING"
    )


class PortfolioView(Protocol):
    """What the risk engine needs to know about the firm's book."""

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal: ...

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None: ...

    def open_order_count(self) -> int: ...

    def gross_exposure(self) -> Decimal: ...

    def multiplier(self, instrument_id: InstrumentId) -> Decimal: ...


@dataclass(frozen=True)
class RiskGate:
    """What pre-trade checks need from the firm-wide risk authority: limits, trading state and kill switch.
    The risk actor owns it and hands a copy to where orders are checked (`RiskEngine.follow`)."""

    limits: RiskLimits
    state: TradingState
    reason: str
    kill_switch: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "limits": self.limits.model_dump(mode="json"),
            "state": self.state.value,
            "reason": self.reason,
            "kill_switch": self.kill_switch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskGate:
        return cls(RiskLimits(**data["limits"]), TradingState(data["state"]), data["reason"], data["kill_switch"])


@dataclass
class RiskEngine:
    """Pre-trade checks plus the ACTIVE / REDUCING / HALTED state machine."""

    limits: RiskLimits = field(default_factory=RiskLimits)
    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    kill_switch: bool = False
    day_start_equity: Decimal | None = None
    peak_equity: Decimal | None = None
    _recent_orders: deque[int] = field(default_factory=deque)

    # ------------------------------------------------------------------------------------ pre-trade
    def check(self, order: Order, view: PortfolioView, now_ns: int) -> str | None:
        """None if `order` may go to a broker, else the denial reason (code: detail)."""
        if self.kill_switch:
            return f"KILL_SWITCH: trading halted by the kill switch ({self.reason})"
        held = view.position_quantity(order.instrument_id)
        reduces = _reduces(order, held)
        if self.state is TradingState.HALTED:
            return f"HALTED: {self.reason}"
        if self.state is TradingState.REDUCING and not reduces:
            return f"REDUCING_ONLY: only orders that reduce a position are allowed ({self.reason})"
        limits = self.limits
        if limits.max_order_quantity is not None and order.quantity > limits.max_order_quantity:
            return f"QUANTITY_EXCEEDS_MAX: {order.quantity} > {limits.max_order_quantity}"
        price = order.limit_price or order.stop_price or view.last_price(order.instrument_id)
        last = view.last_price(order.instrument_id)
        if limits.price_band_pct is not None and last is not None:
            for name, value in (("limit", order.limit_price), ("stop", order.stop_price)):
                if value is not None and abs(value - last) * 100 > limits.price_band_pct * last:
                    return f"PRICE_OUTSIDE_BAND: {name} {value} is more than {limits.price_band_pct}% from last {last}"
        multiplier = view.multiplier(order.instrument_id)
        if limits.max_order_notional is not None:
            if price is None:
                return "NO_PRICE: no last price to value the order against max_order_notional"
            notional = order.quantity * price * multiplier
            if notional > limits.max_order_notional:
                return f"NOTIONAL_EXCEEDS_MAX_PER_ORDER: {notional} > {limits.max_order_notional}"
        after = held + order.signed_quantity
        if (
            limits.max_position_quantity is not None
            and abs(after) > limits.max_position_quantity
            and abs(after) > abs(held)
        ):
            return f"POSITION_EXCEEDS_MAX: {order.instrument_id} would be {after}, max {limits.max_position_quantity}"
        if limits.max_gross_exposure is not None and not reduces:
            if price is None:
                return "NO_PRICE: no last price to value the order against max_gross_exposure"
            added = (abs(after) - abs(held)) * price * multiplier
            exposure = view.gross_exposure() + added
            if exposure > limits.max_gross_exposure:
                return f"GROSS_EXPOSURE_EXCEEDS_MAX: {exposure} > {limits.max_gross_exposure}"
        if limits.max_open_orders is not None and view.open_order_count() >= limits.max_open_orders:
            return f"TOO_MANY_OPEN_ORDERS: {view.open_order_count()} open, max {limits.max_open_orders}"
        if limits.max_orders_per_second is not None:
            window_start = now_ns - NS_PER_SECOND
            while self._recent_orders and self._recent_orders[0] <= window_start:
                self._recent_orders.popleft()
            if len(self._recent_orders) >= limits.max_orders_per_second:
                return f"ORDER_RATE_EXCEEDED: more than {limits.max_orders_per_second} orders in one second"
            self._recent_orders.append(now_ns)
        return None

    # --------------------------------------------------------------------------------- breakers
    def on_equity(self, equity: Decimal, now_ns: int) -> RiskStateChanged | None:
        """Feed the firm's equity; trips the daily-loss (HALTED) and drawdown (REDUCING) breakers."""
        if self.day_start_equity is None:
            self.day_start_equity = equity
        if self.peak_equity is None or equity > self.peak_equity:
            self.peak_equity = equity
        limits = self.limits
        loss = self.day_start_equity - equity
        if limits.daily_loss_limit is not None and loss >= limits.daily_loss_limit:
            return self._move(
                TradingState.HALTED, f"DAILY_LOSS_LIMIT: lost {loss} today, limit {limits.daily_loss_limit}", now_ns
            )
        if limits.max_drawdown_pct is not None and self.peak_equity > 0:
            drawdown_pct = (self.peak_equity - equity) * 100 / self.peak_equity
            if drawdown_pct >= limits.max_drawdown_pct and self.state is TradingState.ACTIVE:
                return self._move(
                    TradingState.REDUCING,
                    f"MAX_DRAWDOWN: {drawdown_pct:.2f}% below the peak {self.peak_equity}, "
                    f"limit {limits.max_drawdown_pct}%",
                    now_ns,
                )
        return None

    def start_day(self, equity: Decimal) -> None:
        """A new trading day: the daily loss is measured from here."""
        self.day_start_equity = equity

    def set_kill_switch(self, on: bool, reason: str, now_ns: int) -> RiskStateChanged | None:
        self.kill_switch = on
        if on:
            return self._move(TradingState.HALTED, f"KILL_SWITCH: {reason}", now_ns)
        return None

    def resume(self, reason: str, now_ns: int) -> RiskStateChanged | None:
        """A person puts trading back to ACTIVE (the kill switch must be off)."""
        if self.kill_switch:
            return None
        return self._move(TradingState.ACTIVE, reason, now_ns)

    def update_limits(self, **changes: object) -> RiskLimits:
        """Change limits at run time; validated like the original (unknown names are errors)."""
        self.limits = RiskLimits(**{**self.limits.model_dump(), **changes})
        return self.limits

    def gate(self) -> RiskGate:
        """The limits and state pre-trade checks elsewhere must follow."""
        return RiskGate(self.limits, self.state, self.reason, self.kill_switch)

    def follow(self, gate: RiskGate) -> None:
        """Take limits and state from the risk authority (the order-rate window stays this engine's own)."""
        self.limits, self.state, self.reason, self.kill_switch = gate.limits, gate.state, gate.reason, gate.kill_switch

    def _move(self, state: TradingState, reason: str, now_ns: int) -> RiskStateChanged | None:
        if state is self.state and reason == self.reason:
            return None
        previous = self.state
        self.state, self.reason = state, reason
        return RiskStateChanged(state.value, previous.value, reason, now_ns)


def _reduces(order: Order, held: Decimal) -> bool:
    """Does the order only shrink the position (never through zero)?"""
    if held == 0:
        return False
    shrinking = (held > 0 and order.side is OrderSide.SELL) or (held < 0 and order.side is OrderSide.BUY)
    return shrinking and order.quantity <= abs(held)
