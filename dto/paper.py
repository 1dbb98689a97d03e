"""`dto paper`: paper-trade a strategy on a data file through the live runtime (Ray actors, paper broker).

Starts what it needs and stops only what it started: a local Ray (unless this process already joined one),
the storage servers of DTO_HOME (unless DATABASE_URL / REDIS_URL name external ones), then the runtime's
actors. The file is replayed through the market-data actor; at the end the fills, positions and the final
account are printed (with --json one object shaped like `dto backtest --json`). With the same options and
fills the result equals the backtest's. `--run NAME` names the run's journal: starting again with the same
name resumes it (orders, positions and P&L come back from PostgreSQL; the replay skips what was done).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from dto.cli import EXIT_USAGE, add_run_options, parse_params, spec_from_args
from trading.errors import ConfigError, TradingError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dto paper", description="paper-trade a strategy on a replayed data file")
    parser.add_argument("--data", required=True, help="bars file (CSV, freqtrade JSON, Parquet)")
    parser.add_argument("--strategy", required=True, help="built-in name (see `dto strategies`) or module:Class")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="strategy parameter")
    add_run_options(parser)
    parser.add_argument("--speed", default="max", help="replay speed: max (default), realtime or Nx (e.g. 60x)")
    parser.add_argument("--batch", type=int, default=100, help="bars per market-data batch (default 100)")
    parser.add_argument("--run", default=None, help="run name: the same name resumes a run (default: a new run)")
    parser.add_argument("--no-storage", action="store_true", help="keep state in memory only (no PostgreSQL/Redis)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    try:
        result = run_paper(args)
    except (TradingError, ValueError, OSError) as exc:
        print(f"dto paper: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(paper_report(result))
    return 0


def resolve_id(strategy: str) -> str:
    """The id a paper run's strategy trades under: its name (the part after ':' of an import path)."""
    return strategy.rpartition(":")[2][:24] or "strategy"


def run_paper(args: argparse.Namespace) -> dict[str, Any]:
    from strategies import resolve_strategy
    from trading.backtest.runner import build_instrument
    from trading.config import dto_home, external_urls
    from trading.data.loaders import load_bars
    from trading.live.market_data import parse_speed
    from trading.sim.sessions import infer_bar_interval
    from trading.strategy import build_config

    params = parse_params(args.param)
    spec = spec_from_args(args, args.data, args.strategy, params)
    if spec.flatten_at_close:
        raise ConfigError("--flatten-at-close is not supported by paper trading yet", key="flatten_at_close")
    if args.batch < 1:
        raise ConfigError(f"--batch must be at least 1, got {args.batch}", key="batch")
    parse_speed(args.speed)
    strategy_class = resolve_strategy(args.strategy)
    series = load_bars(Path(spec.data), tz=spec.timezone, on_bad_rows=spec.on_bad_rows)
    instrument = build_instrument(spec, series)
    strategy_params = {"size": spec.size, **spec.params}
    build_config(strategy_class, {"instrument_id": str(instrument.id), **strategy_params})  # fail before starting
    sim = spec.sim_config()
    interval = infer_bar_interval(series.ts) if len(series) >= 2 else None
    run_id = args.run or f"paper-{uuid.uuid4().hex[:10]}"

    servers = None
    database_url = redis_url = None
    if not args.no_storage:
        from trading.storage import migrate, open_pool, start_storage

        env_db, env_redis = external_urls()
        servers = start_storage(dto_home(), database_url=env_db, redis_url=env_redis)
        database_url, redis_url = servers.database_url, servers.redis_url
        asyncio.run(_migrate(database_url, open_pool, migrate))
    try:
        return _run_on_ray(
            args, spec, strategy_params, instrument, sim, interval, series, run_id, database_url, redis_url
        )
    finally:
        if servers is not None:
            servers.stop()


async def _migrate(database_url: str, open_pool: Any, migrate: Any) -> None:
    pool = await open_pool(database_url)
    try:
        await migrate(pool)
    finally:
        await pool.close()


def _run_on_ray(
    args: argparse.Namespace,
    spec: Any,
    strategy_params: dict[str, Any],
    instrument: Any,
    sim: Any,
    interval: int | None,
    series: Any,
    run_id: str,
    database_url: str | None,
    redis_url: str | None,
) -> dict[str, Any]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from actors import ORDER_MANAGER, broker_name
    from actors.runtime import RuntimeActor, RuntimeSpec
    from trading.backtest.engine import fill_row
    from trading.live.config import parse_runtime_config

    started_ray = False
    if not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False, num_cpus=max(4, os.cpu_count() or 1))
        started_ray = True
    namespace = f"paper-{uuid.uuid4().hex[:8]}"
    config = parse_runtime_config({
        "brokers": [{"name": "paper", "kind": "paper", "cash": str(spec.cash), "currency": instrument.currency}],
        "replay": {"data": spec.data, "instrument": str(instrument.id), "speed": args.speed},
        "strategies": [{"id": resolve_id(spec.strategy), "strategy": spec.strategy, "params": spec.params,
                        "instrument": str(instrument.id), "broker": "paper", "size": str(spec.size)}],
    })
    runtime = RuntimeSpec(
        config=config, namespace=namespace, run_id=run_id, database_url=database_url, redis_url=redis_url,
        replay_instrument=instrument, replay_series=series, sim=sim, bar_interval_ns=interval or 60_000_000_000,
    )
    orchestrator = RuntimeActor.options(namespace=namespace, num_cpus=0).remote(runtime)  # type: ignore[attr-defined]
    try:
        began = time.perf_counter()
        ray.get(orchestrator.start.remote())
        ray.get(orchestrator.wait_replay.remote())
        elapsed = time.perf_counter() - began
        broker = ray.get_actor(broker_name("paper"), namespace=namespace)
        oms = ray.get_actor(ORDER_MANAGER, namespace=namespace)
        fills: list[Any] = ray.get(broker.fills.remote())
        account = ray.get(broker.account.remote())
        positions = ray.get(broker.positions.remote())
        snapshot = ray.get(oms.snapshot.remote())
    finally:
        try:
            ray.get(orchestrator.shutdown.remote())
            ray.kill(orchestrator, no_restart=True)
        finally:
            if started_ray:
                ray.shutdown()
    position = sum((p.quantity for p in positions if p.instrument_id == instrument.id), Decimal(0))
    return {
        "mode": "paper",
        "run": run_id,
        "strategy": spec.strategy,
        "instrument_id": str(instrument.id),
        "params": {k: str(v) if isinstance(v, Decimal) else v for k, v in strategy_params.items()},
        "final_value": str(account.equity),
        "cash": str(account.cash),
        "position": str(position),
        "currency": account.currency,
        "bars": len(series),
        "elapsed_s": round(elapsed, 6),
        "bars_per_s": round(len(series) / elapsed, 1) if elapsed > 0 else 0.0,
        "fills": [fill_row(f) for f in fills],
        "positions": [
            {
                "instrument_id": str(p.instrument_id),
                "quantity": str(p.quantity),
                "avg_price": str(p.avg_price),
                "unrealized_pnl": None if p.unrealized_pnl is None else str(p.unrealized_pnl),
            }
            for p in positions
        ],
        "orders": len(snapshot["orders"]),
        "denied": [o for o in snapshot["orders"] if o.get("status") == "denied"],
        "pnl": snapshot["pnl"],
        "storage": "postgresql+redis" if database_url else "memory",
    }


def paper_report(result: dict[str, Any], max_fills: int = 30) -> str:
    lines = [
        f"Paper  {result['strategy']} on {result['instrument_id']}  run {result['run']}  ({result['storage']})",
        f"Bars {result['bars']:,} replayed in {result['elapsed_s']:.3f} s ({result['bars_per_s']:,.0f} bars/s)",
        f"Final value {Decimal(result['final_value']):,.2f} {result['currency']}   "
        f"cash {Decimal(result['cash']):,.2f}   position {result['position']}",
        f"Orders {result['orders']}   denied {len(result['denied'])}   P&L {result['pnl']}",
        f"Fills ({len(result['fills'])}):",
    ]
    for fill in result["fills"][:max_fills]:
        lines.append(
            f"  {fill['time'][:16]}  {fill['side']:<4} {fill['quantity']:>10} @ {fill['price']:>12}  "
            f"fee {fill['commission']}"
        )
    if len(result["fills"]) > max_fills:
        lines.append(f"  ... {len(result['fills']) - max_fills} more (use --json for all)")
    lines.append("Positions:" if result["positions"] else "Positions: none")
    for p in result["positions"]:
        lines.append(f"  {p['instrument_id']}  {p['quantity']} @ {p['avg_price']}")
    return "\n".join(lines)
