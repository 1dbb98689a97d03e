"""Binance spot, emulated: the REST API, market streams and the WebSocket API user data stream that the real
ccxt calls, served over `emulators.exchange.EmulatedExchange` (`BinanceSpotEmulator`; `python -m
emulators.binance` for a demo)."""

from emulators.binance.server import BinanceSpotEmulator, SpotMarket
from emulators.binance.venue import BinanceFee, spot_exchange, spot_instrument

__all__ = ["BinanceFee", "BinanceSpotEmulator", "SpotMarket", "spot_exchange", "spot_instrument"]
