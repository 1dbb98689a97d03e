"""Gateway throughput and latency: an authenticated GET /v1/positions and order submission at 32 concurrent
clients (closed loop, a bounded number of requests), through Ray Serve and through the same app under plain
uvicorn in its own process, against one real runtime (actors, PostgreSQL, Redis).

    .venv/bin/python -m benchmarks.gateway

The load generator is a raw asyncio HTTP/1.1 client on keep-alive connections: on these 2 cores httpx's
AsyncClient costs about 3 ms of CPU per request at 32 concurrent requests (it capped a trivial server at
~290 req/s), and that CPU was taken from the server under test. This client costs about 50 us per request.
In a closed loop, mean latency = clients / throughput, so p99 < 50 ms at 32 clients needs > 640 req/s.

Serve runs with HAProxy ingress, as `dto run` does (see serve_apps/ingress.py), and one replica, like the one
uvicorn process; `DTO_SERVE_INGRESS=proxy` measures Serve's Python proxy instead, `DTO_BENCH_REPLICAS=2` two
replicas.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

CLIENTS = 32
GETS = 3000
ORDERS = 1000
WARMUP = 100
SETTINGS_ENV = "DTO_BENCH_GATEWAY"


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: bytes) -> None:
        self.reader = reader
        self.writer = writer
        self.headers = headers

    @classmethod
    async def open(cls, host: str, port: int, key: str) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, f"Host: {host}:{port}\r\nX-API-Key: {key}\r\n".encode())

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.headers
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n".encode()
        self.writer.write(head + b"\r\n" + payload)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError(f"{method} {path}: the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        chunks = []
        while size := int((await self.reader.readline()).strip(), 16):
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return status, b"".join(chunks)

    def close(self) -> None:
        self.writer.close()


async def _load(port: int, key: str, total: int, order: bool) -> dict[str, float]:
    latencies: list[float] = []
    counter = iter(range(total))
    errors = 0
    connections = [await Connection.open("127.0.0.1", port, key) for _ in range(CLIENTS)]
    run = uuid.uuid4().hex[:8]

    async def one(connection: Connection, i: int) -> bool:
        if order:
            body = {"client_order_id": f"b-{run}-{i}", "instrument_id": "SPX.PAPER",
                    "side": "buy" if i % 2 else "sell", "order_type": "limit", "quantity": "1",
                    "limit_price": "100" if i % 2 else "9000"}
            status, _ = await connection.request("POST", "/v1/orders", body)
            return status == 201
        status, _ = await connection.request("GET", "/v1/positions")
        return status == 200

    async def client_loop(connection: Connection) -> None:
        nonlocal errors
        for i in counter:
            started = time.perf_counter()
            ok = await one(connection, i)
            latencies.append(time.perf_counter() - started)
            errors += not ok

    try:
        for i in range(WARMUP):  # connections, caches and code paths warm, outside the timing
            await connections[i % CLIENTS].request("GET", "/v1/positions")
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in connections))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            connection.close()
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": float(errors),
    }


async def _direct(namespace: str, instrument_id: Any, total: int, order: bool) -> dict[str, float]:
    """The same work as direct actor calls from this process, no HTTP: what the runtime alone allows."""
    import ray

    from actors import ORDER_MANAGER
    from trading.model.identifiers import ClientOrderId, StrategyId
    from trading.model.orders import Order, OrderSide, OrderType, TimeInForce

    oms = ray.get_actor(ORDER_MANAGER, namespace=namespace)
    latencies: list[float] = []
    counter = iter(range(total))
    run = uuid.uuid4().hex[:8]

    async def client_loop() -> None:
        for i in counter:
            started = time.perf_counter()
            if order:
                await oms.submit_manual.remote(Order(
                    client_order_id=ClientOrderId(f"d-{run}-{i}"), strategy_id=StrategyId("manual"),
                    instrument_id=instrument_id, side=OrderSide.BUY if i % 2 else OrderSide.SELL,
                    order_type=OrderType.LIMIT, quantity=Decimal(1), limit_price=Decimal(100 if i % 2 else 9000),
                    time_in_force=TimeInForce.GTC, ts_init=time.time_ns(), tags={"source": "api"}))
            else:
                await oms.positions_view.remote()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": total / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(total * 0.99) - 1] * 1000, "errors": 0.0}


async def _until_serving(port: int, key: str, timeout_s: float = 60) -> None:
    """Until the gateway answers (Serve reports an app ready a moment before HAProxy routes to it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            connection = await Connection.open("127.0.0.1", port, key)
            try:
                if (await connection.request("GET", "/health"))[0] == 200:
                    return
            finally:
                connection.close()
        except (OSError, ValueError, IndexError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway on port {port} did not answer /health")
        await asyncio.sleep(0.2)


def _measure(port: int, key: str) -> dict[str, dict[str, float]]:
    asyncio.run(_until_serving(port, key))
    return {
        "positions": asyncio.run(_load(port, key, GETS, order=False)),
        "orders": asyncio.run(_load(port, key, ORDERS, order=True)),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the uvicorn gateway exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the uvicorn gateway did not start listening")


def serve_on_uvicorn() -> None:
    """Child process: join the benchmark's Ray cluster and serve `build_app` with plain uvicorn."""
    import ray
    import uvicorn

    from serve_apps.app import build_app
    from serve_apps.settings import GatewaySettings

    config = json.loads(os.environ[SETTINGS_ENV])
    ray.init(address=config["ray_address"], log_to_driver=False)
    app = build_app(GatewaySettings(**config["settings"]))
    uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning")


def main() -> dict[str, float]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    from actors import MARKET_DATA, ORCHESTRATOR
    from actors.orchestrator import OrchestratorActor
    from dto.run import DEFAULT_STRATEGIES, admin_key, runtime_spec
    from serve_apps.gateway import build
    from serve_apps.ingress import ingress_environment, remove_ingress_files
    from trading.storage import start_storage

    home = Path(tempfile.mkdtemp(prefix="dto-bench-gw-"))
    servers = start_storage(home)
    ingress = os.environ.get("DTO_SERVE_INGRESS", "haproxy")
    replicas = int(os.environ.get("DTO_BENCH_REPLICAS", "1"))  # one, like the one uvicorn process
    ingress_env = ingress_environment("proxy" if ingress == "proxy" else "haproxy")
    os.environ.update(ingress_env)
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    spec, series = runtime_spec(namespace=namespace, strategies=DEFAULT_STRATEGIES[:2], redis_url=servers.redis_url)
    orchestrator: Any = OrchestratorActor.options(  # type: ignore[attr-defined]
        name=ORCHESTRATOR, namespace=namespace, num_cpus=0
    ).remote(spec)
    uvicorn_process: subprocess.Popen[bytes] | None = None
    try:
        ray.get(orchestrator.start.remote())
        market_data = ray.get_actor(MARKET_DATA, namespace=namespace)
        ray.get(market_data.publish.remote(spec.instrument.id, [series.bar(i) for i in range(60)]))
        key, _ = asyncio.run(admin_key(servers.database_url))
        settings = {"namespace": namespace, "database_url": servers.database_url, "redis_url": servers.redis_url,
                    "rate_limit": 1_000_000, "jwt_secret": "bench"}
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build(settings, num_replicas=replicas), name="gateway", route_prefix="/")
        on_serve = _measure(port, key)
        serve.shutdown()
        uv_port = free_port()
        child = {"ray_address": ray.get_runtime_context().gcs_address, "settings": settings, "port": uv_port}
        uvicorn_process = subprocess.Popen(
            [sys.executable, "-c", "from benchmarks.gateway import serve_on_uvicorn; serve_on_uvicorn()"],
            env={**os.environ, SETTINGS_ENV: json.dumps(child)},
        )
        _wait_for_port(uv_port, uvicorn_process)
        on_uvicorn = _measure(uv_port, key)
        on_actors = {
            "positions": asyncio.run(_direct(namespace, spec.instrument.id, GETS, order=False)),
            "orders": asyncio.run(_direct(namespace, spec.instrument.id, ORDERS, order=True)),
        }
    finally:
        if uvicorn_process is not None:
            uvicorn_process.terminate()
            uvicorn_process.wait(30)
        ray.get(orchestrator.shutdown.remote())
        ray.kill(orchestrator)
        ray.shutdown()
        servers.stop()
        remove_ingress_files(ingress_env)
    figures: dict[str, float] = {}
    print(f"gateway at {CLIENTS} concurrent clients ({GETS} GETs, {ORDERS} orders per server; Serve: {ingress} "
          f"ingress, {replicas} replica(s); uvicorn: 1 process)")
    for where, result in (("serve", on_serve), ("uvicorn", on_uvicorn), ("actors", on_actors)):
        for what, numbers in result.items():
            print(f"  {where:8} {what:9} {numbers['rps']:8.0f} req/s  p50 {numbers['p50_ms']:6.1f} ms  "
                  f"p99 {numbers['p99_ms']:6.1f} ms  errors {numbers['errors']:.0f}")
            for name, value in numbers.items():
                figures[f"{where}_{what}_{name}"] = value
    for what in ("positions", "orders"):
        ratio = figures[f"serve_{what}_rps"] / figures[f"uvicorn_{what}_rps"]
        figures[f"{what}_serve_over_uvicorn"] = ratio
        print(f"  {what}: serve/uvicorn throughput {ratio:.2f}")
    print("  (actors: the order manager called directly from the benchmark process, no HTTP and no gateway:\n"
          "   one call per request, no coalescing of reads; the runtime's own ceiling for orders)")
    return figures


if __name__ == "__main__":
    main()
