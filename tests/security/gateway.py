"""The gateway app in process with no runtime and no storage behind it: API keys known to the key cache, rate
limits always allowing, and a runtime that records what reaches it. Enough to see a request refused at the door."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_apps.app import build_app, services_of
from serve_apps.settings import GatewaySettings
from trading.auth import hash_key

KEYS = {"read": "dto_read_key", "trade": "dto_trade_key", "admin": "dto_admin_key"}


@dataclass
class RecordingRuntime:
    """Stands in for `RuntimeClient`: records each call that got past the gateway's checks."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **_: Any) -> Any:
            self.calls.append((name, args))
            return {"job_id": "j", "kind": "backtest", "state": "queued", "request": {}, "error": None,
                    "created_at": None, "started_at": None, "finished_at": None}

        return call


class EmptyKeyStore:
    """A key store that knows no key: any key not in the gateway's cache fails authentication."""

    async def find_by_prefix(self, _: str) -> None:
        return None


class CountingLimiter:
    """The per-key rate limit, counted in memory: `limit` requests per key, then refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.hits: dict[str, int] = {}

    async def hit(self, key_id: str) -> tuple[bool, float]:
        self.hits[key_id] = self.hits.get(key_id, 0) + 1
        return self.hits[key_id] <= self.limit, 1.0


def offline_gateway(**settings: Any) -> tuple[FastAPI, RecordingRuntime]:
    app = build_app(GatewaySettings(**settings))
    svc = services_of(app)
    for scope, key in KEYS.items():
        svc.key_cache[hash_key(key)] = (math.inf, f"{scope}-id", (scope,))
    svc.keys, svc.cache, svc.secret = EmptyKeyStore(), object(), "offline-signing-secret-" + "0" * 32  # type: ignore[assignment]
    svc.rate_limits = CountingLimiter(svc.settings.rate_limit)  # type: ignore[assignment]
    runtime = RecordingRuntime()
    svc.runtime = runtime  # type: ignore[assignment]
    return app, runtime


def client(app: FastAPI, address: str = "203.0.113.7") -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(address, 50000))


def h(scope: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[scope]}
