"""The ledger conserves money exactly: for any fills and marks, equity = start + realized + unrealized - fees.

Property tests (hypothesis) over random fill sequences for CASH (stocks, crypto) and MARGIN (futures)
accounting, with Decimal equality, not approximate.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.errors import InvalidValue
from trading.model import (
    Account,
    ClientOrderId,
    Fill,
    Instrument,
    InstrumentId,
    Money,
    OrderSide,
    Position,
    StrategyId,
    TradeId,
    crypto_spot,
    equity,
    future,
)

STOCK = equity("XYZ")
BTC = crypto_spot("BTC/USDT", currency="USD", lot_size="0.001")
ES = future("ES", tick_size="0.25", multiplier="50", margin_init="12000")
START = Decimal(1_000_000)


def make_fill(instrument: Instrument, n: int, side: OrderSide, quantity: Decimal, price: Decimal, fee: Decimal):
    return Fill(
        trade_id=TradeId(f"T{n}"),
        client_order_id=ClientOrderId(f"O{n}"),
        strategy_id=StrategyId("prop"),
        instrument_id=instrument.id,
        side=side,
        quantity=quantity,
        price=price,
        commission=fee,
        currency=instrument.currency,
        ts=n,
    )


def steps(instrument: Instrument, with_marks: bool):
    """A list of ("fill", side, quantity, price, fee) and ("mark", price) steps, prices on the tick grid."""
    price = st.integers(1, 400_000).map(lambda k: k * instrument.tick_size)
    quantity = st.integers(1, 5_000).map(lambda k: k * instrument.lot_size)
    fee = st.integers(0, 5_000).map(lambda cents: Decimal(cents) / 100)
    fill = st.tuples(st.just("fill"), st.sampled_from(list(OrderSide)), quantity, price, fee)
    step = st.one_of(fill, st.tuples(st.just("mark"), price)) if with_marks else fill
    return st.lists(step, min_size=1, max_size=30)


def run_ledger(instrument: Instrument, script) -> None:
    account = Account.open("PROP", START, instrument.currency)
    account.register(instrument)
    mark: Decimal | None = None
    for n, step in enumerate(script):
        if step[0] == "mark":
            mark = step[1]
            account.mark_to_market(instrument.id, mark)
        else:
            _, side, quantity, price, fee = step
            account.apply_fill(make_fill(instrument, n, side, quantity, price, fee))
            mark = price if mark is None else mark
        check_identity(account, instrument, mark)


def check_identity(account: Account, instrument: Instrument, mark: Decimal) -> None:
    position = account.position(instrument.id)
    marks = {instrument.id: mark}
    expected = START + account.realized_pnl() + position.unrealized_pnl(mark) - account.commissions
    if instrument.accounting.value == "cash":
        held_value = position.market_value(mark)
    else:
        settle = account.settle_prices[instrument.id]
        held_value = position.quantity * (mark - settle) * instrument.multiplier
    assert account.cash + held_value == expected
    assert account.equity(marks) == expected
    assert account.commissions == position.commissions


@settings(max_examples=300, deadline=None)
@given(steps(STOCK, with_marks=False))
def test_cash_account_stock_equity_is_start_plus_pnl_minus_fees_exactly(script) -> None:
    run_ledger(STOCK, script)


@settings(max_examples=300, deadline=None)
@given(steps(BTC, with_marks=False))
def test_cash_account_fractional_crypto_equity_is_exact(script) -> None:
    run_ledger(BTC, script)


@settings(max_examples=300, deadline=None)
@given(steps(ES, with_marks=True))
def test_margin_account_futures_equity_is_cash_plus_unsettled_pnl_exactly(script) -> None:
    run_ledger(ES, script)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(1, 97), st.integers(1, 99_999)), min_size=1, max_size=25),
    st.integers(1, 99_999),
    st.sampled_from([Decimal(1), Decimal(50), Decimal("0.1")]),
)
def test_position_realized_plus_unrealized_equals_cash_flow_exactly(fills, mark_cents, multiplier) -> None:
    position = Position(InstrumentId("X", "SIM"), multiplier=multiplier)
    cash_flow = Decimal(0)
    for n, (sign, quantity, cents) in enumerate(fills):
        price = Decimal(cents) / 100
        position.apply(Decimal(sign * quantity), price, Decimal(0), n)
        cash_flow -= sign * quantity * price * multiplier
    mark = Decimal(mark_cents) / 100
    assert position.realized_pnl + position.unrealized_pnl(mark) == cash_flow + position.market_value(mark)


def test_position_average_cost_with_repeating_decimal_keeps_money_exact() -> None:
    position = Position(InstrumentId("X", "SIM"))
    for price in ("1", "1", "2"):
        position.apply(Decimal(1), Decimal(price), Decimal(0), 0)
    assert position.avg_price == Decimal(4) / 3
    change = position.apply(Decimal(-1), Decimal(1), Decimal(0), 1)
    assert position.quantity == 2
    # 4 paid, 1 received, 2 held at 1: lost exactly 1 whatever the repeating average.
    assert change.realized_pnl + position.unrealized_pnl(Decimal(1)) == Decimal(-1)
    position.apply(Decimal(-2), Decimal(1), Decimal(0), 2)
    assert position.is_flat and position.cost_basis == 0
    assert position.realized_pnl == Decimal(-1)


def test_position_flip_realizes_the_closed_part_and_opens_at_the_fill_price() -> None:
    position = Position(InstrumentId("X", "SIM"))
    position.apply(Decimal(2), Decimal(10), Decimal(0), 0)
    change = position.apply(Decimal(-5), Decimal(12), Decimal(0), 1)
    assert (change.realized_pnl, change.closed, change.opened, change.flipped) == (Decimal(4), True, True, True)
    assert (position.quantity, position.avg_price) == (Decimal(-3), Decimal(12))


def test_margin_account_holds_initial_margin_and_moves_no_notional() -> None:
    account = Account.open("F", Decimal(50_000))
    account.register(ES)
    account.apply_fill(make_fill(ES, 1, OrderSide.BUY, Decimal(2), Decimal("4000.25"), Decimal("4.50")))
    assert account.cash == Decimal("49995.50")
    assert account.margin_used() == Decimal(24_000)
    assert account.mark_to_market(ES.id, Decimal("4010.25")) == Decimal(1000)  # 2 x 10 points x 50
    assert account.cash == Decimal("50995.50")
    assert account.equity({ES.id: Decimal("4010.25")}) == Decimal("50995.50")
    account.apply_fill(make_fill(ES, 2, OrderSide.SELL, Decimal(2), Decimal("4005.25"), Decimal("4.50")))
    assert account.cash == Decimal(50_000) + 2 * 5 * 50 - 9
    assert account.margin_used() == 0


def test_account_refuses_an_instrument_in_another_currency() -> None:
    account = Account.open("A", Decimal(1), "EUR")
    with pytest.raises(InvalidValue, match="USD"):
        account.register(STOCK)


def test_money_refuses_to_mix_currencies() -> None:
    usd, eur = Money(Decimal(1), "USD"), Money(Decimal(1), "EUR")
    for operation in (lambda: usd + eur, lambda: usd - eur, lambda: usd < eur):
        with pytest.raises(InvalidValue, match="cannot mix USD and EUR"):
            operation()
    assert usd + Money(Decimal("2.5"), "USD") == Money(Decimal("3.5"), "USD")
    assert -usd == Money(Decimal(-1), "USD")


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), 1.5])
def test_money_refuses_non_finite_or_non_decimal_amounts(amount) -> None:
    with pytest.raises(InvalidValue):
        Money(amount, "USD")
