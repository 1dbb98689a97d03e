"""`python -m emulators.binance --data data/freqtrade/UNITTEST_BTC-1m.json --symbol ETH/BTC --speed 60`:
serve recorded bars as a Binance spot market and print the CCXT_* settings that point the adapter at it."""

from __future__ import annotations

import argparse
import contextlib
import threading
from decimal import Decimal

from emulators.binance.server import BinanceSpotEmulator
from emulators.binance.venue import spot_exchange


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.binance", description=__doc__)
    parser.add_argument("--data", required=True, help="a bar file trading.data.loaders reads (1-minute bars)")
    parser.add_argument("--symbol", default="ETH/BTC", help="BASE/QUOTE to serve the bars as (the demo's choice)")
    parser.add_argument("--speed", type=float, default=60.0, help="recorded time per wall second (60: a bar/s)")
    parser.add_argument("--cash", default="1", help="starting balance of the quote asset")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--api-key", default="emulator-api-key")
    parser.add_argument("--secret", default="emulator-secret")
    args = parser.parse_args(argv)
    exchange = spot_exchange(args.data, args.symbol, cash=Decimal(args.cash))
    server = BinanceSpotEmulator(exchange, api_key=args.api_key, secret=args.secret, port=args.port)
    with server:
        for key, value in server.environment().items():
            print(f"export {key}={value!r}")
        interval = exchange.bar_interval_ns(args.symbol) / 1e9 / args.speed
        print(f"# serving {args.data} as {args.symbol} on {server.url}, one bar every {interval:g}s; Ctrl-C stops")
        server.pace(interval)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
