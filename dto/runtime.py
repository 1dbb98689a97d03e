"""Building a runtime from a validated config: the composition root's one place that reads files.

The replay's bars and the risk model's daily history are loaded here, by the command line, from paths in the config
file the user wrote; no actor and no API call ever chooses a path. `start_runtime` creates the supervisor actor and
starts it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from trading.backtest.runner import BacktestSpec, build_instrument
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.errors import ConfigError, DataError
from trading.live.config import RiskModelConfig, RuntimeConfig
from trading.model.identifiers import InstrumentId
from trading.sim.sessions import NS_PER_MINUTE, infer_bar_interval

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "configs" / "demo.yaml"


def runtime_spec(
    config: RuntimeConfig,
    *,
    namespace: str,
    run_id: str,
    database_url: str | None = None,
    redis_url: str | None = None,
    detached: bool = False,
    max_restarts: int = 3,
) -> Any:
    """A `RuntimeSpec` for `config`: the replay's bars and instrument resolved (paper brokers)."""
    from actors.runtime import RuntimeSpec

    extra: dict[str, Any] = {}
    replay = config.replay
    if replay is not None:
        path = Path(replay.data)
        if not path.is_absolute():
            path = ROOT / path
        if not path.exists():
            raise ConfigError(f"replay.data: no such file {replay.data}", key="replay.data")
        instrument_id = InstrumentId.parse(replay.instrument)
        size = max((s.size for s in config.strategies), default=Decimal(1))
        spec = BacktestSpec(
            data=str(path), strategy="sma_cross", symbol=instrument_id.symbol, venue=instrument_id.venue,
            timezone=replay.timezone, session=replay.session, fill=replay.fill,
            commission_per_unit=replay.commission_per_unit, size=size,
        )
        series = load_bars(path, tz=replay.timezone)
        paper = [b for b in config.brokers if b.kind == "paper"]
        currency = paper[0].currency if paper else "USD"
        spec = BacktestSpec(**{**spec.__dict__, "currency": currency})
        extra = {
            "replay_instrument": build_instrument(spec, series),
            "replay_series": series,
            "sim": spec.sim_config(),
            "bar_interval_ns": infer_bar_interval(series.ts) if len(series) >= 2 else NS_PER_MINUTE,
        }
    if config.risk_model is not None:
        extra["risk_model"] = risk_model(config.risk_model)
    return RuntimeSpec(
        config=config, namespace=namespace, run_id=run_id, database_url=database_url, redis_url=redis_url,
        detached=detached, max_restarts=max_restarts, **extra,
    )


def risk_model(config: RiskModelConfig) -> Any:
    """The risk actor's `RiskModel`: the daily history files the config names, loaded (errors name the key)."""
    from trading.risk.portfolio import RiskModel

    def daily(file: str, key: str) -> BarSeries:
        path = Path(file)
        path = path if path.is_absolute() else ROOT / path
        try:
            return load_bars(path, on_bad_rows=config.on_bad_rows)
        except (DataError, OSError) as exc:
            raise ConfigError(f"{key}: {exc}", key=key) from None

    history = {i: daily(f, f"risk_model.history.{i}") for i, f in config.history.items()}
    benchmark = daily(config.benchmark, "risk_model.benchmark") if config.benchmark is not None else None
    return RiskModel(history, config.method, config.confidence, config.horizon, benchmark, config.every_s)


def start_runtime(spec: Any) -> Any:
    """Create the named supervisor in the spec's namespace and start every actor; returns its handle."""
    import ray

    from actors import ORCHESTRATOR, actor_options
    from actors.runtime import RuntimeActor

    options = actor_options(ORCHESTRATOR, spec.namespace, detached=spec.detached, max_restarts=0)
    runtime = RuntimeActor.options(**options).remote(spec)  # type: ignore[attr-defined]
    ray.get(runtime.start.remote())
    return runtime
