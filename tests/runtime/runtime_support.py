"""Starting a runtime from a config in the tests' Ray, and reading what it did."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import ray

from actors import MARKET_DATA, ORDER_MANAGER, RISK, broker_name, strategy_name
from actors.client import RuntimeClient
from dto.runtime import runtime_spec, start_runtime
from emulators.exchange import EmulatedExchange
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


class Emulator(Protocol):
    """What the tests need of a venue emulator (Alpaca's and Binance's both have it)."""

    @property
    def exchange(self) -> EmulatedExchange: ...

    def advance(self) -> Any: ...


def trade(server: Emulator, bars: int, every_s: float = 0.04) -> None:
    """Let the venue's market move on by `bars` bars, about as fast as the runtime keeps up."""
    for _ in range(bars):
        server.advance()
        time.sleep(every_s)


def books(runtime: Runtime, exchange: EmulatedExchange) -> dict[str, Any]:
    """The runtime's fills, working orders and position beside the venue's (`ours`, `venue`), and our orders."""
    fills = ray.get(runtime.oms.list_fills.remote(0, None, 100_000))
    orders = ray.get(runtime.oms.list_orders.remote(None, None, None, 100_000))
    positions = ray.get(runtime.oms.positions_view.remote())["positions"]
    ours = {
        "fills": sorted((f["client_order_id"], f["side"], Decimal(f["quantity"]), Decimal(f["price"])) for f in fills),
        "open": sorted(o["client_order_id"] for o in orders if o["status"] in ("accepted", "partially_filled")),
        "position": sum((Decimal(p["quantity"]) for p in positions), Decimal(0)),
    }
    venue = {
        "fills": sorted((f.client_order_id, f.side.value, f.quantity, f.price) for f in exchange.fills()),
        "open": sorted(o.client_order_id for o in exchange.orders(open_only=True)),
        "position": sum((p.quantity for p in exchange.positions().values()), Decimal(0)),
    }
    return {"ours": ours, "venue": venue, "orders": orders}


def settle(runtime: Runtime, server: Emulator, broker: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Reconcile until the runtime's book equals the venue's, nothing is in doubt and every published bar has
    reached the strategies (or the time is up); returns the last `books`."""
    deadline = time.monotonic() + timeout_s
    while True:
        ray.get(runtime.oms.reconcile_broker.remote(broker))
        book = books(runtime, server.exchange)
        in_doubt = ray.get(runtime.oms.snapshot.remote())["in_doubt"]
        delivered = ray.get(runtime.actor(MARKET_DATA).delivered.remote())
        if (book["ours"] == book["venue"] and not in_doubt and delivered) or time.monotonic() > deadline:
            return book
        time.sleep(0.5)


def every_bar_reached_the_strategies(runtime: Runtime, exchange: EmulatedExchange, symbol: str) -> None:
    """The market-data actor delivered exactly the bars the venue published, in order, none twice."""
    instrument_id = exchange.instrument(symbol).id
    delivered = [b.ts for b in ray.get(runtime.actor(MARKET_DATA).history.remote(instrument_id))]
    published = [b.ts for b in exchange.history(symbol, delivered[0], exchange.now_ns)]
    assert delivered == published
