"""The gateway as a Ray Serve deployment: `serve run serve_apps.gateway:app`, or `serve deploy
serve_config.yaml` (which uses the typed builder `serve_apps.gateway:build` with `args`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from actors.tuning import tune_gc
from serve_apps.app import build_app
from serve_apps.settings import GatewaySettings


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
@serve.ingress()
class Gateway:
    """One replica: the FastAPI app, built in the replica from plain settings."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        tune_gc()  # like the trading actors: every request allocates, and the process holds all of Ray
        self.settings = GatewaySettings(**(settings or {}))

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_app(self.settings)


def build(args: dict[str, Any], num_replicas: int = 1, access_log: bool = False) -> Application:
    """Typed app builder: `args` are `GatewaySettings` fields (unknown ones are rejected). `access_log`: Serve
    logs every request in the replica's log file; off by default because it cost about 5% of the replica's CPU
    per request, and /metrics already counts requests by route and status. Off, the replica logs from WARNING
    up: Serve builds its access-log record at INFO for every request even when the access log is off."""
    logging = {"enable_access_log": access_log, "log_level": "INFO" if access_log else "WARNING"}
    deployment = Gateway.options(num_replicas=num_replicas, logging_config=logging)  # type: ignore[attr-defined]
    bound: Application = deployment.bind(GatewaySettings(**args).model_dump())
    return bound


app = Gateway.bind()  # type: ignore[attr-defined]
