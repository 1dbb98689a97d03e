"""Schemathesis over the OpenAPI schema, against the app under uvicorn backed by the real runtime and storage:
no 5xx, every response matches the schema. Bounded (a few examples per operation). Operations that would
change firm-wide state for the other tests (kill switch, risk limits, stopping or adding strategies) and the
endless event stream are left out; the HTTP tests cover them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from serve_apps.app import build_app
from serve_apps.settings import GatewaySettings

from .conftest import Runtime, Storage, free_port, settings_for

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_url(runtime: Runtime, storage: Storage) -> Iterator[str]:
    app = build_app(GatewaySettings(**settings_for(runtime, storage, rate_limit=100_000)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not server.started:
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def api_schema(app_url: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{app_url}/openapi.json")
    return (
        schema.exclude(path="/v1/events")
        .exclude(path="/v1/risk/kill-switch")
        .exclude(path="/v1/risk/flatten")
        .exclude(path="/v1/risk/limits", method="PATCH")
        .exclude(path_regex=r"/v1/strategies/\{strategy_id\}/stop")
        .exclude(path="/v1/strategies", method="POST")
    )


def test_api_conforms_to_its_schema(api_schema: schemathesis.BaseSchema, keys: dict[str, str]) -> None:
    headers = {"X-API-Key": keys["admin"]}
    checked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers, timeout=15)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            case.validate_response(response, checks=[response_schema_conformance, status_code_conformance])

        check()
        checked += 1
    assert checked >= 15


def test_unknown_routes_answer_json_errors(app_url: str) -> None:
    answer = httpx.get(f"{app_url}/v2/nothing")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
