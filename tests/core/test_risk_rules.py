"""Pre-trade risk rules and circuit breakers (pure core; the live risk actor hosts the same engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trading.model import ClientOrderId, InstrumentId, Order, OrderSide, OrderType, StrategyId
from trading.risk import RiskEngine, RiskLimits, TradingState

AAPL = InstrumentId("AAPL", "SIM")


@dataclass
class Book:
    """A minimal portfolio for the rules: positions, last prices, open orders."""

    positions: dict[InstrumentId, Decimal] = field(default_factory=dict)
    prices: dict[InstrumentId, Decimal] = field(default_factory=lambda: {AAPL: Decimal("100")})
    open_orders: int = 0

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal:
        return self.positions.get(instrument_id, Decimal(0))

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None:
        return self.prices.get(instrument_id)

    def open_order_count(self) -> int:
        return self.open_orders

    def gross_exposure(self) -> Decimal:
        return sum((abs(q) * self.prices[i] for i, q in self.positions.items()), Decimal(0))

    def multiplier(self, instrument_id: InstrumentId) -> Decimal:
        return Decimal(1)


def order(side: OrderSide, quantity: str, limit: str | None = None, n: int = 1) -> Order:
    return Order(
        ClientOrderId(f"S-{n}"),
        StrategyId("S"),
        AAPL,
        side,
        OrderType.LIMIT if limit else OrderType.MARKET,
        Decimal(quantity),
        limit_price=Decimal(limit) if limit else None,
    )


def test_order_within_limits_is_allowed() -> None:
    engine = RiskEngine(RiskLimits(max_order_quantity=Decimal(10), max_order_notional=Decimal(5000)))
    assert engine.check(order(OrderSide.BUY, "10"), Book(), 0) is None


def test_order_over_notional_is_denied_with_a_reason_code() -> None:
    engine = RiskEngine(RiskLimits(max_order_notional=Decimal(5000)))
    reason = engine.check(order(OrderSide.BUY, "60"), Book(), 0)
    assert reason is not None and reason.startswith("NOTIONAL_EXCEEDS_MAX_PER_ORDER: 6000")


def test_fat_finger_limit_price_is_denied() -> None:
    engine = RiskEngine(RiskLimits(price_band_pct=Decimal(5)))
    assert engine.check(order(OrderSide.BUY, "1", limit="104"), Book(), 0) is None
    reason = engine.check(order(OrderSide.BUY, "1", limit="110"), Book(), 0)
    assert reason is not None and reason.startswith("PRICE_OUTSIDE_BAND")


def test_kill_switch_denies_every_new_order() -> None:
    engine = RiskEngine()
    event = engine.set_kill_switch(True, "operator", 1)
    assert event is not None and event.state == "halted"
    book = Book(positions={AAPL: Decimal(5)})
    for candidate in (order(OrderSide.BUY, "1"), order(OrderSide.SELL, "1")):
        reason = engine.check(candidate, book, 2)
        assert reason is not None and reason.startswith("KILL_SWITCH")
    assert engine.resume("operator", 3) is None  # cannot resume while the switch is on
    engine.set_kill_switch(False, "operator", 4)
    assert engine.resume("operator", 5) is not None
    assert engine.check(order(OrderSide.BUY, "1"), book, 6) is None


def test_daily_loss_breach_halts_and_says_why() -> None:
    engine = RiskEngine(RiskLimits(daily_loss_limit=Decimal(500)))
    assert engine.on_equity(Decimal(10_000), 1) is None
    assert engine.on_equity(Decimal(9_600), 2) is None
    event = engine.on_equity(Decimal(9_499), 3)
    assert event is not None and engine.state is TradingState.HALTED
    assert "DAILY_LOSS_LIMIT: lost 501" in event.reason
    reason = engine.check(order(OrderSide.BUY, "1"), Book(), 4)
    assert reason is not None and reason.startswith("HALTED: DAILY_LOSS_LIMIT")


def test_drawdown_moves_to_reducing_where_only_reducing_orders_pass() -> None:
    engine = RiskEngine(RiskLimits(max_drawdown_pct=Decimal(10)))
    engine.on_equity(Decimal(10_000), 1)
    engine.on_equity(Decimal(12_000), 2)
    event = engine.on_equity(Decimal(10_700), 3)
    assert event is not None and engine.state is TradingState.REDUCING
    book = Book(positions={AAPL: Decimal(5)})
    assert engine.check(order(OrderSide.SELL, "5"), book, 4) is None
    denied = engine.check(order(OrderSide.SELL, "6"), book, 4)  # would flip through zero: adds risk
    assert denied is not None and denied.startswith("REDUCING_ONLY")


def test_order_rate_throttle_counts_one_second_windows() -> None:
    engine = RiskEngine(RiskLimits(max_orders_per_second=3))
    second = 1_000_000_000
    results = [engine.check(order(OrderSide.BUY, "1", n=i), Book(), i * 1000) for i in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None and results[3].startswith("ORDER_RATE_EXCEEDED")
    assert engine.check(order(OrderSide.BUY, "1", n=9), Book(), second + 10_000) is None


def test_limits_change_at_run_time_and_unknown_names_are_refused() -> None:
    engine = RiskEngine()
    engine.update_limits(max_order_quantity=Decimal(2))
    assert engine.check(order(OrderSide.BUY, "3"), Book(), 0) is not None
    try:
        engine.update_limits(max_order_qty=Decimal(2))
    except ValueError as exc:
        assert "max_order_qty" in str(exc)
    else:
        raise AssertionError("an unknown limit name was accepted")


@given(
    st.lists(st.tuples(st.sampled_from([OrderSide.BUY, OrderSide.SELL]), st.integers(1, 40)), max_size=60),
    st.integers(1, 50),
)
def test_no_sequence_of_allowed_orders_breaches_the_position_limit(
    orders: list[tuple[OrderSide, int]], limit: int
) -> None:
    engine = RiskEngine(RiskLimits(max_position_quantity=Decimal(limit)))
    book = Book()
    for n, (side, quantity) in enumerate(orders):
        candidate = order(side, str(quantity), n=n)
        if engine.check(candidate, book, n) is None:
            book.positions[AAPL] = book.position_quantity(AAPL) + candidate.signed_quantity
        assert abs(book.position_quantity(AAPL)) <= limit
