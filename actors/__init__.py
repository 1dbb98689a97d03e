"""Ray actors: thin shells that each host one core object from `trading.live` / `trading.brokers`.

```
OrchestratorActor (supervisor) creates, names and wires:
  MarketDataActor --bars (batched)--> StrategyActor(s) --commands--> OrderManagerActor --check--> RiskActor
        |                                                                |  --step--> BrokerActor (PaperBroker)
        +--bars--> BrokerActor, OrderManagerActor (marks)                 +-- events + horizon back to the strategy
```
All actors are async, named, and live in one namespace; they find each other by name. A restart runs the
start path: the order manager rebuilds from its journal and reconciles with the broker; a strategy actor
rebuilds its host from the order manager's record of what it did, replaying the market-data history.
"""

from __future__ import annotations

from typing import Any

from actors.tuning import TASK_EVENTS

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
    and made safe by idempotency (client order ids, bar timestamps) instead. Ray's task events are off too
    (`actors.tuning.TASK_EVENTS`)."""
    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "max_restarts": max_restarts,
        "max_task_retries": 0,
        "num_cpus": num_cpus,
        "enable_task_events": TASK_EVENTS,
    }
    if detached:
        options["lifetime"] = "detached"
    return options
