"""`dto run`: the whole system on embedded defaults, in one process tree.

Local Ray, DTO_HOME's embedded PostgreSQL and Redis (or DATABASE_URL / REDIS_URL), the runtime's actors (via
the orchestrator; events published to Redis for the gateway's stream), the research actor (backtests and
sweeps submitted through the API), the paper broker replaying a shipped real intraday session with built-in
strategies, and the gateway on Ray Serve. Prints the URL, the docs, and an admin API key for this session
(revoked at exit). Ctrl-C or SIGTERM stops what this command started, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading.backtest.runner import BacktestSpec, build_instrument
from trading.config import dto_home, external_urls
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.sim.sessions import infer_bar_interval

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "data" / "mplfinance" / "SP500_NOV2019_IDayRVol.csv"
NEW_YORK = "America/New_York"
DEFAULT_STRATEGIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("opening_range_breakout", {"timezone": NEW_YORK, "allow_short": True, "exit_time": "15:30"}),
    ("sma_cross", {}),
    ("rsi_reversion", {}),
)


def runtime_spec(
    data: Path = DEFAULT_DATA,
    *,
    namespace: str = "dto",
    symbol: str = "SPX",
    cash: Decimal = Decimal(1_000_000),
    strategies: Sequence[tuple[str, dict[str, Any]]] = DEFAULT_STRATEGIES,
    redis_url: str | None = None,
    database_url: str | None = None,
    run_id: str = "live",
) -> tuple[Any, BarSeries]:
    """The paper runtime over one intraday file (session 09:30-16:00 New York) and its bars. With a `redis_url`
    the order manager publishes every event to Redis (the gateway's live stream) and the kill switch lives
    there; with a `database_url` the order manager and the broker journal to PostgreSQL (streams named by
    `run_id`), so every actor can restart without losing an order."""
    from actors.orchestrator import RuntimeSpec, StrategySpec

    spec = BacktestSpec(
        data=str(data), strategy="sma_cross", symbol=symbol, venue="PAPER", timezone=NEW_YORK, session="09:30-16:00"
    )
    series = load_bars(data, tz=NEW_YORK)
    instrument = build_instrument(spec, series)
    runtime = RuntimeSpec(
        instrument=instrument,
        strategies=[StrategySpec(name, {"size": 1, **params}) for name, params in strategies],
        starting_cash=cash,
        sim=spec.sim_config(),
        bar_interval_ns=infer_bar_interval(series.ts),
        namespace=namespace,
        max_restarts=3,
        redis_url=redis_url,
        database_url=database_url,
        run_id=run_id,
    )
    return runtime, series


async def admin_key(database_url: str) -> tuple[str, str]:
    """A new admin API key (migrating the database first): (the key, its id)."""
    from trading.auth import create_key
    from trading.storage import ApiKeyStore, migrate, open_pool

    pool = await open_pool(database_url)
    try:
        await migrate(pool)
        key, row = await create_key(ApiKeyStore(pool), ["admin"], "dto-run")
        return key, str(row.key_id)
    finally:
        await pool.close()


async def _revoke(database_url: str, key_id: str) -> None:
    from trading.storage import ApiKeyStore, open_pool

    pool = await open_pool(database_url)
    try:
        await ApiKeyStore(pool).revoke(key_id)
    finally:
        await pool.close()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dto run", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="gateway port (default 8000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="intraday bars to replay (CSV)")
    parser.add_argument("--speed", default="60x", help="replay speed: Nx, realtime or max (default 60x)")
    parser.add_argument("--rate-limit", type=int, default=100, help="requests per second per API key")
    parser.add_argument(
        "--ingress",
        choices=["haproxy", "proxy"],
        default="haproxy",
        help="how HTTP reaches the gateway: Serve's HAProxy ingress (default, fast) or Serve's Python proxy",
    )
    parser.add_argument("--replicas", type=int, default=1, help="gateway replicas (default 1; 2 on 2+ cores is faster)")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every gateway request in Serve's replica logs (off: /metrics counts requests per route and status)",
    )
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if not args.data.exists():
        print(f"dto run: error: no such file {args.data}", file=sys.stderr)
        return 2
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    def catch_signals() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)

    catch_signals()

    from trading.storage import start_storage

    home = dto_home()
    database_url, redis_url = external_urls()
    servers = start_storage(home, database_url=database_url, redis_url=redis_url)
    key_id = ""
    ray_started = False
    orchestrator: Any = None
    research: Any = None
    ingress_env: dict[str, str] = {}
    serve_started = False
    try:
        key, key_id = asyncio.run(admin_key(servers.database_url))
        import ray
        from ray import serve

        from actors import ORCHESTRATOR, actor_options
        from actors.orchestrator import OrchestratorActor
        from actors.research import RESEARCH, ResearchActor
        from serve_apps.gateway import build
        from serve_apps.ingress import ingress_environment, remove_ingress_files

        namespace = f"dto-run-{uuid.uuid4().hex[:6]}"
        ingress_env = ingress_environment(args.ingress)
        os.environ.update(ingress_env)  # before ray.init starts Serve's processes
        ray.init(address="local", include_dashboard=False, log_to_driver=False, namespace=namespace)
        ray_started = True
        # Durable: the orders, fills and positions of this session are in PostgreSQL (streams of this run's own
        # id, so a later `dto run` starts a fresh paper session), and a restarted actor rebuilds from them.
        runtime, series = runtime_spec(
            args.data, namespace=namespace, redis_url=servers.redis_url, database_url=servers.database_url,
            run_id=namespace,
        )
        orchestrator = OrchestratorActor.options(  # type: ignore[attr-defined]
            name=ORCHESTRATOR, namespace=namespace, num_cpus=0
        ).remote(runtime)
        ray.get(orchestrator.start.remote())
        research = ResearchActor.options(**actor_options(RESEARCH, namespace)).remote(  # type: ignore[attr-defined]
            servers.database_url
        )
        replay = orchestrator.replay.remote(series, 1, args.speed)
        serve.start(http_options={"host": args.host, "port": args.port})
        serve_started = True
        settings = {
            "namespace": namespace,
            "database_url": servers.database_url,
            "redis_url": servers.redis_url,
            "rate_limit": args.rate_limit,
        }
        serve.run(
            build(settings, num_replicas=args.replicas, access_log=args.access_log), name="gateway", route_prefix="/"
        )
        catch_signals()  # ray.init put in its own SIGTERM handler (exit at once); stop cleanly instead
        url = f"http://{args.host}:{args.port}"
        print(f"gateway   {url}  (docs {url}/docs, health {url}/health)", flush=True)
        print(f"admin key {key}  (this session only; revoked at exit)", flush=True)
        print(f"replaying {args.data.name} ({len(series)} bars at {args.speed}) for {runtime.instrument.id}; "
              f"strategies: {', '.join(s.strategy for s in runtime.strategies)}", flush=True)
        print(f'try: curl -H "X-API-Key: {key}" {url}/v1/positions   (Ctrl-C stops)', flush=True)
        while not stop.wait(1.0):
            ready, _ = ray.wait([replay], timeout=0)
            if ready:
                print("replay finished; the gateway stays up (Ctrl-C stops)", flush=True)
                replay = None
                break
        stop.wait()
        return 0
    finally:
        print("stopping ...", flush=True)
        if serve_started:
            from ray import serve

            serve.shutdown()  # type: ignore[no-untyped-call]
        if orchestrator is not None:
            import ray

            ray.get(orchestrator.shutdown.remote())
            ray.kill(orchestrator)
        if research is not None:
            import ray

            ray.kill(research, no_restart=True)
        if ray_started:
            import ray

            ray.shutdown()
        if key_id:
            asyncio.run(_revoke(servers.database_url, key_id))
        servers.stop()
        if ingress_env:
            from serve_apps.ingress import remove_ingress_files

            remove_ingress_files(ingress_env)
        print("stopped", flush=True)
