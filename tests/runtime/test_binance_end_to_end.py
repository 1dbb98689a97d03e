"""`dto run --config` against the Binance spot emulator: ccxt (REST, market streams and the WebSocket API user data
stream) unchanged, a strategy trading for hundreds of bars, then the runtime's books equal the venue's exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from emulators.binance.server import BinanceSpotEmulator
from emulators.binance.venue import spot_exchange
from trading.model.identifiers import InstrumentId
from trading.model.orders import OrderSide

from .runtime_support import Runtime, start

pytestmark = [pytest.mark.ray, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[2] / "data" / "freqtrade" / "UNITTEST_BTC-1m.json"
WARMUP = 20
IID = InstrumentId("ETH/BTC", "BINANCE")


@pytest.fixture
def emulator() -> Iterator[BinanceSpotEmulator]:
    """Real 1-minute candles of an altcoin/BTC pair (freqtrade's test data) served as ETH/BTC."""
    with BinanceSpotEmulator(spot_exchange(DATA, "ETH/BTC", cash=Decimal(1))) as server:
        server.advance(WARMUP)
        yield server


def binance_config(server: BinanceSpotEmulator) -> dict[str, Any]:
    env = server.environment()
    return {
        "brokers": [{
            "name": "binance",
            "kind": "ccxt",
            "settings": {"exchange": "binance", "sandbox": False, "quote": "BTC", "symbols": "ETH/BTC",
                         "urls": env["CCXT_URLS"], "ws_urls": env["CCXT_WS_URLS"]},
        }],
        "strategies": [{"id": "eth_cross", "strategy": "sma_cross", "params": {"fast": 3, "slow": 8},
                        "instrument": "ETH/BTC.BINANCE", "broker": "binance", "size": 1}],
        "warmup_bars": WARMUP,
        "reconcile_every_s": 2,
    }


def trade(server: BinanceSpotEmulator, bars: int, every_s: float = 0.04) -> None:
    for _ in range(bars):
        server.advance()
        time.sleep(every_s)


def books(runtime: Runtime, server: BinanceSpotEmulator) -> dict[str, Any]:
    exchange = server.exchange
    fills = ray.get(runtime.oms.list_fills.remote(0, None, 100_000))
    orders = ray.get(runtime.oms.list_orders.remote(None, None, None, 100_000))
    positions = ray.get(runtime.oms.positions_view.remote())["positions"]
    ours = {
        "fills": sorted((f["client_order_id"], f["side"], Decimal(f["quantity"]), Decimal(f["price"])) for f in fills),
        "open": sorted(o["client_order_id"] for o in orders if o["status"] in ("accepted", "partially_filled")),
        "position": sum((Decimal(p["quantity"]) for p in positions), Decimal(0)),
    }
    venue = {
        "fills": sorted((f.client_order_id, f.side.value, f.quantity, f.price) for f in exchange.fills()),
        "open": sorted(o.client_order_id for o in exchange.orders(open_only=True)),
        "position": sum((p.quantity for p in exchange.positions().values()), Decimal(0)),
    }
    return {"ours": ours, "venue": venue, "orders": orders}


def settle(runtime: Runtime, server: BinanceSpotEmulator, timeout_s: float = 30.0) -> dict[str, Any]:
    """Wait until the runtime's book equals the venue's and every published bar reached the strategy."""
    deadline = time.monotonic() + timeout_s
    while True:
        ray.get(runtime.oms.reconcile_broker.remote("binance"))
        book = books(runtime, server)
        in_doubt = ray.get(runtime.oms.snapshot.remote())["in_doubt"]
        delivered = ray.get(runtime.actor("market-data").delivered.remote())
        if (book["ours"] == book["venue"] and not in_doubt and delivered) or time.monotonic() > deadline:
            return book
        time.sleep(0.5)


def every_bar_reached_the_strategy(runtime: Runtime, server: BinanceSpotEmulator) -> None:
    delivered = [b.ts for b in ray.get(runtime.actor("market-data").history.remote(IID))]
    published = [b.ts for b in server.exchange.history("ETH/BTC", delivered[0], server.exchange.now_ns)]
    assert delivered == published


def test_a_strategy_trades_binance_for_hundreds_of_bars_and_the_books_match(
    ray_session: None, emulator: BinanceSpotEmulator
) -> None:
    runtime = start(binance_config(emulator))
    try:
        trade(emulator, 300)
        book = settle(runtime, emulator)
        assert book["ours"] == book["venue"]
        assert len(book["venue"]["fills"]) >= 10, "a session without trades proves nothing"
        assert max(emulator.order_posts.values()) == 1, "an order reached the venue twice"
        every_bar_reached_the_strategy(runtime, emulator)
        # The account's balances per asset are the venue's, exactly.
        account = ray.get(runtime.broker("binance").account.remote())
        free, locked = emulator.balances()["BTC"]
        assert account.cash == free + locked
    finally:
        runtime.stop()


def test_faults_lose_nothing_and_duplicate_nothing(ray_session: None, emulator: BinanceSpotEmulator) -> None:
    """An order answered "execution status unknown" after the venue took it, an order POST that hangs past
    the client's timeout, the user data stream and the market stream dropped, an order placed by hand."""
    runtime = start(binance_config(emulator))
    try:
        trade(emulator, 40)
        emulator.fail_next_order(503)
        trade(emulator, 40)
        emulator.hang_next_order(12.0)
        trade(emulator, 40)
        emulator.drop_user_stream()
        trade(emulator, 40)
        emulator.drop_market_stream()
        trade(emulator, 40)
        emulator.place_by_hand("ETH/BTC", OrderSide.BUY, Decimal(2))
        trade(emulator, 40)
        book = settle(runtime, emulator, timeout_s=45)
        assert book["ours"] == book["venue"]
        assert max(emulator.order_posts.values()) == 1, "an order reached the venue twice"
        assert ray.get(runtime.oms.snapshot.remote())["in_doubt"] == []
        every_bar_reached_the_strategy(runtime, emulator)
    finally:
        runtime.stop()
