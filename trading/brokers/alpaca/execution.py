"""The Alpaca broker: orders, positions, account and reconciliation over alpaca-py's TradingClient.

Brackets and OCO go through `submit_order` too: an order with `contingency=OTO` (bracket entry) or `OCO`
carries its exit prices in `tags`: `take_profit` (limit price), `stop_loss` (stop price) and optionally
`stop_loss_limit`. Alpaca gives the legs their own client order ids; they come back in `raw["legs"]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)
from alpaca.trading.stream import TradingStream

from trading.brokers.alpaca import parsing
from trading.brokers.alpaca.config import AlpacaConfig
from trading.brokers.alpaca.errors import VENUE, is_not_found
from trading.brokers.alpaca.market_data import AlpacaMarketData, bridge_stream
from trading.brokers.alpaca.transport import AlpacaTransport, harden
from trading.brokers.errors import RateLimited
from trading.brokers.protocol import (
    AccountReport,
    ExecutionReport,
    MarketEvent,
    OrderReport,
    PositionReport,
    ReconciliationReport,
)
from trading.brokers.retry import Backoff, RateLimiter, retry_read
from trading.brokers.wire import iso_to_ns, ns_to_datetime
from trading.brokers.write_path import submit_once
from trading.data.bars import Bar
from trading.errors import FixRequest, OrderStateUnknown, RetryLater, StopTrading
from trading.model.fills import Fill
from trading.model.identifiers import ClientOrderId, InstrumentId
from trading.model.instruments import Instrument
from trading.model.orders import ContingencyType, Order, OrderType, TimeInForce

_TIF = {
    TimeInForce.DAY: AlpacaTif.DAY,
    TimeInForce.GTC: AlpacaTif.GTC,
    TimeInForce.IOC: AlpacaTif.IOC,
    TimeInForce.FOK: AlpacaTif.FOK,
}

OrderUpdate = tuple[OrderReport, Fill | None]


def _exact(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _tag_price(order: Order, name: str) -> Decimal | None:
    text = order.tags.get(name)
    if not text:
        return None
    try:
        return Decimal(text)
    except ArithmeticError:
        raise FixRequest(f"order {order.client_order_id}: tag {name}={text!r} is not a price", venue=VENUE) from None


def order_request(order: Order, venue_symbol: str) -> dict[str, Any]:
    """Request fields for POST /v2/orders: built with alpaca-py's request models (which validate the
    combination), then numbers replaced by their exact decimal strings (alpaca-py models hold floats)."""
    side = AlpacaSide.BUY if order.side.value == "buy" else AlpacaSide.SELL
    common: dict[str, Any] = {
        "symbol": venue_symbol,
        "qty": float(order.quantity),
        "side": side,
        "time_in_force": _TIF[order.time_in_force],
        "client_order_id": order.client_order_id,
    }
    take_profit = _tag_price(order, "take_profit")
    stop_loss = _tag_price(order, "stop_loss")
    stop_loss_limit = _tag_price(order, "stop_loss_limit")
    if order.contingency in (ContingencyType.OTO, ContingencyType.OCO):
        if order.contingency is ContingencyType.OCO and (take_profit is None or stop_loss is None):
            raise FixRequest(f"OCO order {order.client_order_id} needs tags take_profit and stop_loss", venue=VENUE)
        if take_profit is None and stop_loss is None:
            raise FixRequest(
                f"bracket order {order.client_order_id} needs take_profit and/or stop_loss tags", venue=VENUE
            )
        if order.contingency is ContingencyType.OCO:
            common["order_class"] = OrderClass.OCO
        elif take_profit is not None and stop_loss is not None:
            common["order_class"] = OrderClass.BRACKET
        else:
            common["order_class"] = OrderClass.OTO
        if take_profit is not None:
            common["take_profit"] = TakeProfitRequest(limit_price=float(take_profit))
        if stop_loss is not None:
            common["stop_loss"] = StopLossRequest(
                stop_price=float(stop_loss),
                limit_price=None if stop_loss_limit is None else float(stop_loss_limit),
            )
    request: OrderRequest
    try:
        if order.order_type is OrderType.MARKET:
            request = MarketOrderRequest(**common)
        elif order.order_type is OrderType.LIMIT:
            request = LimitOrderRequest(limit_price=float(order.limit_price or 0), **common)
        elif order.order_type is OrderType.STOP:
            request = StopOrderRequest(stop_price=float(order.stop_price or 0), **common)
        elif order.order_type is OrderType.STOP_LIMIT:
            request = StopLimitOrderRequest(
                limit_price=float(order.limit_price or 0), stop_price=float(order.stop_price or 0), **common
            )
        else:
            request = TrailingStopOrderRequest(
                trail_price=None if order.trailing_offset is None else float(order.trailing_offset),
                trail_percent=None if order.trailing_percent is None else float(order.trailing_percent),
                **common,
            )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise FixRequest(f"order {order.client_order_id} is not valid for Alpaca: {exc}", venue=VENUE) from exc
    fields = request.to_request_fields()
    fields["qty"] = _exact(order.quantity)
    for key, value in (
        ("limit_price", order.limit_price),
        ("stop_price", order.stop_price),
        ("trail_price", order.trailing_offset),
        ("trail_percent", order.trailing_percent),
    ):
        if key in fields:
            fields[key] = _exact(value)
    if "take_profit" in fields:
        fields["take_profit"] = {"limit_price": _exact(take_profit)}
    if "stop_loss" in fields:
        fields["stop_loss"] = {"stop_price": _exact(stop_loss)}
        if stop_loss_limit is not None:
            fields["stop_loss"]["limit_price"] = _exact(stop_loss_limit)
    return {key: (value.value if hasattr(value, "value") else value) for key, value in fields.items()}


class AlpacaBroker:
    """One Alpaca account (paper or live), equities and crypto."""

    def __init__(
        self,
        config: AlpacaConfig,
        *,
        name: str = "alpaca",
        read_backoff: Backoff | None = None,
        lookup_backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.venue = config.venue
        self._limiter = RateLimiter(
            config.rate_limit_per_minute, per=60.0, burst=max(1, config.rate_limit_per_minute // 6)
        )
        self._transport = AlpacaTransport(self._limiter, config.timeout)
        self._read_backoff = read_backoff or Backoff()
        self._lookup_backoff = lookup_backoff or Backoff(attempts=5, base=0.5)
        self._client = TradingClient(
            api_key=config.api_key.reveal(),
            secret_key=config.secret_key.reveal(),
            paper=config.paper,
            raw_data=True,
            url_override=config.trading_url,
        )
        harden(self._client, config.timeout)
        self.data = AlpacaMarketData(config, self._transport, self._read_backoff)
        self._coid_by_order_id: dict[str, ClientOrderId] = {}

    def __repr__(self) -> str:
        return f"AlpacaBroker(name={self.name!r}, config={self.config!r})"

    # -- plumbing ---------------------------------------------------------------------------------------
    async def _read(self, action: str, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        fn = getattr(self._client, method)

        async def once() -> Any:
            return await self._transport.call(action, fn, path, params)

        return await retry_read(once, backoff=self._read_backoff, what=f"alpaca {action}")

    async def _read_or_none(self, action: str, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return await self._read(action, "get", path, params)
        except FixRequest as exc:
            if is_not_found(exc.__cause__ or exc):
                return None
            raise

    @staticmethod
    def _venue_symbol(instrument_id: InstrumentId) -> str:
        return instrument_id.symbol

    # -- lifecycle --------------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Checks the keys and that the account may trade; raises `StopTrading` otherwise."""
        raw = await self._read("account", "get", "/account")
        blocked = parsing.account_blocked_reason(raw)
        if blocked:
            raise StopTrading(f"alpaca account cannot trade: {blocked}", venue=VENUE)

    async def close(self) -> None:
        await asyncio.to_thread(self._client._session.close)

    # -- orders -----------------------------------------------------------------------------------------
    async def submit_order(self, order: Order) -> OrderReport:
        if order.instrument_id.venue != self.venue:
            raise FixRequest(f"{order.instrument_id} is not an {self.venue} instrument", venue=VENUE)
        fields = order_request(order, self._venue_symbol(order.instrument_id))

        async def send() -> OrderReport:
            raw: Any = await self._transport.call("submit order", self._client.post, "/orders", fields)
            return parsing.order_report(raw, self.venue)

        return await submit_once(
            order,
            venue=VENUE,
            send=send,
            lookup=lambda: self._find(order.client_order_id),
            timeout=self.config.timeout + 2.0,
            lookup_backoff=self._lookup_backoff,
        )

    async def _find(self, venue_client_order_id: str) -> OrderReport | None:
        """GET by client order id, following Alpaca's replacement chain to the live order."""
        raw = await self._read_or_none(
            "order by client id", "/orders:by_client_order_id", {"client_order_id": venue_client_order_id}
        )
        hops = 0
        while raw is not None and raw.get("status") == "replaced" and raw.get("replaced_by") and hops < 20:
            raw = await self._read_or_none("order by id", f"/orders/{raw['replaced_by']}")
            hops += 1
        return None if raw is None else parsing.order_report(raw, self.venue)

    async def get_order(self, client_order_id: ClientOrderId) -> OrderReport | None:
        return await self._find(client_order_id)

    async def _require(self, client_order_id: ClientOrderId) -> OrderReport:
        report = await self._find(client_order_id)
        if report is None:
            raise FixRequest(f"alpaca has no order {client_order_id}", venue=VENUE)
        return report

    async def cancel_order(self, client_order_id: ClientOrderId) -> OrderReport:
        report = await self._require(client_order_id)
        if report.status.value in ("filled", "canceled", "expired", "rejected"):
            return report
        try:
            await self._transport.call("cancel order", self._client.delete, f"/orders/{report.venue_order_id}")
        except RateLimited:
            raise
        except RetryLater:
            pass  # the cancel may or may not have landed: the lookup below says which
        after = await self._find(client_order_id)
        return after or report

    async def replace_order(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderReport:
        current = await self._require(client_order_id)
        venue_coid = str(current.raw.get("client_order_id", client_order_id))
        new_coid = parsing.next_replacement_id(venue_coid)
        fields: dict[str, Any] = {"client_order_id": new_coid}
        if quantity is not None:
            fields["qty"] = _exact(quantity)
        if limit_price is not None:
            fields["limit_price"] = _exact(limit_price)
        if stop_price is not None:
            fields["stop_price"] = _exact(stop_price)
        try:
            raw = await self._transport.call(
                "replace order", self._client.patch, f"/orders/{current.venue_order_id}", fields
            )
            return parsing.order_report(raw, self.venue)
        except RateLimited:
            raise
        except RetryLater as exc:
            found = await self._find(new_coid) or await self._find(client_order_id)
            if found is None:
                raise OrderStateUnknown(
                    f"alpaca replace of {client_order_id} unanswered",
                    venue=VENUE,
                    client_order_id=client_order_id,
                ) from exc
            return found

    async def open_orders(self, instrument_id: InstrumentId | None = None) -> list[OrderReport]:
        params: dict[str, Any] = {"status": "open", "limit": 500, "nested": "true"}
        if instrument_id is not None:
            params["symbols"] = self._venue_symbol(instrument_id)
        raw = await self._read("open orders", "get", "/orders", params)
        reports: list[OrderReport] = []
        for item in raw or []:
            reports.append(parsing.order_report(item, self.venue))
            reports.extend(r for r in parsing.leg_reports(item, self.venue) if r.status.value != "canceled")
        return reports

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """FILL account activities after `since_ns`, paged by activity id."""
        params: dict[str, Any] = {
            "after": ns_to_datetime(since_ns).isoformat(),
            "direction": "asc",
            "page_size": 100,
        }
        fills: list[Fill] = []
        while True:
            page = await self._read("fill activities", "get", "/account/activities/FILL", dict(params))
            for activity in page or []:
                coid = await self._client_order_id_for(str(activity["order_id"]))
                fills.append(parsing.fill_from_activity(activity, coid, self.venue))
            if not page or len(page) < params["page_size"]:
                return fills
            params["page_token"] = page[-1]["id"]

    async def _client_order_id_for(self, order_id: str) -> ClientOrderId:
        cached = self._coid_by_order_id.get(order_id)
        if cached is None:
            raw = await self._read("order by id", "get", f"/orders/{order_id}")
            cached = parsing.base_client_order_id(str(raw["client_order_id"]))
            self._coid_by_order_id[order_id] = cached
        return cached

    async def positions(self) -> list[PositionReport]:
        raw = await self._read("positions", "get", "/positions")
        return [parsing.position_report(item, self.venue) for item in raw or []]

    async def account(self) -> AccountReport:
        return parsing.account_report(await self._read("account", "get", "/account"))

    async def instrument(self, symbol: str) -> Instrument:
        raw = await self._read("asset", "get", f"/assets/{symbol.replace('/', '')}")
        return parsing.instrument(raw, self.venue)

    async def reconcile(self, since_ns: int) -> ReconciliationReport:
        open_orders, fills, positions, account = await asyncio.gather(
            self.open_orders(), self.fills_since(since_ns), self.positions(), self.account()
        )
        return ReconciliationReport(open_orders, fills, positions, account, time.time_ns())

    # -- streams ----------------------------------------------------------------------------------------
    def market_data(self, instrument_ids: Sequence[InstrumentId]) -> AsyncIterator[MarketEvent]:
        return self.data.stream(instrument_ids)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Alpaca's `trade_updates` stream as (order report, fill or None); reconnects by itself."""
        stream = TradingStream(
            self.config.api_key.reveal(),
            self.config.secret_key.reveal(),
            paper=self.config.paper,
            raw_data=True,
            url_override=self.config.trading_stream_url,  # type: ignore[arg-type]  # None = Alpaca's URL
        )

        def subscribe(handler: Any) -> None:
            stream.subscribe_trade_updates(handler)

        def convert(message: Any) -> list[OrderUpdate]:
            return [parsing.trade_update(message["data"], self.venue)]

        return bridge_stream(stream, subscribe, convert)

    async def execution_reports(self) -> AsyncIterator[ExecutionReport]:
        """`trade_updates` as `ExecutionReport`s in arrival order; alpaca-py reconnects the socket by itself.

        A replace arrives as `replaced` (the old Alpaca order) then `new` (its replacement, under our id
        with an `-R<n>` suffix): the first is skipped, since our order lives on in the second."""
        async for report, fill in self.order_updates():
            if report.raw.get("status") == "replaced":
                continue
            yield ExecutionReport(report, fill)

    async def history(self, instrument_id: InstrumentId, start_ns: int, end_ns: int) -> list[Bar]:
        """Closed 1-minute bars with `start_ns <= ts < end_ns` (Alpaca's `end` is inclusive), all pages."""
        if end_ns <= start_ns:
            return []
        bars = await self.data.bars(instrument_id, ns_to_datetime(start_ns), ns_to_datetime(end_ns), "1Min")
        return [bar for bar in bars if start_ns <= bar.ts < end_ns]

    async def venue_time_ns(self) -> int:
        """Alpaca's clock (`GET /v2/clock` `timestamp`): market time, which a replaying venue sets."""
        raw = await self._read("clock", "get", "/clock")
        return iso_to_ns(str(raw["timestamp"]))
