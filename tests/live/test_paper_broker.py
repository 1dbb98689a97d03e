"""The paper broker: catch-up of late orders, idempotency by client order id, and the Broker protocol."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from trading.brokers.paper import PaperBroker
from trading.brokers.protocol import Broker
from trading.data.bars import Bar
from trading.messages import CancelOrder, OrderAccepted, OrderFilled, SubmitOrder
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import equity
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType
from trading.sim.models import FillTiming, SimConfig

IID = InstrumentId("ACME", "SIM")
INSTRUMENT = equity("ACME", "SIM", tick_size=Decimal("0.01"))
DAY_NS = 86_400_000_000_000
BARS = [Bar(k * DAY_NS, 100 + k, 101 + k, 99 + k, 100.5 + k, 1_000) for k in range(10)]


def broker(fill: FillTiming = FillTiming.NEXT_OPEN) -> PaperBroker:
    paper = PaperBroker.open(Decimal(100_000), "USD", SimConfig(fill_timing=fill))
    paper.register(INSTRUMENT, DAY_NS)
    return paper


def order(seq: int, created_at: int, side: OrderSide = OrderSide.BUY, **kwargs: object) -> Order:
    return Order(
        client_order_id=ClientOrderId(f"s1-{seq:06d}"),
        strategy_id=StrategyId("s1"),
        instrument_id=IID,
        side=side,
        order_type=kwargs.pop("order_type", OrderType.MARKET),  # type: ignore[arg-type]
        quantity=Decimal(1),
        ts_init=BARS[created_at].ts,
        **kwargs,  # type: ignore[arg-type]
    )


def test_paper_broker_implements_the_broker_protocol() -> None:
    assert isinstance(broker(), Broker)


def test_late_order_is_matched_against_the_bar_after_its_creation_bar_not_the_newest() -> None:
    paper = broker()
    paper.on_bars(IID, BARS[:8])  # the broker is far ahead of the strategy
    result = paper.step("s1", IID, [SubmitOrder(order(1, 2))], BARS[2].ts)
    fills = [e.fill for e in result.events if isinstance(e, OrderFilled)]
    assert [(f.ts, f.price) for f in fills] == [(BARS[3].ts, Decimal("103.00"))]  # bar 3's open
    assert result.horizon_ts == BARS[3].ts


def test_close_timing_fills_at_the_creation_bar_close_even_when_late() -> None:
    paper = broker(FillTiming.CLOSE)
    paper.on_bars(IID, BARS)
    result = paper.step("s1", IID, [SubmitOrder(order(1, 4))], BARS[4].ts)
    fills = [e.fill for e in result.events if isinstance(e, OrderFilled)]
    assert [(f.ts, f.price) for f in fills] == [(BARS[4].ts, Decimal("104.50"))]


def test_working_order_is_matched_one_bar_per_step_so_a_later_cancel_still_lands_in_time() -> None:
    paper = broker()
    paper.on_bars(IID, BARS)
    limit = order(1, 1, order_type=OrderType.LIMIT, limit_price=Decimal("50.00"))  # never fills
    paper.step("s1", IID, [SubmitOrder(limit)], BARS[1].ts)
    assert paper.step("s1", IID, [], BARS[2].ts).horizon_ts == BARS[3].ts
    result = paper.step("s1", IID, [CancelOrder(limit.client_order_id, StrategyId("s1"))], BARS[3].ts)
    assert paper.find_order(limit.client_order_id).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert result.horizon_ts == BARS[4].ts


def test_resubmitting_a_known_client_order_id_changes_nothing() -> None:
    paper = broker()
    paper.on_bars(IID, BARS[:3])
    first = asyncio.run(paper.submit_order(order(1, 2)))
    again = asyncio.run(paper.submit_order(order(1, 2)))
    assert first == again and first.status is OrderStatus.ACCEPTED
    result = paper.step("s1", IID, [SubmitOrder(order(1, 2))], BARS[2].ts)
    assert [type(e) for e in result.events] == [OrderAccepted]  # only the first submission's event
    paper.on_bars(IID, BARS[3:5])
    paper.step("s1", IID, [], BARS[2].ts)
    assert len(paper.fills) == 1


def test_eager_book_matches_as_bars_arrive_and_protocol_reads_report_the_truth() -> None:
    paper = broker()
    paper.on_bars(IID, BARS[:2])
    report = asyncio.run(paper.submit_order(order(1, 1)))
    assert report.status is OrderStatus.ACCEPTED
    events = paper.on_bars(IID, BARS[2:4])
    assert [type(e) for e in events] == [OrderAccepted, OrderFilled]
    positions = asyncio.run(paper.positions())
    assert [(p.instrument_id, p.quantity) for p in positions] == [(IID, Decimal(1))]
    account = asyncio.run(paper.account())
    assert account.cash == Decimal(100_000) - Decimal("102.00")
    assert account.equity == account.cash + Decimal("103.50")
    assert len(asyncio.run(paper.fills_since(BARS[2].ts))) == 1
    reconciliation = asyncio.run(paper.reconcile(0))
    assert reconciliation.open_orders == [] and len(reconciliation.fills) == 1
    assert asyncio.run(paper.get_order(ClientOrderId("s1-000001"))).status is OrderStatus.FILLED  # type: ignore[union-attr]


def _owned(owner: str, seq: int, created_at: int, side: OrderSide, reduce_only: bool = False) -> Order:
    return Order(
        client_order_id=ClientOrderId(f"{owner}-{seq:06d}"),
        strategy_id=StrategyId(owner),
        instrument_id=IID,
        side=side,
        order_type=OrderType.MARKET,
        quantity=Decimal(1),
        ts_init=BARS[created_at].ts,
        reduce_only=reduce_only,
    )


def test_a_paced_book_judges_reduce_only_by_its_own_fills_not_the_shared_account() -> None:
    """As in each strategy's own backtest: b's reduce-only sell of a position b does not hold is canceled
    although the account is long (a bought); once b is short and the account flat, a's reduce-only sell still
    closes a's long. Judged by the account's position, both would go the other way."""
    paper = broker()
    paper.on_bars(IID, BARS)
    paper.pace("a")
    paper.pace("b")
    paper.step("a", IID, [SubmitOrder(_owned("a", 1, 1, OrderSide.BUY))], BARS[1].ts)
    assert paper.ledger.quantity(IID) == 1
    refused = paper.step("b", IID, [SubmitOrder(_owned("b", 1, 2, OrderSide.SELL, reduce_only=True))], BARS[2].ts)
    assert [getattr(e, "reason", "")[:11] for e in refused.events][-1] == "REDUCE_ONLY"
    paper.step("b", IID, [SubmitOrder(_owned("b", 2, 3, OrderSide.SELL))], BARS[3].ts)
    assert paper.ledger.quantity(IID) == 0
    closed = paper.step("a", IID, [SubmitOrder(_owned("a", 2, 4, OrderSide.SELL, reduce_only=True))], BARS[4].ts)
    assert [e.fill.side for e in closed.events if isinstance(e, OrderFilled)] == [OrderSide.SELL]
    assert paper.ledger.quantity(IID) == -1  # b's short is all that is left


def test_a_book_without_working_orders_skips_bars_but_keeps_its_session_ends() -> None:
    """Catch-up jumps over bars when nothing is working (`PaperBroker._skip`); the session ends it passed still
    count as run, so an old step sent again cannot expire a DAY order placed later, and the next session end
    does expire it."""
    from trading.model.instruments import TradingSession
    from trading.model.orders import TimeInForce

    hour = 3_600_000_000_000
    session = TradingSession.parse("09:00-12:00")  # UTC, Mon-Fri; 1970-01-01 was a Thursday
    instrument = equity("ACME", "SIM", sessions=(session,))
    days = (0, 1, 4)  # Thu, Fri, Mon
    bars = [Bar(d * DAY_NS + h * hour, 100, 101, 99, 100, 1_000) for d in days for h in (9, 10, 11)]  # 11:00 ends
    paper = PaperBroker.open(Decimal(100_000), "USD", SimConfig())
    paper.register(instrument, hour)
    paper.on_bars(IID, bars)
    assert paper.step("s1", IID, [], bars[6].ts).events == []  # caught up over Thu and Fri without orders
    limit = order(1, 0, order_type=OrderType.LIMIT, limit_price=Decimal("50.00"), time_in_force=TimeInForce.DAY)
    paper.step("s1", IID, [SubmitOrder(limit)], bars[6].ts)
    resent = paper.step("s1", IID, [], bars[5].ts)  # Friday's last bar: its session end already ran
    assert paper.find_order(limit.client_order_id).status is OrderStatus.ACCEPTED  # type: ignore[union-attr]
    assert resent.events == []
    paper.step("s1", IID, [], bars[7].ts)
    expired = paper.step("s1", IID, [], bars[8].ts)  # Monday's session end expires the DAY order
    assert [type(e).__name__ for e in expired.events] == ["OrderExpired"]
