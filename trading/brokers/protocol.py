"""The one broker protocol every venue adapter implements (and the paper broker too).

Adapters parse venue payloads straight into these report types (prices from strings, never through
float) and translate venue errors into `trading.errors` (RetryLater / OrderStateUnknown / FixRequest /
StopTrading). Reads may be retried; order writes never are: a write that gets no answer raises
`OrderStateUnknown`, and the caller looks the order up by client order id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from trading.data.bars import Bar
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId, VenueOrderId
from trading.model.instruments import Instrument
from trading.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce


@dataclass(frozen=True, slots=True)
class OrderReport:
    """The venue's view of one order."""

    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None
    instrument_id: InstrumentId
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    filled_quantity: Decimal
    status: OrderStatus
    avg_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    ts: int = 0
    reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PositionReport:
    instrument_id: InstrumentId
    quantity: Decimal  # signed
    avg_price: Decimal
    unrealized_pnl: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountReport:
    account_id: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal | None = None
    balances: dict[str, Decimal] = field(default_factory=dict)  # per currency (crypto)


@dataclass(frozen=True, slots=True)
class BarEvent:
    instrument_id: InstrumentId
    bar: Bar


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    instrument_id: InstrumentId
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class TradeEvent:
    instrument_id: InstrumentId
    price: Decimal
    size: Decimal
    ts: int


MarketEvent = BarEvent | QuoteEvent | TradeEvent


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """What the venue says is true, for the runtime's restart path (the venue is the truth)."""

    open_orders: list[OrderReport]
    fills: list[Fill]
    positions: list[PositionReport]
    account: AccountReport
    ts: int
    # What the venue says of orders we hold open that it no longer lists (looked up by client order id): filled
    # or canceled while a stream was down. Orders the venue does not know are left out.
    looked_up: list[OrderReport] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One update from a venue's own stream: the order as the venue now sees it, and the fill that changed it
    (None for accepts, cancels, rejects, expiries, replaces). The order manager turns reports into core events
    by comparing them with its book, so the same report delivered twice books nothing new. A fill's
    `strategy_id` may be empty: the order manager knows whose order it is."""

    order: OrderReport
    fill: Fill | None = None


@runtime_checkable
class Broker(Protocol):
    """One connection to one venue. No Ray inside: actors host it."""

    name: str

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def submit_order(self, order: Order) -> OrderReport: ...

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport: ...

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport: ...

    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None: ...

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]: ...

    async def fills_since(self, since_ns: int) -> list[Fill]: ...

    async def positions(self) -> list[PositionReport]: ...

    async def account(self) -> AccountReport: ...

    async def instrument(self, symbol: str) -> Instrument: ...

    def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]: ...

    async def reconcile(self, since_ns: int) -> ReconciliationReport: ...


@runtime_checkable
class ExecutionClient(Broker, Protocol):
    """A live venue connection as the runtime uses it: the `Broker` calls plus the venue's own streams and
    clock. One broker actor hosts exactly one."""

    def execution_reports(self) -> AsyncIterator[ExecutionReport]:
        """The venue's order updates in arrival order (Alpaca's trade_updates, ccxt's watch_orders /
        watch_my_trades or polling, the paper venue's matches). Reconnects by itself; after a reconnect the
        runtime reconciles, since updates sent while the stream was down are lost."""
        ...

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        """Closed 1-minute bars with `start_ns <= ts < end_ns` from the venue's history (warm-up, backfill)."""
        ...

    async def venue_time_ns(self) -> int:
        """The venue's clock (Alpaca's /v2/clock, the exchange's server time): market time, never ours."""
        ...
