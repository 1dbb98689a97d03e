"""`dto run --config` against the Alpaca emulator, as a user runs it: the issue's minimal config file, the
adapter's settings from ALPACA_* environment variables only, its own process; at the end the gateway's orders and
fills equal the venue's and no order reached the venue twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from emulators.alpaca import AlpacaEmulator
from emulators.exchange import EmulatedExchange
from trading.data.loaders import load_bars
from trading.model.instruments import TradingSession, equity

from .test_dto_run import START_TIMEOUT_S, STOP_TIMEOUT_S, _free_port, _lines, _read_until, _request

pytestmark = pytest.mark.storage
DATA = Path(__file__).resolve().parents[2] / "data" / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
MINIMAL = """\
brokers:
  - name: alpaca
    kind: alpaca
strategies:
  - id: spy_cross
    strategy: sma_cross
    params: {fast: 3, slow: 8}
    instrument: SPY.ALPACA
    broker: alpaca
    size: 1
"""


def test_dto_run_with_the_minimal_config_trades_the_alpaca_emulator(tmp_path: Path) -> None:
    new_york = "America/New_York"
    instrument = equity("SPY", venue="ALPACA", sessions=(TradingSession.parse("09:30-16:00", new_york),))
    exchange = EmulatedExchange({"SPY": (instrument, load_bars(DATA, tz=new_york))}, cash=Decimal(100_000))
    config = tmp_path / "alpaca.yaml"
    config.write_text(MINIMAL)
    port = _free_port()
    with AlpacaEmulator(exchange) as emulator:
        for _ in range(30):
            emulator.advance()
        env = {**os.environ, **emulator.env(), "DTO_HOME": str(tmp_path), "RAY_USAGE_STATS_ENABLED": "0"}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dto")), "run", "--config", str(config), "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
        )
        seen: list[str] = []
        try:
            key = _read_until(_lines(process), "admin key", seen, START_TIMEOUT_S).split()[2]
            for _ in range(250):
                emulator.advance()
                time.sleep(0.05)
            base = f"http://127.0.0.1:{port}"
            venue = sorted((f.client_order_id, str(f.quantity), str(f.price)) for f in exchange.fills())
            assert len(venue) >= 10, "a session without trades proves nothing"
            deadline = time.monotonic() + 30
            while True:
                status, fills = _request(f"{base}/v1/fills?limit=5000", key)
                assert status == 200, fills
                ours = sorted((f["client_order_id"], f["quantity"], f["price"]) for f in fills)
                if ours == venue or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert ours == venue
            assert max(emulator.submits.values()) == 1, "an order reached the venue twice"
            status, accounts = _request(f"{base}/v1/accounts?broker=alpaca", key)
            assert status == 200, accounts
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGINT)  # the process this test started, by its id
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise
        assert process.returncode == 0, "".join(seen[-40:])
