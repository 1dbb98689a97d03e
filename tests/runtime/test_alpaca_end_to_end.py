"""`dto run --config` against the Alpaca emulator: the real alpaca-py client over real HTTP and websockets, a
strategy trading for hundreds of bars, then the runtime's books equal the venue's exactly, faults included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import ray

from emulators.alpaca import AlpacaEmulator
from emulators.exchange import EmulatedExchange
from trading.data.loaders import load_bars
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from trading.model.instruments import TradingSession, equity
from trading.model.orders import Order, OrderSide, OrderType, TimeInForce

from .runtime_support import every_bar_reached_the_strategies, settle, start, trade

pytestmark = [pytest.mark.ray, pytest.mark.slow]
DATA = Path(__file__).resolve().parents[2] / "data" / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
NEW_YORK = "America/New_York"
WARMUP = 20


@pytest.fixture
def emulator() -> Iterator[AlpacaEmulator]:
    """The S&P 500's real minutes of 2019-11-05 served as SPY (the demo's choice of symbol)."""
    instrument = equity("SPY", venue="ALPACA", sessions=(TradingSession.parse("09:30-16:00", NEW_YORK),))
    exchange = EmulatedExchange({"SPY": (instrument, load_bars(DATA, tz=NEW_YORK))}, cash=Decimal(100_000))
    with AlpacaEmulator(exchange) as server:
        for _ in range(WARMUP):  # history the runtime warms up on
            server.advance()
        yield server


def alpaca_config(server: AlpacaEmulator) -> dict[str, Any]:
    env = server.env()
    return {
        "brokers": [{
            "name": "alpaca",
            "kind": "alpaca",
            "settings": {
                "trading_url": env["ALPACA_TRADING_URL"],
                "data_url": env["ALPACA_DATA_URL"],
                "trading_stream_url": env["ALPACA_TRADING_STREAM_URL"],
                "stock_stream_url": env["ALPACA_STOCK_STREAM_URL"],
                # The emulator has no rate limit of its own (only the 429s a test injects), and the tests reconcile
                # far more often than a live runtime does: Alpaca's 200 requests a minute would throttle them.
                "rate_limit": 100_000,
            },
        }],
        "strategies": [{"id": "spy_cross", "strategy": "sma_cross", "params": {"fast": 3, "slow": 8},
                        "instrument": "SPY.ALPACA", "broker": "alpaca", "size": 1}],
        "warmup_bars": WARMUP,
        "reconcile_every_s": 2,
    }


def test_a_strategy_trades_alpaca_for_hundreds_of_bars_and_the_books_match(
    ray_session: None, emulator: AlpacaEmulator
) -> None:
    runtime = start(alpaca_config(emulator))
    try:
        trade(emulator, 300)
        book = settle(runtime, emulator, "alpaca")
        assert book["ours"] == book["venue"]
        assert len(book["venue"]["fills"]) >= 10, "a session without trades proves nothing"
        assert max(emulator.submits.values()) == 1, "an order reached the venue twice"
        assert all(o["client_order_id"] in emulator.submits for o in book["orders"])
    finally:
        runtime.stop()


def test_faults_lose_nothing_and_duplicate_nothing(ray_session: None, emulator: AlpacaEmulator) -> None:
    """A submit answered 500 after the venue took it, a submit that hangs past the client's timeout, 429s, the
    trade-updates and market-data streams dropped, an order placed by hand: at the end the books equal the
    venue's, no order reached it twice, and the strategies saw every bar the venue published, in order."""
    runtime = start(alpaca_config(emulator))
    try:
        trade(emulator, 40)
        emulator.fail_next_submit(500)
        trade(emulator, 40)
        emulator.hang_next_submit(12.0)
        trade(emulator, 40)
        emulator.rate_limit_next(2, retry_after=0.5)
        trade(emulator, 40)
        emulator.drop_trade_updates()
        trade(emulator, 40)
        emulator.drop_data_stream()
        trade(emulator, 40)
        emulator.place_order_by_hand("SPY", "buy", Decimal(2))
        trade(emulator, 40)
        book = settle(runtime, emulator, "alpaca", timeout_s=40)
        assert book["ours"] == book["venue"]
        assert max(emulator.submits.values()) == 1, "an order reached the venue twice"
        snapshot = ray.get(runtime.oms.snapshot.remote())
        assert snapshot["in_doubt"] == []
        # An order closed as never having reached the venue really is not there.
        for order in book["orders"]:
            if order["reason"].startswith("NOT_AT_VENUE"):
                assert order["client_order_id"] not in emulator.submits
        # Every bar the venue published reached the strategies once, in order (what the dropped data stream missed
        # was backfilled from the venue's history before the next bar went out).
        every_bar_reached_the_strategies(runtime, emulator.exchange, "SPY")
    finally:
        runtime.stop()


def test_a_killed_broker_actor_comes_back_and_loses_nothing(ray_session: None, emulator: AlpacaEmulator) -> None:
    """Ray restarts the broker actor; it connects again, the order manager reconciles, trading goes on."""
    runtime = start(alpaca_config(emulator))
    try:
        trade(emulator, 60)
        ray.kill(runtime.broker("alpaca"), no_restart=False)
        trade(emulator, 120)
        book = settle(runtime, emulator, "alpaca", timeout_s=40)
        assert book["ours"] == book["venue"]
        assert max(emulator.submits.values()) == 1, "an order reached the venue twice"
        assert ray.get(runtime.oms.snapshot.remote())["in_doubt"] == []
        assert len(book["venue"]["fills"]) >= 6
    finally:
        runtime.stop()


def test_a_runtime_stopped_and_started_again_resumes_its_session_from_the_journal(
    ray_session: None, emulator: AlpacaEmulator, storage_urls: tuple[str, str]
) -> None:
    """Stopped while an order works at the venue; meanwhile an order is placed by hand and the market moves on.
    Started again (same run, same journal): the working order is still ours, the hand order is adopted and
    flagged, what filled meanwhile is booked, and nothing reaches the venue twice."""
    database_url, redis_url = storage_urls
    run_id = f"restart-{time.monotonic_ns()}"
    first = start(alpaca_config(emulator), database_url=database_url, redis_url=redis_url, run_id=run_id)
    try:
        trade(emulator, 60)
        last = emulator.exchange.last_bar("SPY")
        assert last is not None
        far = Order(ClientOrderId("m-far-below"), StrategyId("manual"), InstrumentId("SPY", "ALPACA"),
                    OrderSide.BUY, OrderType.LIMIT, Decimal(1), limit_price=Decimal(str(round(last.close * 0.5, 2))),
                    time_in_force=TimeInForce.GTC, broker="alpaca")
        answer = ray.get(first.oms.submit_manual.remote(far))
        assert answer["order"]["status"] == "accepted"
        fills_before = len(ray.get(first.oms.list_fills.remote(0, None, 100_000)))
    finally:
        first.stop()
    emulator.place_order_by_hand("SPY", "buy", Decimal(3))
    trade(emulator, 30)  # nobody listens: fills and bars happen without the runtime
    second = start(alpaca_config(emulator), database_url=database_url, redis_url=redis_url, run_id=run_id)
    try:
        snapshot = ray.get(second.oms.snapshot.remote())
        assert snapshot["rebuilt_from"] > 0, "the second start did not read the first one's journal"
        trade(emulator, 60)
        book = settle(second, emulator, "alpaca", timeout_s=40)
        assert book["ours"] == book["venue"]
        assert "m-far-below" in book["ours"]["open"]  # still working, still ours
        assert max(emulator.submits.values()) == 1, "an order reached the venue twice"
        adopted = [o for o in book["orders"] if o["strategy_id"] == "external"]
        assert len(adopted) == 1 and adopted[0]["status"] == "filled"
        assert len(ray.get(second.oms.list_fills.remote(0, None, 100_000))) > fills_before
    finally:
        second.stop()
