"""One real runtime for the gateway tests: local Ray, real PostgreSQL and Redis in a temporary home, the
actors with two strategies on the S&P 500 minute bars and two paper accounts (driven bar by bar by the tests,
events published to Redis), the research actor, API keys per scope, and one real Serve deployment of the gateway
on a free port."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading.storage import StorageServers, start_storage

JWT_SECRET = "test-secret-" + uuid.uuid4().hex
SECOND_BROKER = "paper2"


@dataclass
class Runtime:
    namespace: str
    orchestrator: Any
    research: Any
    series: Any
    instrument_id: str
    cursor: int = 0

    @property
    def client(self) -> Any:
        """A `RuntimeClient` for this runtime (typed calls to its actors)."""
        from actors.client import RuntimeClient

        return RuntimeClient(self.namespace)

    def advance(self, n: int = 1) -> None:
        """Publish the next `n` bars (the strategies step, the broker matches)."""
        bars = [self.series.bar(i) for i in range(self.cursor, self.cursor + n)]
        asyncio.run(self.client.publish_bars(_iid(self), bars))
        self.cursor += n


def _iid(runtime: Runtime) -> Any:
    from trading.model.identifiers import InstrumentId

    return InstrumentId.parse(runtime.instrument_id)


@dataclass
class Storage:
    home: Path
    redis: StorageServers
    postgres: StorageServers

    @property
    def database_url(self) -> str:
        return self.postgres.database_url


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    from serve_apps.ingress import ingress_environment, remove_ingress_files

    started = False
    environment: dict[str, str] = {}
    if not ray.is_initialized():  # else another suite's cluster, with Serve's Python proxy: both must work
        ingress = "proxy" if os.environ.get("DTO_SERVE_INGRESS") == "proxy" else "haproxy"  # dto run's default
        environment = ingress_environment(ingress)
        os.environ.update(environment)
        ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
        started = True
    yield
    if started:
        ray.shutdown()
        for name in environment:
            os.environ.pop(name, None)
        remove_ingress_files(environment)


@pytest.fixture(scope="session")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    """Redis and PostgreSQL started separately, so a test can stop PostgreSQL alone."""
    home = tmp_path_factory.mktemp("gateway_home")
    redis = start_storage(home, database_url="postgresql://unused")
    postgres = start_storage(home, redis_url=redis.redis_url)
    yield Storage(home, redis, postgres)
    postgres.stop()
    redis.stop()


async def _keys(database_url: str) -> dict[str, str]:
    from trading.auth import create_key
    from trading.storage import ApiKeyStore, migrate, open_pool

    pool = await open_pool(database_url)
    try:
        await migrate(pool)
        store = ApiKeyStore(pool)
        keys = {}
        for name, scope in {"read": "read", "trade": "trade", "admin": "admin", "limited": "read"}.items():
            keys[name], _ = await create_key(store, [scope], "tests")
        return keys
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def keys(storage: Storage) -> dict[str, str]:
    return asyncio.run(_keys(storage.database_url))


@pytest.fixture(scope="session")
def runtime(ray_session: None, storage: Storage, keys: dict[str, str]) -> Iterator[Runtime]:
    import ray

    from actors import actor_options
    from actors.research import RESEARCH, ResearchActor
    from dto.runtime import DEMO_CONFIG, runtime_spec, start_runtime
    from trading.live.config import BrokerConfig, load_runtime_config

    namespace = f"gw-{uuid.uuid4().hex[:8]}"
    config = load_runtime_config(DEMO_CONFIG)
    # A second paper account, for the per-broker views: the strategies trade on "paper", tests by hand on both.
    second = BrokerConfig(name=SECOND_BROKER, kind="paper", cash=Decimal(50_000))
    config = config.model_copy(update={"strategies": config.strategies[:2], "brokers": [*config.brokers, second]})
    spec = runtime_spec(config, namespace=namespace, run_id=namespace, redis_url=storage.redis.redis_url)
    series = spec.replay_series
    # The tests hand out bars themselves (`Runtime.advance`), through the same market-data path as a replay.
    runtime_handle = start_runtime(dataclasses.replace(spec, replay_series=None))
    research = ResearchActor.options(**actor_options(RESEARCH, namespace)).remote(  # type: ignore[attr-defined]
        storage.database_url
    )
    rt = Runtime(namespace, runtime_handle, research, series, str(spec.replay_instrument.id))
    rt.advance(60)
    yield rt
    ray.get(runtime_handle.shutdown.remote())
    ray.kill(runtime_handle)
    ray.kill(research, no_restart=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The test that stops PostgreSQL for the rest of the session runs last."""
    items.sort(key=lambda item: item.name == "test_readiness_turns_false_when_postgres_stops")


def settings_for(runtime: Runtime, storage: Storage, **extra: Any) -> dict[str, Any]:
    return {
        "namespace": runtime.namespace,
        "database_url": storage.postgres.database_url,
        "redis_url": storage.redis.redis_url,
        "jwt_secret": JWT_SECRET,
        "redis_namespace": f"gw-{uuid.uuid4().hex[:6]}",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def gateway_url(runtime: Runtime, storage: Storage) -> Iterator[str]:
    """The gateway deployed with a real `serve.run` (rate limit: 40 requests per 2 s per key)."""
    from ray import serve

    from serve_apps.gateway import build

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build(settings_for(runtime, storage, rate_limit=40, rate_window_s=2.0)), name="gateway", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield url
    serve.shutdown()
