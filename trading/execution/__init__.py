"""Execution: how orders reach venues and how the venues' answers come back.

- `reports`: a venue's `ExecutionReport` (the order as the venue sees it, plus the fill that changed it) turned
  into the core's order events by comparing it with our book. Every venue's stream, every submit answer and every
  reconciliation lookup goes through this one rule, so a report delivered twice books nothing new.
- `paper`: the paper venue, the core's `SimulatedVenue` behind the `ExecutionClient` protocol, driven by the same
  bars the strategies receive and pushing its matches as execution reports the way a venue does.
"""
