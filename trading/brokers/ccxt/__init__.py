"""Crypto exchanges through ccxt unified API (Binance spot first, testnet by default)."""
