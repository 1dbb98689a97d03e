"""Starting a runtime from a config in the tests' Ray, and reading what it did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import ray

from actors import ORDER_MANAGER, RISK, broker_name, strategy_name
from actors.client import RuntimeClient
from dto.runtime import runtime_spec, start_runtime
from trading.live.config import parse_runtime_config


@dataclass
class Runtime:
    """A running runtime: its supervisor and named actors."""

    handle: Any
    namespace: str

    @property
    def client(self) -> RuntimeClient:
        """Typed async calls to this runtime (`actors.client`), e.g. `asyncio.run(rt.client.positions())`."""
        return RuntimeClient(self.namespace)

    def actor(self, name: str) -> Any:
        return ray.get_actor(name, namespace=self.namespace)

    @property
    def oms(self) -> Any:
        return self.actor(ORDER_MANAGER)

    @property
    def risk(self) -> Any:
        return self.actor(RISK)

    def broker(self, name: str) -> Any:
        return self.actor(broker_name(name))

    def strategy(self, strategy_id: str) -> Any:
        return self.actor(strategy_name(strategy_id))

    def stop(self) -> None:
        ray.get(self.handle.shutdown.remote())
        ray.kill(self.handle, no_restart=True)


def paper_config(strategies: list[dict[str, Any]], *, data: str, speed: str = "max", **replay: Any) -> dict[str, Any]:
    return {
        "brokers": [{"name": "paper", "kind": "paper", "cash": "10000"}],
        "replay": {"data": data, "speed": speed, "instrument": "DATA.SIM", **replay},
        "strategies": strategies,
    }


def start(
    config: dict[str, Any],
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    run_id: str | None = None,
) -> Runtime:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    spec = runtime_spec(
        parse_runtime_config(config),
        namespace=namespace,
        run_id=run_id or namespace,
        database_url=database_url,
        redis_url=redis_url,
    )
    return Runtime(start_runtime(spec), namespace)
