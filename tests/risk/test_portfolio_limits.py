"""Pre-trade portfolio limits (max VaR, ES, concentration, gross and net exposure; firm-wide and per account) and
the breach of a valued book, on real daily history (pure core, no Ray)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from trading.data.bars import BarSeries
from trading.model import ClientOrderId, InstrumentId, Order, OrderSide, OrderType, StrategyId
from trading.model.positions import Position
from trading.risk import RiskEngine, RiskGate, RiskLimits, TradingState
from trading.risk.portfolio import RiskModel, align_closes, book_risk, portfolio_figures, value_at_risk
from trading.risk.rules import BookPosition, PortfolioLimits, RiskBook

SPX = InstrumentId("SPX", "SIM")
ORCL = InstrumentId("ORCL", "SIM")
PRICES = {SPX: Decimal(3000), ORCL: Decimal(40)}


@dataclass
class Book:
    """The order manager's book as the rules see it: positions per account, last prices."""

    positions: dict[tuple[str, InstrumentId], Decimal] = field(default_factory=dict)

    @property
    def account_positions(self) -> dict[tuple[str, InstrumentId], Position]:
        return {key: Position(key[1], quantity=q) for key, q in self.positions.items()}

    def position_quantity(self, instrument_id: InstrumentId) -> Decimal:
        return sum((q for (_, i), q in self.positions.items() if i == instrument_id), Decimal(0))

    def last_price(self, instrument_id: InstrumentId) -> Decimal | None:
        return PRICES.get(instrument_id)

    def open_order_count(self) -> int:
        return 0

    def gross_exposure(self) -> Decimal:
        return sum((abs(q) * PRICES[i] for (_, i), q in self.positions.items()), Decimal(0))

    def multiplier(self, instrument_id: InstrumentId) -> Decimal:
        return Decimal(1)

    def risk_book(self, equity: dict[str, Decimal]) -> RiskBook:
        return RiskBook(
            taken_ns=1, ts=1,
            accounts=tuple(BookPosition(a, str(i), q) for (a, i), q in self.positions.items()),
            marks={str(i): p for i, p in PRICES.items()},
            equity=equity,
        )


def buy(quantity: str, instrument: InstrumentId = SPX, broker: str = "paper", n: int = 1) -> Order:
    return Order(ClientOrderId(f"S-{n}"), StrategyId("S"), instrument, OrderSide.BUY, OrderType.MARKET,
                 Decimal(quantity), broker=broker)


def sell(quantity: str, instrument: InstrumentId = SPX, broker: str = "paper") -> Order:
    return Order(ClientOrderId("S-9"), StrategyId("S"), instrument, OrderSide.SELL, OrderType.MARKET,
                 Decimal(quantity), broker=broker)


@pytest.fixture(scope="module")
def model(sp500: BarSeries, orcl: BarSeries) -> RiskModel:
    return RiskModel({str(SPX): sp500, str(ORCL): orcl}, method="historical", confidence=0.99)


def engine_for(limits: RiskLimits, book: Book, model: RiskModel | None,
               equity: dict[str, Decimal] | None = None) -> RiskEngine:
    """An engine that follows a gate carrying the valuation of `book` (as the order manager's does)."""
    authority = RiskEngine(limits)
    authority.on_portfolio(portfolio_figures(book.risk_book(equity or {"paper": Decimal(10_000)}), model), 0)
    engine = RiskEngine()
    engine.follow(authority.gate())
    return engine


def test_flat_book_figures_are_the_standalone_var_of_a_long_and_a_short(model: RiskModel) -> None:
    figures = book_risk([], {str(SPX): Decimal(3000)}, Decimal(10_000), model)
    unit = figures.per_unit[str(SPX)]
    assert figures.var == 0.0 and figures.gross == 0
    # On the dates SPX shares with ORCL: the model aligns every instrument it has.
    aligned = align_closes([model.history[str(ORCL)], model.history[str(SPX)]]).returns()[:, 1]
    assert unit.var_buy == value_at_risk(aligned, 1.0, confidence=0.99).var
    assert unit.var_sell == value_at_risk(aligned, -1.0, confidence=0.99).var
    assert unit.es_sell == value_at_risk(aligned, -1.0, confidence=0.99).es


def test_linear_estimate_is_exact_for_one_instrument_under_historical_var(model: RiskModel) -> None:
    two = book_risk([BookPosition("paper", str(SPX), Decimal(2))], {str(SPX): Decimal(3000)}, Decimal(10_000), model)
    three = book_risk([BookPosition("paper", str(SPX), Decimal(3))], {str(SPX): Decimal(3000)}, Decimal(10_000), model)
    assert two.var + two.per_unit[str(SPX)].var_buy * 3000 == pytest.approx(three.var, rel=1e-9)
    assert two.per_unit[str(SPX)].var_sell == -two.per_unit[str(SPX)].var_buy


def test_order_that_would_breach_max_var_is_denied_with_its_reason_code(model: RiskModel) -> None:
    book = Book({("paper", SPX): Decimal(2)})
    figures = portfolio_figures(book.risk_book({"paper": Decimal(10_000)}), model)
    limit = Decimal(repr(round(figures.firm.var * 1.3, 2)))  # 2 units fit, 3 would not
    engine = engine_for(RiskLimits(max_var=limit), book, model)
    assert engine.check(buy("0.5"), book, 0) is None
    reason = engine.check(buy("1"), book, 0)
    assert reason is not None and reason.startswith("VAR_EXCEEDS_MAX: firm VaR would be about")
    assert "linear estimate" in reason
    assert engine.check(sell("1"), book, 0) is None  # reduces the VaR


def test_max_es_and_the_flat_book_estimate(model: RiskModel) -> None:
    book = Book()
    unit = portfolio_figures(book.risk_book({"paper": Decimal(10_000)}), model).firm.per_unit[str(SPX)]
    limit = Decimal(repr(round(unit.es_buy * 3000 * 1.5, 2)))  # one unit fits, two do not
    engine = engine_for(RiskLimits(max_es=limit), book, model)
    assert engine.check(buy("1"), book, 0) is None
    reason = engine.check(buy("2"), book, 0)
    assert reason is not None and reason.startswith("ES_EXCEEDS_MAX: firm ES")


def test_fills_since_the_valuation_count_in_the_estimate(model: RiskModel) -> None:
    valued = Book({("paper", SPX): Decimal(2)})
    figures = portfolio_figures(valued.risk_book({"paper": Decimal(10_000)}), model)
    engine = engine_for(RiskLimits(max_var=Decimal(repr(round(figures.firm.var * 1.3, 2)))), valued, model)
    now = Book({("paper", SPX): Decimal(3)})  # a fill the risk actor has not valued yet
    reason = engine.check(buy("0.5"), now, 0)
    assert reason is not None and reason.startswith("VAR_EXCEEDS_MAX")


def test_a_hedge_that_lowers_var_is_allowed_though_var_stays_over(model: RiskModel) -> None:
    book = Book({("paper", SPX): Decimal(3)})
    engine = engine_for(RiskLimits(max_var=Decimal(10)), book, model)
    assert engine.check(buy("1"), book, 0) is not None
    assert engine.check(sell("1"), book, 0) is None


def test_instrument_without_history_is_denied_when_var_is_limited() -> None:
    book = Book()
    engine = engine_for(RiskLimits(max_var=Decimal(1000)), book, None)
    reason = engine.check(buy("1"), book, 0)
    assert reason is not None and reason.startswith("NO_RISK_MODEL: no daily history of SPX.SIM")


def test_no_valuation_yet_denies_when_var_or_concentration_is_limited() -> None:
    engine = RiskEngine(RiskLimits(max_concentration_pct=Decimal(50)))
    reason = engine.check(buy("1"), Book(), 0)
    assert reason is not None and reason.startswith("NO_RISK_FIGURES")


def test_concentration_is_the_new_position_at_the_order_price_over_equity(model: RiskModel) -> None:
    book = Book({("paper", SPX): Decimal(1)})
    engine = engine_for(RiskLimits(max_concentration_pct=Decimal(50)), book, model)
    assert engine.check(buy("0.6"), book, 0) is None  # 1.6 x 3000 = 48% of 10,000
    reason = engine.check(buy("1"), book, 0)
    assert reason == ("CONCENTRATION_EXCEEDS_MAX: SPX.SIM would be 60.00% of the firm equity 10000, "
                      "max 50%")


def test_net_and_gross_exposure_per_account(model: RiskModel) -> None:
    book = Book({("paper", SPX): Decimal(1), ("other", SPX): Decimal(-1)})
    limits = RiskLimits(
        max_net_exposure=Decimal(5000),
        accounts={"paper": PortfolioLimits(max_gross_exposure=Decimal(5000))},
    )
    engine = engine_for(limits, book, model, {"paper": Decimal(10_000), "other": Decimal(10_000)})
    # The firm's net is 0 (hedged across accounts); the account's gross is what stops it.
    reason = engine.check(buy("1"), book, 0)
    assert reason == "GROSS_EXPOSURE_EXCEEDS_MAX: account paper would be 6000, max 5000"
    assert engine.check(buy("1", broker="other"), book, 0) is None  # the other account has no limits: net 3000
    reason = engine.check(buy("2", broker="other"), book, 0)
    assert reason == "NET_EXPOSURE_EXCEEDS_MAX: firm would be 6000, max 5000"


def test_market_move_over_a_limit_moves_the_engine_to_reducing(model: RiskModel) -> None:
    book = Book({("paper", SPX): Decimal(2)})
    figures = portfolio_figures(book.risk_book({"paper": Decimal(10_000)}), model)
    engine = RiskEngine(RiskLimits(max_var=Decimal(repr(round(figures.firm.var * 1.02, 2)))))
    assert engine.on_portfolio(figures, 1) is None and engine.state is TradingState.ACTIVE
    moved = RiskBook(taken_ns=2, ts=2, accounts=book.risk_book({}).accounts, marks={str(SPX): Decimal(3100)},
                     equity={"paper": Decimal(10_200)})
    change = engine.on_portfolio(portfolio_figures(moved, model), 2)
    assert change is not None and change.state == "reducing" and change.previous == "active"
    assert change.reason.startswith("VAR_EXCEEDS_MAX: firm VaR")
    assert str(engine.check(buy("1"), book, 3)).startswith("REDUCING_ONLY")
    assert engine.check(sell("1"), book, 3) is None
    assert engine.on_portfolio(portfolio_figures(moved, model), 4) is None  # already reducing: one event


def test_limits_round_trip_through_the_gate_and_reject_unknown_fields() -> None:
    limits = RiskLimits(max_var=Decimal(100), accounts={"paper": PortfolioLimits(max_net_exposure=Decimal(5))})
    gate = RiskGate.from_dict(RiskGate(limits, TradingState.ACTIVE, "", False).to_dict())
    assert gate.limits == limits
    with pytest.raises(ValueError, match="max_vaar"):
        RiskLimits.model_validate({"max_vaar": 1})
    with pytest.raises(ValueError, match="max_var"):
        RiskLimits.model_validate({"accounts": {"paper": {"max_var": -1}}})
