"""Alpaca through the real alpaca-py client against a local server replaying alpaca-py's recorded bodies."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from broker_support import alpaca_body, fixture_json
from venue_server import Recorded, Reply, VenueServer

from trading.brokers.alpaca.config import AlpacaConfig
from trading.brokers.alpaca.execution import AlpacaBroker
from trading.brokers.credentials import Secret
from trading.brokers.retry import Backoff
from trading.errors import FixRequest, StopTrading
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.orders import ContingencyType, Order, OrderSide, OrderStatus, OrderType, TimeInForce

COID = ClientOrderId("eb9e2aaa-f71a-4f51-b5b4-52a6c565dad4")  # the id in alpaca-py's recorded order bodies
AAPL = InstrumentId("AAPL", "ALPACA")
FAST = Backoff(attempts=3, base=0.01, cap=0.05, jitter=False)


def make_broker(server: VenueServer, timeout: float = 2.0) -> AlpacaBroker:
    config = AlpacaConfig(
        api_key=Secret("PKTESTKEY"),
        secret_key=Secret("very-secret-value"),
        timeout=timeout,
        trading_url=server.url,
        data_url=server.url,
    )
    return AlpacaBroker(config, read_backoff=FAST, lookup_backoff=FAST)


def order(order_type: OrderType = OrderType.MARKET, **kwargs: Any) -> Order:
    fields: dict[str, Any] = {
        "client_order_id": COID,
        "strategy_id": StrategyId("s1"),
        "instrument_id": AAPL,
        "side": OrderSide.BUY,
        "order_type": order_type,
        "quantity": Decimal("1"),
        "time_in_force": TimeInForce.DAY,
    }
    fields.update(kwargs)
    return Order(**fields)


def test_submit_market_order_sends_our_client_order_id_and_parses_the_venue_answer(server: VenueServer) -> None:
    server.json("POST", "/v2/orders", alpaca_body("test_order_routes__test_market_order"))
    report = asyncio.run(make_broker(server).submit_order(order()))

    (sent,) = server.calls("POST", "/v2/orders")
    assert sent.json == {
        "symbol": "AAPL",
        "qty": "1",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": COID,
    }
    assert sent.headers["APCA-API-KEY-ID"] == "PKTESTKEY"
    assert report.client_order_id == COID
    assert report.venue_order_id == "61e69015-8549-4bfd-b9c3-01e75843f47d"
    assert report.status is OrderStatus.ACCEPTED
    assert report.quantity == Decimal(1) and report.filled_quantity == Decimal(0)
    assert report.ts == 1615919881942282000


def test_limit_prices_go_out_as_exact_decimal_strings(server: VenueServer) -> None:
    server.json("POST", "/v2/orders", alpaca_body("test_order_routes__test_limit_order"))
    asyncio.run(
        make_broker(server).submit_order(
            order(OrderType.LIMIT, limit_price=Decimal("174.61"), quantity=Decimal("0.123456789"))
        )
    )
    body = server.calls("POST", "/v2/orders")[0].json
    assert body["limit_price"] == "174.61" and body["qty"] == "0.123456789" and body["type"] == "limit"


def test_bracket_order_sends_take_profit_and_stop_loss_legs(server: VenueServer) -> None:
    server.json("POST", "/v2/orders", alpaca_body("test_order_routes__test_limit_order"))
    bracket = order(
        OrderType.LIMIT,
        limit_price=Decimal("175"),
        contingency=ContingencyType.OTO,
        tags={"take_profit": "180.10", "stop_loss": "170.05", "stop_loss_limit": "169.9"},
    )
    asyncio.run(make_broker(server).submit_order(bracket))
    body = server.calls("POST", "/v2/orders")[0].json
    assert body["order_class"] == "bracket"
    assert body["take_profit"] == {"limit_price": "180.1"}
    assert body["stop_loss"] == {"stop_price": "170.05", "limit_price": "169.9"}


def test_oco_order_needs_both_exits_and_sends_order_class_oco(server: VenueServer) -> None:
    server.json("POST", "/v2/orders", alpaca_body("test_order_routes__test_limit_order"))
    broker = make_broker(server)
    oco = order(
        OrderType.LIMIT,
        side=OrderSide.SELL,
        limit_price=Decimal("180"),
        contingency=ContingencyType.OCO,
        tags={"take_profit": "180", "stop_loss": "170"},
    )
    asyncio.run(broker.submit_order(oco))
    assert server.calls("POST", "/v2/orders")[0].json["order_class"] == "oco"
    with pytest.raises(FixRequest, match="take_profit and stop_loss"):
        asyncio.run(
            broker.submit_order(
                order(
                    OrderType.LIMIT,
                    limit_price=Decimal("180"),
                    contingency=ContingencyType.OCO,
                    tags={"take_profit": "180"},
                )
            )
        )
    assert len(server.calls("POST", "/v2/orders")) == 1


def test_get_order_looks_up_by_client_order_id(server: VenueServer) -> None:
    server.json("GET", "/v2/orders:by_client_order_id", alpaca_body("test_order_routes__test_get_order_by_client_id"))
    report = asyncio.run(make_broker(server).get_order(COID))
    assert report is not None and report.client_order_id == COID
    assert server.calls("GET", "/v2/orders:by_client_order_id")[0].query == {"client_order_id": COID}


def test_get_order_returns_none_when_the_venue_has_no_such_order(server: VenueServer) -> None:
    assert asyncio.run(make_broker(server).get_order(ClientOrderId("nope"))) is None


def test_open_orders_positions_account_and_asset_parse_from_strings(server: VenueServer) -> None:
    server.json("GET", "/v2/orders", alpaca_body("test_order_routes__test_get_orders"))
    server.json("GET", "/v2/positions", alpaca_body("test_position_routes__test_get_all_positions"))
    server.json("GET", "/v2/account", alpaca_body("test_account_routes__test_get_account"))
    server.json("GET", "/v2/assets/AAPL", alpaca_body("test_asset_routes__test_get_asset"))
    broker = make_broker(server)

    (open_order,) = asyncio.run(broker.open_orders())
    assert open_order.instrument_id == InstrumentId("SPY", "ALPACA")
    assert open_order.status is OrderStatus.ACCEPTED and open_order.order_type is OrderType.STOP
    assert server.calls("GET", "/v2/orders")[0].query["status"] == "open"

    (position,) = asyncio.run(broker.positions())
    assert (position.quantity, position.avg_price, position.unrealized_pnl) == (
        Decimal("5"),
        Decimal("100.0"),
        Decimal("100.0"),
    )

    account = asyncio.run(broker.account())
    assert account.cash == Decimal("-23140.2") and account.equity == Decimal("103820.56")
    assert account.buying_power == Decimal("262113.632") and account.account_id == "010203ABCD"

    instrument = asyncio.run(broker.instrument("AAPL"))
    assert instrument.id == AAPL and instrument.tick_size == Decimal("0.01") and instrument.shortable


def test_connect_refuses_a_blocked_account(server: VenueServer) -> None:
    body = copy.deepcopy(alpaca_body("test_account_routes__test_get_account"))
    body["trading_blocked"] = True
    server.json("GET", "/v2/account", body)
    with pytest.raises(StopTrading, match="trading_blocked"):
        asyncio.run(make_broker(server).connect())


def test_replace_sends_patch_with_a_derived_client_order_id_and_keeps_ours(server: VenueServer) -> None:
    server.json("GET", "/v2/orders:by_client_order_id", alpaca_body("test_order_routes__test_get_order_by_client_id"))
    replaced = copy.deepcopy(alpaca_body("test_order_routes__test_replace_order"))
    replaced["client_order_id"] = f"{COID}-R1"
    server.json("PATCH", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", replaced)
    report = asyncio.run(make_broker(server).replace_order(COID, limit_price=Decimal("101.25")))
    sent = server.calls("PATCH", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")[0].json
    assert sent == {"client_order_id": f"{COID}-R1", "limit_price": "101.25"}
    assert report.client_order_id == COID


def test_cancel_sends_delete_then_reports_the_venue_state(server: VenueServer) -> None:
    open_body = alpaca_body("test_order_routes__test_get_order_by_client_id")
    canceled = dict(open_body, status="canceled")
    server.route("GET", "/v2/orders:by_client_order_id", Reply(200, open_body), Reply(200, canceled))
    server.route("DELETE", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", Reply(204))
    report = asyncio.run(make_broker(server).cancel_order(COID))
    assert report.status is OrderStatus.CANCELED
    assert len(server.calls("DELETE", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")) == 1


def test_fills_since_reads_fill_activities_and_maps_them_to_our_client_order_id(server: VenueServer) -> None:
    server.json("GET", "/v2/account/activities/FILL", fixture_json("synthetic/alpaca_fill_activities.json")["body"])
    server.json(
        "GET", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d", alpaca_body("test_order_routes__test_get_order_by_id")
    )
    since = 1615900000_000_000_000
    fills = asyncio.run(make_broker(server).fills_since(since))
    assert [(f.quantity, f.price) for f in fills] == [
        (Decimal("0.4"), Decimal("120.37")),
        (Decimal("0.6"), Decimal("120.38")),
    ]
    assert {f.client_order_id for f in fills} == {COID}
    query = server.calls("GET", "/v2/account/activities/FILL")[0].query
    assert query["after"].startswith("2021-03-16T13:06:40")
    assert len(server.calls("GET", "/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d")) == 1  # cached


def test_reconcile_gathers_open_orders_fills_positions_and_account(server: VenueServer) -> None:
    server.json("GET", "/v2/orders", alpaca_body("test_order_routes__test_get_orders"))
    server.json("GET", "/v2/positions", alpaca_body("test_position_routes__test_get_all_positions"))
    server.json("GET", "/v2/account", alpaca_body("test_account_routes__test_get_account"))
    server.json("GET", "/v2/account/activities/FILL", [])
    report = asyncio.run(make_broker(server).reconcile(0))
    assert len(report.open_orders) == 1 and len(report.positions) == 1 and report.fills == []
    assert report.account.currency == "USD"


def test_historical_bars_follow_next_page_token(server: VenueServer) -> None:
    recorded = alpaca_body("test_historical_stock_data__test_get_bars")
    first, second = recorded["bars"]["AAPL"]

    def pages(request: Recorded) -> Reply:
        if request.query.get("page_token") == recorded["next_page_token"]:
            return Reply(200, {"bars": {"AAPL": [second]}, "next_page_token": None})
        return Reply(200, {"bars": {"AAPL": [first]}, "next_page_token": recorded["next_page_token"]})

    server.route("GET", "/v2/stocks/bars", pages)
    broker = make_broker(server)
    bars = asyncio.run(broker.data.bars(AAPL, dt.datetime(2022, 2, 1, tzinfo=dt.UTC), timeframe_text="1Day"))
    assert [(b.open, b.close) for b in bars] == [(174.0, 174.61), (174.64, 175.84)]
    assert bars[0].ts == 1643691600_000_000_000
    calls = server.calls("GET", "/v2/stocks/bars")
    assert len(calls) == 2
    assert calls[0].query["symbols"] == "AAPL" and calls[0].query["timeframe"] == "1Day"
    assert calls[0].query["feed"] == "iex" and "page_token" not in calls[0].query


def test_crypto_bars_use_the_crypto_endpoint(server: VenueServer) -> None:
    server.json("GET", "/v1beta3/crypto/us/bars", alpaca_body("test_historical_crypto_data__test_get_crypto_bars"))
    bars = asyncio.run(
        make_broker(server).data.bars(
            InstrumentId("BTC/USD", "ALPACA"), dt.datetime(2022, 3, 9, tzinfo=dt.UTC), timeframe_text="1Day"
        )
    )
    assert len(bars) == 1 and bars[0].close == 162.95
    assert server.calls("GET", "/v1beta3/crypto/us/bars")[0].query["symbols"] == "BTC/USD"


def test_broker_repr_and_config_repr_never_show_the_secret(server: VenueServer, caplog: Any) -> None:
    broker = make_broker(server)
    assert "very-secret-value" not in repr(broker)
    assert "very-secret-value" not in repr(broker.config) and "PKTESTKEY" not in repr(broker.config)
