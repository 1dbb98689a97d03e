"""Interactive Brokers adapter (ib_insync against TWS or IB Gateway)."""
