"""`dto run [--config FILE]`: the runtime a config file declares, and the gateway, in one process tree.

Local Ray (or `--address` to join a cluster), DTO_HOME's embedded PostgreSQL and Redis (or DATABASE_URL /
REDIS_URL), the runtime's actors from the config (brokers, strategies, risk; events published to Redis for the
gateway's stream), the research actor (backtests and sweeps submitted through the API), and the gateway on Ray
Serve. Without `--config`, `configs/demo.yaml`: a paper account replaying a real S&P 500 session. Prints the
URL, the docs, and an admin API key for this session (revoked at exit). Ctrl-C or SIGTERM stops what this
command started, and nothing else.
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
from pathlib import Path
from typing import Any

from trading.config import dto_home, external_urls


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


def start_ray(address: str | None, namespace: str, dashboard_host: str | None = None) -> None:
    """Join `address`, or start a local Ray with token authentication on; its dashboard (and job API) only when
    `dashboard_host` is given."""
    import ray

    from pipelines.cluster import use_token_auth

    use_token_auth(joining=bool(address))
    if address:
        ray.init(address=address, namespace=namespace, log_to_driver=False)
    elif dashboard_host:
        ray.init(address="local", include_dashboard=True, dashboard_host=dashboard_host, log_to_driver=False,
                 namespace=namespace)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=False, namespace=namespace)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dto run", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="gateway address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="gateway port (default 8000)")
    parser.add_argument("--config", type=Path, default=None, help="runtime config (default configs/demo.yaml)")
    parser.add_argument("--speed", default=None, help="override the replay's speed: Nx, realtime or max")
    parser.add_argument("--live", action="store_true", help="confirm that brokers with live: true trade real money")
    parser.add_argument("--address", default=None, help="join this Ray cluster (e.g. auto) instead of a local one")
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    parser.add_argument(
        "--dashboard-host",
        default=None,
        help="start Ray's dashboard and job API on this address (127.0.0.1: this machine only); off by default",
    )
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
    from dto.runtime import DEMO_CONFIG
    from trading.errors import ConfigError
    from trading.live.config import load_runtime_config, require_live_confirmation

    args = parse_args(argv)
    try:
        config = load_runtime_config(args.config or DEMO_CONFIG)
        if args.speed is not None and config.replay is not None:
            config = config.model_copy(update={"replay": config.replay.model_copy(update={"speed": args.speed})})
        require_live_confirmation(config, args.live)
    except ConfigError as exc:
        print(f"dto run: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"config ok: {len(config.brokers)} brokers, {len(config.strategies)} strategies")
        return 0
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
    runtime: Any = None
    research: Any = None
    ingress_env: dict[str, str] = {}
    serve_started = False
    try:
        key, key_id = asyncio.run(admin_key(servers.database_url))
        import ray
        from ray import serve

        from actors import actor_options
        from actors.research import RESEARCH, ResearchActor
        from dto.runtime import runtime_spec, start_runtime
        from serve_apps.gateway import build
        from serve_apps.ingress import ingress_environment

        namespace = f"dto-run-{uuid.uuid4().hex[:6]}"
        ingress_env = ingress_environment(args.ingress)
        os.environ.update(ingress_env)  # before ray.init starts Serve's processes
        start_ray(args.address, namespace, args.dashboard_host)
        ray_started = True
        # Durable: the orders, fills and positions of this session are in PostgreSQL (streams of this run's own
        # id, so a later `dto run` starts a fresh paper session), and a restarted actor rebuilds from them.
        spec = runtime_spec(config, namespace=namespace, run_id=namespace, database_url=servers.database_url,
                            redis_url=servers.redis_url)
        runtime = start_runtime(spec)
        research = ResearchActor.options(**actor_options(RESEARCH, namespace)).remote(  # type: ignore[attr-defined]
            servers.database_url
        )
        replay = runtime.wait_replay.remote() if config.replay is not None else None
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
        brokers = ", ".join(f"{b.name} ({b.kind}{', LIVE' if b.live else ''})" for b in config.brokers)
        print(f"brokers   {brokers}; strategies: {', '.join(s.id for s in config.strategies)}", flush=True)
        if config.replay is not None:
            print(f"replaying {config.replay.data} at {config.replay.speed} for {config.replay.instrument}",
                  flush=True)
        print(f'try: curl -H "X-API-Key: {key}" {url}/v1/positions   (Ctrl-C stops)', flush=True)
        while replay is not None and not stop.wait(1.0):
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
        if runtime is not None:
            import ray

            ray.get(runtime.shutdown.remote())
            ray.kill(runtime)
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
