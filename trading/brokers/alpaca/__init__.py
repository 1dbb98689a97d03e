"""Alpaca adapter (alpaca-py): US equities and crypto, paper and live."""
