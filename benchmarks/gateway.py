"""Gateway throughput and latency: an authenticated GET /v1/positions and order submission at 32 concurrent
clients (httpx.AsyncClient, a bounded number of requests), through Ray Serve and through the same app under
plain uvicorn, against one real runtime (actors, PostgreSQL, Redis).

    .venv/bin/python -m benchmarks.gateway
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

CLIENTS = 32
GETS = 3000
ORDERS = 1000


async def _load(url: str, key: str, path: str, total: int, order: bool) -> dict[str, float]:
    import httpx

    latencies: list[float] = []
    counter = iter(range(total))
    errors = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            started = time.perf_counter()
            if order:
                body = {"client_order_id": f"b-{uuid.uuid4().hex[:12]}-{i}", "instrument_id": "SPX.PAPER",
                        "side": "buy" if i % 2 else "sell", "order_type": "limit", "quantity": "1",
                        "limit_price": "100" if i % 2 else "9000"}
                answer = await client.post(path, json=body)
                ok = answer.status_code == 201
            else:
                answer = await client.get(path)
                ok = answer.status_code == 200
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:
        await client.get(path if not order else "/v1/positions")  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": float(errors),
    }


def _measure(url: str, key: str) -> dict[str, dict[str, float]]:
    return {
        "positions": asyncio.run(_load(url, key, "/v1/positions", GETS, order=False)),
        "orders": asyncio.run(_load(url, key, "/v1/orders", ORDERS, order=True)),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> dict[str, float]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import uvicorn
    from ray import serve

    from actors import MARKET_DATA, ORCHESTRATOR
    from actors.orchestrator import OrchestratorActor
    from dto.run import DEFAULT_STRATEGIES, admin_key, runtime_spec
    from serve_apps.app import build_app
    from serve_apps.gateway import build
    from serve_apps.settings import GatewaySettings
    from trading.storage import start_storage

    home = Path(tempfile.mkdtemp(prefix="dto-bench-gw-"))
    servers = start_storage(home)
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    spec, series = runtime_spec(namespace=namespace, strategies=DEFAULT_STRATEGIES[:2])
    orchestrator: Any = OrchestratorActor.options(  # type: ignore[attr-defined]
        name=ORCHESTRATOR, namespace=namespace, num_cpus=0
    ).remote(spec)
    try:
        ray.get(orchestrator.start.remote())
        market_data = ray.get_actor(MARKET_DATA, namespace=namespace)
        ray.get(market_data.publish.remote(spec.instrument.id, [series.bar(i) for i in range(60)]))
        key, _ = asyncio.run(admin_key(servers.database_url))
        settings = {"namespace": namespace, "database_url": servers.database_url, "redis_url": servers.redis_url,
                    "rate_limit": 1_000_000, "jwt_secret": "bench"}
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build(settings), name="gateway", route_prefix="/")
        on_serve = _measure(f"http://127.0.0.1:{port}", key)
        serve.shutdown()
        uv_port = free_port()
        server = uvicorn.Server(uvicorn.Config(build_app(GatewaySettings(**settings)), host="127.0.0.1",
                                               port=uv_port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        on_uvicorn = _measure(f"http://127.0.0.1:{uv_port}", key)
        server.should_exit = True
        thread.join(10)
    finally:
        ray.get(orchestrator.shutdown.remote())
        ray.kill(orchestrator)
        ray.shutdown()
        servers.stop()
    figures: dict[str, float] = {}
    print(f"gateway at {CLIENTS} concurrent clients ({GETS} GETs, {ORDERS} orders per server)")
    for where, result in (("serve", on_serve), ("uvicorn", on_uvicorn)):
        for what, numbers in result.items():
            print(f"  {where:8} {what:9} {numbers['rps']:8.0f} req/s  p50 {numbers['p50_ms']:6.1f} ms  "
                  f"p99 {numbers['p99_ms']:6.1f} ms  errors {numbers['errors']:.0f}")
            for name, value in numbers.items():
                figures[f"{where}_{what}_{name}"] = value
    for what in ("positions", "orders"):
        ratio = figures[f"serve_{what}_rps"] / figures[f"uvicorn_{what}_rps"]
        figures[f"{what}_serve_over_uvicorn"] = ratio
        print(f"  {what}: serve/uvicorn throughput {ratio:.2f}")
    return figures


if __name__ == "__main__":
    main()
