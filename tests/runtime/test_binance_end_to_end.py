"""`dto run --config` against the Binance spot emulator: ccxt (REST, market streams and the WebSocket API user data
stream) unchanged, a strategy trading for hundreds of bars, then the runtime's books equal the venue's exactly."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from emulators.binance.server import BinanceSpotEmulator
from emulators.binance.venue import spot_exchange
from trading.model.orders import OrderSide

from .runtime_support import every_bar_reached_the_strategies, settle, start, trade

pytestmark = [pytest.mark.ray, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[2] / "data" / "freqtrade" / "UNITTEST_BTC-1m.json"
WARMUP = 20


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


def test_a_strategy_trades_binance_for_hundreds_of_bars_and_the_books_match(
    ray_session: None, emulator: BinanceSpotEmulator
) -> None:
    runtime = start(binance_config(emulator))
    try:
        trade(emulator, 300)
        book = settle(runtime, emulator, "binance")
        assert book["ours"] == book["venue"]
        assert len(book["venue"]["fills"]) >= 10, "a session without trades proves nothing"
        assert max(emulator.order_posts.values()) == 1, "an order reached the venue twice"
        every_bar_reached_the_strategies(runtime, emulator.exchange, "ETH/BTC")
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
        book = settle(runtime, emulator, "binance", timeout_s=45)
        assert book["ours"] == book["venue"]
        assert max(emulator.order_posts.values()) == 1, "an order reached the venue twice"
        assert ray.get(runtime.oms.snapshot.remote())["in_doubt"] == []
        every_bar_reached_the_strategies(runtime, emulator.exchange, "ETH/BTC")
    finally:
        runtime.stop()
