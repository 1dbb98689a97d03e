"""Ray actors: thin shells that each host one core object from `trading.live` / `trading.brokers`.

```
RuntimeActor (supervisor) creates, names and wires them from a `RuntimeSpec`:
  venue feeds / a replay --> MarketDataActor --bars--> StrategyActor(s) --commands--> OrderManagerActor
                                   |                         ^                  (risk gate, journal, books)
                                   +--bars (paper venues)    |  events, fills         |          ^ reports
                                                             +---------------- BrokerActor (one per account:
  RiskActor: limits, trading state, kill switch, breakers     (the authority the order      Alpaca | ccxt | IB |
                                                               manager's gate follows)       Degiro | paper)
```
All actors are async, named, and live in one namespace; they find each other by name. A restart runs the
start path: the order manager rebuilds from its journal and reconciles with every venue; a strategy actor
rebuilds its host from the order manager's record of what it did, replaying the market-data history.
"""

from __future__ import annotations

from typing import Any

DEFAULT_NAMESPACE = "dto"
RISK = "risk"
ORDER_MANAGER = "order-manager"
MARKET_DATA = "market-data"
ORCHESTRATOR = "orchestrator"


def broker_name(name: str) -> str:
    return f"broker-{name}"


def strategy_name(strategy_id: str) -> str:
    return f"strategy-{strategy_id}"


def actor_options(
    name: str,
    namespace: str,
    *,
    detached: bool = False,
    max_restarts: int = -1,
    num_cpus: float = 0,
) -> dict[str, Any]:
    """Options for one named actor. Task retries are always off: anything on the order path is at-most-once
    and made safe by idempotency (client order ids, bar timestamps) and reconciliation instead."""
    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "max_restarts": max_restarts,
        "max_task_retries": 0,
        "num_cpus": num_cpus,
    }
    if detached:
        options["lifetime"] = "detached"
    return options
