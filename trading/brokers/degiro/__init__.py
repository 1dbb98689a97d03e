"""Degiro adapter (degiro-connector). EXPERIMENTAL: unofficial API."""
