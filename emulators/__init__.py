"""Local venue emulators: servers that speak real venue protocols over the project's simulated venue.

`emulators.exchange.EmulatedExchange` is the venue (an account, a matching engine and a clock over recorded
bars); each protocol module (`emulators.alpaca`, ...) serves one venue's wire format on top of it, so the
venue's own client library talks to it unchanged.
"""
