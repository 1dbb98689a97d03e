"""Pre-trade risk rules and the firm-wide trading state, as pure Python (the risk actor only hosts this).

`RiskEngine.check(order, view)` returns None to allow an order, or a denial reason: a code first, then the
detail, e.g. `NOTIONAL_EXCEEDS_MAX_PER_ORDER: 152000.00 > 100000`. The engine's state is ACTIVE (trade
freely), REDUCING (only orders that shrink a position) or HALTED (nothing); the daily-loss and drawdown
circuit breakers move it there on their own, the kill switch halts everything at once, and only a person
(`resume`) moves it back.

Portfolio limits (max VaR, max ES, max concentration, max gross and net exposure; firm-wide and per account) judge
an order by the book after it: exposures and concentration exactly (the new position at the order's price), VaR
and ES by a linear estimate from the `PortfolioFigures` the risk actor computed at its last valuation (the
figures then plus each position change since, times the book's marginal VaR/ES per unit of market value). A
breach by market moves, found by the risk actor's valuation, moves the state to REDUCING (`on_portfolio`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from trading.messages import RiskStateChanged
from trading.model.identifiers import InstrumentId
from trading.model.orders import Order, OrderSide
from trading.model.positions import Position

ZERO = Decimal(0)
NS_PER_SECOND = 1_000_000_000


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class PortfolioLimits(BaseModel):
    """Limits on one book's risk: the firm's (`RiskLimits` itself) or one account's (`RiskLimits.accounts`).
    Money is in the account currency; VaR and ES at the runtime's risk model (`risk_model`: method, confidence,
    horizon). None switches a rule off. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_gross_exposure: Decimal | None = Field(None, gt=0, description="Largest sum of |position value|")
    max_net_exposure: Decimal | None = Field(None, gt=0, description="Largest |sum of position values|")
    max_var: Decimal | None = Field(None, gt=0, description="Largest value at risk of the book (money)")
    max_es: Decimal | None = Field(None, gt=0, description="Largest expected shortfall of the book (money)")
    max_concentration_pct: Decimal | None = Field(
        None, gt=0, description="Largest |value| of one instrument's position as a % of the book's equity"
    )


class RiskLimits(PortfolioLimits):
    """Firm-wide limits (the portfolio limits apply to the whole firm's book, and per account under `accounts`);
    None switches a rule off. Unknown fields are rejected."""

    max_order_quantity: Decimal | None = Field(None, gt=0, description="Largest quantity of one order")
    max_order_notional: Decimal | None = Field(None, gt=0, description="Largest quantity x price of one order")
    max_position_quantity: Decimal | None = Field(None, gt=0, description="Largest absolute position per instrument")
    max_open_orders: int | None = Field(None, gt=0, description="Most working orders at once")
    max_orders_per_second: int | None = Field(None, gt=0, description="Order rate throttle (over one second)")
    price_band_pct: Decimal | None = Field(
        None, gt=0, description="Limit/stop prices further than this % from the last price are fat fingers"
    )
    daily_loss_limit: Decimal | None = Field(None, gt=0, description="Loss since the day's start that halts trading")
    max_drawdown_pct: Decimal | None = Field(
        None, gt=0, lt=100, description="Drop from the equity peak (in %) that moves trading to REDUCING"
    )
    accounts: dict[str, PortfolioLimits] = Field(
        default_factory=dict, description="Portfolio limits of one broker account's book, by broker name"
    )

    @property
    def portfolio_limits_set(self) -> bool:
        """Does any VaR, ES, concentration or net-exposure limit (firm or account) or account limit apply?"""
        firm = (self.max_var, self.max_es, self.max_concentration_pct, self.max_net_exposure)
        return any(v is not None for v in firm) or any(_any_set(a) for a in self.accounts.values())


def _any_set(limits: PortfolioLimits) -> bool:
    return any(v is not None for v in limits.model_dump().values())


class PortfolioView(Protocol):
    """What the risk engine needs to know about the firm's book."""

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal: ...

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None: ...

    def open_order_count(self) -> int: ...

    def gross_exposure(self) -> Decimal: ...

    def multiplier(self, instrument_id: InstrumentId) -> Decimal: ...


class BookView(PortfolioView, Protocol):
    """A `PortfolioView` that also shows each account's positions (the portfolio limits are per account too)."""

    @property
    def account_positions(self) -> Mapping[tuple[str, InstrumentId], Position]: ...


# ------------------------------------------------------------------------------------- portfolio figures
@dataclass(frozen=True, slots=True)
class BookPosition:
    """One position as the risk actor values it; `owner` is its broker account or its strategy."""

    owner: str
    instrument: str
    quantity: Decimal
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True)
class RiskBook:
    """The order manager's book as the risk actor values it: positions per account and per strategy, the last
    prices, each account's equity. `taken_ns` orders the snapshots (an older one than the last is ignored)."""

    taken_ns: int
    ts: int  # the last bar's time (market time)
    accounts: tuple[BookPosition, ...] = ()
    strategies: tuple[BookPosition, ...] = ()
    marks: Mapping[str, Decimal] = field(default_factory=dict)
    equity: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnitRisk:
    """How a book's VaR and ES (money) grow per unit of market value bought or sold of one instrument: the
    gradient for a book that holds something (then `*_sell == -*_buy`), the standalone VaR/ES of a long or a short
    for a flat book."""

    var_buy: float
    var_sell: float
    es_buy: float
    es_sell: float


@dataclass(frozen=True)
class BookRisk:
    """One book's (the firm's or an account's) figures at a valuation. Money in Decimal; VaR/ES are floats
    (statistics) in money. `unmodelled`: positions without daily history, left out of VaR and ES."""

    equity: Decimal
    var: float
    es: float
    gross: Decimal
    net: Decimal
    largest: str
    largest_pct: float  # |value| of the largest position as a % of equity
    quantities: Mapping[str, Decimal]
    per_unit: Mapping[str, UnitRisk]
    unmodelled: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "equity": str(self.equity),
            "var": self.var,
            "es": self.es,
            "gross_exposure": str(self.gross),
            "net_exposure": str(self.net),
            "concentration": {"instrument": self.largest, "pct_of_equity": self.largest_pct},
            "positions": {i: str(q) for i, q in self.quantities.items()},
            "per_unit": {
                i: {"var_buy": u.var_buy, "var_sell": u.var_sell, "es_buy": u.es_buy, "es_sell": u.es_sell}
                for i, u in self.per_unit.items()
            },
            "unmodelled": list(self.unmodelled),
        }


@dataclass(frozen=True)
class PortfolioFigures:
    """The risk actor's valuation of the book, handed to the pre-trade checks inside the `RiskGate`."""

    firm: BookRisk
    accounts: Mapping[str, BookRisk]
    method: str
    confidence: float
    horizon: int
    ts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "confidence": self.confidence,
            "horizon": self.horizon,
            "ts": self.ts,
            "firm": self.firm.to_dict(),
            "accounts": {a: b.to_dict() for a, b in self.accounts.items()},
        }


@dataclass(frozen=True)
class RiskGate:
    """What pre-trade checks need from the firm-wide risk authority: limits, trading state and kill switch.
    The risk actor owns it and hands a copy to where orders are checked (`RiskEngine.follow`)."""

    limits: RiskLimits
    state: TradingState
    reason: str
    kill_switch: bool
    portfolio: PortfolioFigures | None = None  # the last valuation (recomputed, never restored from a save)

    def to_dict(self) -> dict[str, object]:
        return {
            "limits": self.limits.model_dump(mode="json"),
            "state": self.state.value,
            "reason": self.reason,
            "kill_switch": self.kill_switch,
            "portfolio": None if self.portfolio is None else self.portfolio.to_dict(),
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
    portfolio: PortfolioFigures | None = None
    _recent_orders: deque[int] = field(default_factory=deque)

    # ------------------------------------------------------------------------------------ pre-trade
    def check(self, order: Order, view: BookView, now_ns: int) -> str | None:
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
        if limits.portfolio_limits_set:
            if price is None:
                return "NO_PRICE: no last price to value the order against the portfolio limits"
            reason = self._portfolio_check(order, view, price)
            if reason is not None:
                return reason
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

    def _portfolio_check(self, order: Order, view: BookView, price: Decimal) -> str | None:
        """The firm's book, then the order's account's, after the order, against their portfolio limits."""
        figures = self.portfolio
        reason = _judge(order, view, price, self.limits, None if figures is None else figures.firm, None)
        account = order.broker
        own = self.limits.accounts.get(account) if account else None
        if reason is None and own is not None:
            book = None if figures is None else figures.accounts.get(account)
            reason = _judge(order, view, price, own, book, account)
        return reason

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

    def on_portfolio(self, figures: PortfolioFigures, now_ns: int) -> RiskStateChanged | None:
        """The risk actor's new valuation of the book: kept for the pre-trade checks; a book over one of its
        limits (market moves, fills, a lowered limit) moves ACTIVE to REDUCING."""
        self.portfolio = figures
        breach = self.portfolio_breach()
        if breach is None or self.state is not TradingState.ACTIVE:
            return None
        return self._move(TradingState.REDUCING, breach, now_ns)

    def portfolio_breach(self) -> str | None:
        """The first portfolio limit the last valuation exceeds (firm, then each account), as a reason."""
        if self.portfolio is None:
            return None
        books: list[tuple[str, PortfolioLimits, BookRisk]] = [("firm", self.limits, self.portfolio.firm)]
        books += [(f"account {a}", limits, self.portfolio.accounts[a])
                  for a, limits in sorted(self.limits.accounts.items()) if a in self.portfolio.accounts]
        for scope, limits, book in books:
            reason = _breach(scope, limits, book)
            if reason is not None:
                return reason
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
        return RiskGate(self.limits, self.state, self.reason, self.kill_switch, self.portfolio)

    def follow(self, gate: RiskGate) -> None:
        """Take limits, state and the portfolio figures from the risk authority (the order-rate window stays this
        engine's own; figures it has are kept until the authority has valued the book)."""
        self.limits, self.state, self.reason, self.kill_switch = gate.limits, gate.state, gate.reason, gate.kill_switch
        if gate.portfolio is not None:
            self.portfolio = gate.portfolio

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


# ------------------------------------------------------------------------------------------ portfolio rules
def _scope_quantities(view: BookView, account: str | None) -> dict[InstrumentId, Decimal]:
    """Positions by instrument of one account's book, or the firm's (every account's) for None."""
    out: dict[InstrumentId, Decimal] = {}
    for (owner, instrument_id), position in view.account_positions.items():
        if account is None or owner == account:
            out[instrument_id] = out.get(instrument_id, ZERO) + position.quantity
    return out


def _values(
    view: BookView, quantities: Mapping[InstrumentId, Decimal], order: Order, price: Decimal
) -> dict[InstrumentId, Decimal]:
    """Market values: the order's instrument at the order's price, the others at their marks (unmarked: 0)."""
    out: dict[InstrumentId, Decimal] = {}
    for instrument_id, quantity in quantities.items():
        mark = price if instrument_id == order.instrument_id else view.last_price(instrument_id)
        if mark is not None and quantity != 0:
            out[instrument_id] = quantity * mark * view.multiplier(instrument_id)
    return out


def _judge(
    order: Order, view: BookView, price: Decimal, limits: PortfolioLimits, book: BookRisk | None, account: str | None
) -> str | None:
    """One book (the firm's for `account` None) after `order` against `limits`. An order is denied only when it
    leaves the book over a limit *and* worse than before (an order that reduces a breach may go)."""
    scope = "firm" if account is None else f"account {account}"
    before = _scope_quantities(view, account)
    after = dict(before)
    after[order.instrument_id] = after.get(order.instrument_id, ZERO) + order.signed_quantity
    value_before, value_after = _values(view, before, order, price), _values(view, after, order, price)
    if account is not None and limits.max_gross_exposure is not None:  # the firm's: `RiskEngine.check`
        gross_before = sum((abs(v) for v in value_before.values()), ZERO)
        gross = sum((abs(v) for v in value_after.values()), ZERO)
        if gross > limits.max_gross_exposure and gross > gross_before:
            return f"GROSS_EXPOSURE_EXCEEDS_MAX: {scope} would be {gross}, max {limits.max_gross_exposure}"
    if limits.max_net_exposure is not None:
        net_before, net = sum(value_before.values(), ZERO), sum(value_after.values(), ZERO)
        if abs(net) > limits.max_net_exposure and abs(net) > abs(net_before):
            return f"NET_EXPOSURE_EXCEEDS_MAX: {scope} would be {net}, max {limits.max_net_exposure}"
    if limits.max_concentration_pct is not None:
        if book is None or book.equity <= 0:
            return f"NO_RISK_FIGURES: the risk actor has not valued the {scope} book yet (max_concentration_pct)"
        mine_before = abs(value_before.get(order.instrument_id, ZERO))
        mine = abs(value_after.get(order.instrument_id, ZERO))
        pct = mine * 100 / book.equity
        if pct > limits.max_concentration_pct and mine > mine_before:
            return (f"CONCENTRATION_EXCEEDS_MAX: {order.instrument_id} would be {pct:.2f}% of the {scope} equity "
                    f"{book.equity}, max {limits.max_concentration_pct}%")
    for name, limit in (("VaR", limits.max_var), ("ES", limits.max_es)):
        if limit is None:
            continue
        if book is None:
            return f"NO_RISK_FIGURES: the risk actor has not valued the {scope} book yet (max_{name.lower()})"
        if str(order.instrument_id) not in book.per_unit:
            return f"NO_RISK_MODEL: no daily history of {order.instrument_id} to estimate the {scope} {name}"
        estimate_before = _estimate(name, book, before, view, order, price)
        estimate = _estimate(name, book, after, view, order, price)
        if estimate > limit and estimate > estimate_before:
            code = "VAR_EXCEEDS_MAX" if name == "VaR" else "ES_EXCEEDS_MAX"
            return f"{code}: {scope} {name} would be about {estimate:.2f} (linear estimate), max {limit}"
    return None


def _estimate(
    name: str, book: BookRisk, quantities: Mapping[InstrumentId, Decimal], view: BookView, order: Order, price: Decimal
) -> float:
    """A linear estimate of the book's VaR or ES (money) holding `quantities`: the valuation's figure plus, for each
    position changed since, its change in market value times the marginal figure per unit bought or sold."""
    figure = book.var if name == "VaR" else book.es
    for instrument_id in {*quantities, *(InstrumentId.parse(i) for i in book.quantities)}:
        key = str(instrument_id)
        change = quantities.get(instrument_id, ZERO) - book.quantities.get(key, ZERO)
        unit = book.per_unit.get(key)
        mark = price if instrument_id == order.instrument_id else view.last_price(instrument_id)
        if change == 0 or unit is None or mark is None:
            continue
        moved = float(change * mark * view.multiplier(instrument_id))
        if name == "VaR":
            figure += unit.var_buy * moved if moved > 0 else unit.var_sell * -moved
        else:
            figure += unit.es_buy * moved if moved > 0 else unit.es_sell * -moved
    return figure


def _breach(scope: str, limits: PortfolioLimits, book: BookRisk) -> str | None:
    """The first of `limits` the valued `book` is over, as a state reason (code first)."""
    checks: list[tuple[str, object, Decimal | None, bool]] = [
        ("GROSS_EXPOSURE_EXCEEDS_MAX", f"gross exposure {book.gross}", limits.max_gross_exposure,
         limits.max_gross_exposure is not None and book.gross > limits.max_gross_exposure),
        ("NET_EXPOSURE_EXCEEDS_MAX", f"net exposure {book.net}", limits.max_net_exposure,
         limits.max_net_exposure is not None and abs(book.net) > limits.max_net_exposure),
        ("VAR_EXCEEDS_MAX", f"VaR {book.var:.2f}", limits.max_var,
         limits.max_var is not None and book.var > limits.max_var),
        ("ES_EXCEEDS_MAX", f"ES {book.es:.2f}", limits.max_es, limits.max_es is not None and book.es > limits.max_es),
        ("CONCENTRATION_EXCEEDS_MAX", f"{book.largest} at {book.largest_pct:.2f}% of equity",
         limits.max_concentration_pct,
         limits.max_concentration_pct is not None and book.largest_pct > limits.max_concentration_pct),
    ]
    for code, what, limit, over in checks:
        if over:
            return f"{code}: {scope} {what} is over its limit {limit} (valuation of the book)"
    return None
