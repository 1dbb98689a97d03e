"""Gateway throughput and latency: an authenticated GET /v1/positions and order submission at 32 concurrent
clients (closed loop, a bounded number of requests), through Ray Serve and through the same app under plain
uvicorn in its own process, against one real runtime (actors, PostgreSQL, Redis; the order manager's journal in
memory, so the rounds measure the gateway), and then the order manager alone, called directly, in memory and
durable as `dto run` runs it (every order journaled to PostgreSQL before it is answered).

    .venv/bin/python -m benchmarks.gateway

The load generator is a raw asyncio HTTP/1.1 client on keep-alive connections: on these 2 cores httpx's
AsyncClient costs about 3 ms of CPU per request at 32 concurrent requests (it capped a trivial server at
~290 req/s), and that CPU was taken from the server under test. This client costs about 50 us per request.
In a closed loop, mean latency = clients / throughput, so p99 < 50 ms at 32 clients needs > 640 req/s.

Serve runs with HAProxy ingress, as `dto run` does (see serve_apps/ingress.py), and one replica, like the one
uvicorn process; `DTO_SERVE_INGRESS=proxy` measures Serve's Python proxy instead, `DTO_BENCH_REPLICAS=2` two
replicas. Each measurement first runs WARMUP requests of the same kind at full concurrency, untimed. Ray's
workers run at the same CPU priority as the uvicorn process (Ray's default would nice them to 15). Each row
also shows the CPU milliseconds per request of each process on the path and how many CPUs the rest of the
machine kept busy meanwhile (the machines are shared: a p99 means little without it).
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
GETS = 5000
ORDERS = 5000  # 4-6 s per round: a p99 over 2,000 orders (under 2 s) moved more from run to run
ROUNDS = 2
WARMUP = 500  # requests per measurement, at full concurrency, before the timing starts
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


PROCESS_ROLES = {
    "ServeReplica:gateway": "gateway",
    "haproxy": "haproxy",
    "OrderManagerActor": "order_manager",
    "BrokerActor": "broker",
    "postgres": "database",
}
ROLES = ("gateway", "haproxy", "order_manager", "broker", "database", "client")


class CpuMeter:
    """CPU seconds spent by each role in the request path (the gateway process(es), HAProxy, the order
    manager, the broker, PostgreSQL, this load generator), by the rest of this process tree (Ray's own
    processes, Redis) and by the rest of the machine, over a timed phase: where the time goes."""

    def __init__(self, uvicorn_pid: int | None = None) -> None:
        """`uvicorn_pid`: the gateway is that process (Serve's idle replicas are not counted), else Serve's."""
        import psutil

        self._psutil = psutil
        self.uvicorn_pid = uvicorn_pid

    def _role(self, process: Any) -> str | None:
        if process.pid == self.uvicorn_pid:
            return "gateway"
        command = " ".join(process.cmdline()[:1])
        role = next((role for marker, role in PROCESS_ROLES.items() if marker in command), None)
        return None if role == "gateway" and self.uvicorn_pid is not None else role

    def sample(self) -> dict[str, float]:
        psutil = self._psutil
        me = psutil.Process()
        seconds = dict.fromkeys((*ROLES, "tree"), 0.0)
        for process in [me, *me.children(recursive=True)]:
            try:
                cpu = process.cpu_times()
                role = "client" if process.pid == me.pid else self._role(process)
            except psutil.Error:
                continue
            seconds["tree"] += cpu.user + cpu.system
            if role is not None:
                seconds[role] += cpu.user + cpu.system
        busy = psutil.cpu_times()
        seconds["machine"] = sum(getattr(busy, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
        return seconds


async def _load(port: int, key: str, total: int, order: bool, meter: CpuMeter) -> dict[str, float]:
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

    async def closed_loop(first: int, count: int) -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        counter = iter(range(first, first + count))

        async def client_loop(slot: int) -> None:
            nonlocal errors
            for i in counter:
                started = time.perf_counter()
                try:
                    ok = await one(connections[slot], i)
                except (ConnectionError, asyncio.IncompleteReadError):
                    # e.g. HAProxy reloading its configuration as a second replica joins: an error, not a crash
                    ok = False
                    connections[slot].close()
                    connections[slot] = await Connection.open("127.0.0.1", port, key)
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(client_loop(slot) for slot in range(CLIENTS)))
        return latencies, errors, time.perf_counter() - started

    try:
        # The same load, untimed, first: connections, caches, code paths and the server's steady state warm.
        await closed_loop(total, WARMUP)
        before = meter.sample()
        latencies, errors, elapsed = await closed_loop(0, total)
        spent = {k: v - before[k] for k, v in meter.sample().items()}
    finally:
        for connection in connections:
            connection.close()
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": float(errors),
        **{f"cpu_ms_{role}": spent[role] / len(latencies) * 1000 for role in ROLES},
        "cpu_ms_rest": (spent["tree"] - sum(spent[role] for role in ROLES)) / len(latencies) * 1000,
        "other_cpus": max(0.0, spent["machine"] - spent["tree"]) / elapsed,
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

    from actors.tuning import tune_gc
    from serve_apps.app import build_app
    from serve_apps.settings import GatewaySettings

    config = json.loads(os.environ[SETTINGS_ENV])
    ray.init(address=config["ray_address"], log_to_driver=False)
    app = build_app(GatewaySettings(**config["settings"]))
    tune_gc()  # as the Serve replica does: the same process settings on both sides
    uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning")


def _spec(namespace: str, database_url: str | None, redis_url: str) -> tuple[Any, Any]:
    """The demo's paper runtime with its first two strategies; the benchmark hands out the bars itself."""
    import dataclasses

    from dto.runtime import DEMO_CONFIG, runtime_spec
    from trading.live.config import load_runtime_config

    config = load_runtime_config(DEMO_CONFIG)
    config = config.model_copy(update={"strategies": config.strategies[:2]})
    spec = runtime_spec(config, namespace=namespace, run_id=namespace, database_url=database_url,
                        redis_url=redis_url)
    return dataclasses.replace(spec, replay_series=None), spec.replay_series


def main() -> dict[str, float]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    from actors import MARKET_DATA
    from dto.run import admin_key
    from dto.runtime import start_runtime
    from serve_apps.gateway import build
    from serve_apps.ingress import ingress_environment, remove_ingress_files
    from trading.storage import start_storage

    home = Path(tempfile.mkdtemp(prefix="dto-bench-gw-"))
    servers = start_storage(home)
    ingress = os.environ.get("DTO_SERVE_INGRESS", "haproxy")
    replicas = int(os.environ.get("DTO_BENCH_REPLICAS", "1"))  # one, like the one uvicorn process
    ingress_env = ingress_environment("proxy" if ingress == "proxy" else "haproxy")
    os.environ.update(ingress_env)
    # Ray starts its workers (Serve's replica, the actors) at nice 15, while the uvicorn process and this load
    # generator run at 0: on a busy machine Serve would be measured at a lower CPU priority than its peer.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    # The order manager keeps its journal in memory here, so the rounds measure the gateway (Serve against
    # uvicorn) and not the database; the durable runtime `dto run` starts is measured after them (`actors`).
    spec, series = _spec(namespace, None, servers.redis_url)
    orchestrator: Any = None
    uvicorn_process: subprocess.Popen[bytes] | None = None
    try:
        key, _ = asyncio.run(admin_key(servers.database_url))  # migrates the database: before the runtime starts
        orchestrator = start_runtime(spec)
        market_data = ray.get_actor(MARKET_DATA, namespace=namespace)
        ray.get(market_data.publish.remote(spec.replay_instrument.id, [series.bar(i) for i in range(60)]))
        settings = {"namespace": namespace, "database_url": servers.database_url, "redis_url": servers.redis_url,
                    "rate_limit": 1_000_000, "jwt_secret": "bench-" + "0" * 32}
        port, uv_port = free_port(), free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build(settings, num_replicas=replicas), name="gateway", route_prefix="/")
        child = {"ray_address": ray.get_runtime_context().gcs_address, "settings": settings, "port": uv_port}
        uvicorn_process = subprocess.Popen(
            [sys.executable, "-c", "from benchmarks.gateway import serve_on_uvicorn; serve_on_uvicorn()"],
            env={**os.environ, SETTINGS_ENV: json.dumps(child)},
        )
        _wait_for_port(uv_port, uvicorn_process)
        for p in (port, uv_port):
            asyncio.run(_until_serving(p, key))
        # Serve and uvicorn measured back to back, alternating, and repeated: the machines are shared, and load
        # from elsewhere that comes and goes would otherwise favour whichever ran in the quieter minute.
        meters = {"serve": (port, CpuMeter()), "uvicorn": (uv_port, CpuMeter(uvicorn_process.pid))}
        rounds: list[dict[str, dict[str, dict[str, float]]]] = []
        for _ in range(ROUNDS):
            measured: dict[str, dict[str, dict[str, float]]] = {"serve": {}, "uvicorn": {}}
            for what, total, order in (("positions", GETS, False), ("orders", ORDERS, True)):
                for where, (p, meter) in meters.items():
                    measured[where][what] = asyncio.run(_load(p, key, total, order, meter))
            rounds.append(measured)
        serve.shutdown()
        on_actors = {
            "positions": asyncio.run(_direct(namespace, spec.replay_instrument.id, GETS, order=False)),
            "orders": asyncio.run(_direct(namespace, spec.replay_instrument.id, ORDERS, order=True)),
        }
        ray.get(orchestrator.shutdown.remote())
        durable_namespace = f"{namespace}-durable"
        ray.kill(orchestrator)
        durable_spec, _ = _spec(durable_namespace, servers.database_url, servers.redis_url)
        orchestrator = start_runtime(durable_spec)
        durable_market = ray.get_actor(MARKET_DATA, namespace=durable_namespace)
        ray.get(durable_market.publish.remote(spec.replay_instrument.id, [series.bar(i) for i in range(60)]))
        on_actors["durable orders"] = asyncio.run(
            _direct(durable_namespace, spec.replay_instrument.id, ORDERS, order=True)
        )
    finally:
        if uvicorn_process is not None:
            uvicorn_process.terminate()
            uvicorn_process.wait(30)
        if orchestrator is not None:
            ray.get(orchestrator.shutdown.remote())
            ray.kill(orchestrator)
        ray.shutdown()
        servers.stop()
        remove_ingress_files(ingress_env)
    figures: dict[str, float] = {}
    print(f"gateway at {CLIENTS} concurrent clients ({GETS} GETs, {ORDERS} orders per server and round; Serve: "
          f"{ingress} ingress, {replicas} replica(s); uvicorn: 1 process; {ROUNDS} rounds, alternating)")
    for n, measured in enumerate([*rounds, {"actors": on_actors}]):
        for where, result in measured.items():
            for what, numbers in result.items():
                label = f"{where} {n + 1}" if where != "actors" else where
                print(f"  {label:9} {what:14} {numbers['rps']:8.0f} req/s  p50 {numbers['p50_ms']:6.1f} ms  "
                      f"p99 {numbers['p99_ms']:6.1f} ms  errors {numbers['errors']:.0f}")
                if "other_cpus" in numbers:
                    print(f"  {'':19} CPU ms/request: gateway {numbers['cpu_ms_gateway']:.2f}, haproxy "
                          f"{numbers['cpu_ms_haproxy']:.2f}, order manager {numbers['cpu_ms_order_manager']:.2f}, "
                          f"broker {numbers['cpu_ms_broker']:.2f}, PostgreSQL {numbers['cpu_ms_database']:.2f}, "
                          f"rest of Ray/Redis {numbers['cpu_ms_rest']:.2f}, client {numbers['cpu_ms_client']:.2f}; "
                          f"other load {numbers['other_cpus']:.1f} CPUs")
    for where in ("serve", "uvicorn"):
        for what in ("positions", "orders"):
            for name in rounds[0][where][what]:
                figures[f"{where}_{what}_{name}"] = statistics.median(r[where][what][name] for r in rounds)
    for what, numbers in on_actors.items():
        for name, value in numbers.items():
            figures[f"actors_{what}_{name}"] = value
    for what in ("positions", "orders"):
        ratios = [r["serve"][what]["rps"] / r["uvicorn"][what]["rps"] for r in rounds]
        figures[f"{what}_serve_over_uvicorn"] = statistics.median(ratios)
        print(f"  {what}: serve/uvicorn throughput per round {', '.join(f'{x:.2f}' for x in ratios)}")
    print("  (actors: the order manager called directly from the benchmark process, no HTTP and no gateway:\n"
          "   one call per request, no coalescing of reads; the runtime's own ceiling for orders. Durable orders:\n"
          "   the same against the runtime `dto run` starts, journal and rows in PostgreSQL, one commit per group)")
    return figures


if __name__ == "__main__":
    main()
