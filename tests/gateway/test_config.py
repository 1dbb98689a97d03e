"""The shipped Serve config and the app builder, checked offline (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from serve_apps.app import build_app
from serve_apps.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]


def test_serve_config_is_valid_for_serve_deploy() -> None:
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    schema = ServeDeploySchema.model_validate(config)
    (app,) = schema.applications
    assert app.import_path == "serve_apps.gateway:build"
    GatewaySettings(**app.args)  # the builder's args are real settings
    assert config["applications"][0]["deployments"][0]["ray_actor_options"]["num_cpus"] == 0


def test_unknown_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate_limt"):
        GatewaySettings(rate_limt=5)  # type: ignore[call-arg]


def test_openapi_declares_both_credentials_on_every_authenticated_route() -> None:
    schema = build_app(GatewaySettings()).openapi()
    assert schema["components"]["securitySchemes"] == {
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                         "description": "an API key from `dto keys create`"},
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "a token from POST /v1/auth/token"},
    }
    either = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    operations = {(m, p): op for p, ops in schema["paths"].items() for m, op in ops.items()}
    assert "security" not in operations[("get", "/health")]
    assert operations[("post", "/v1/auth/token")]["security"] == [{"APIKeyHeader": []}]  # a key, not a token
    for where in [("post", "/v1/orders"), ("get", "/ready"), ("get", "/metrics"), ("post", "/v1/backtests")]:
        assert operations[where]["security"] == either, where
    unprotected = {w for w, op in operations.items() if "security" not in op}
    assert unprotected == {("get", "/health")}


def test_haproxy_ingress_gets_its_own_files_and_one_thread_unless_the_user_sets_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from serve_apps.ingress import STATE_DIR, ingress_environment, remove_ingress_files

    assert ingress_environment("proxy") == {}
    monkeypatch.delenv("RAY_SERVE_HAPROXY_NBTHREAD", raising=False)
    first, second = ingress_environment("haproxy"), ingress_environment("haproxy")
    try:
        assert first[STATE_DIR] != second[STATE_DIR]  # two runtimes on one machine share nothing
        assert first["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"].startswith(first[STATE_DIR])
        assert first["RAY_SERVE_HAPROXY_NBTHREAD"] == "1"
        monkeypatch.setenv("RAY_SERVE_HAPROXY_NBTHREAD", "3")
        third = ingress_environment("haproxy")
        remove_ingress_files(third)
        assert third["RAY_SERVE_HAPROXY_NBTHREAD"] == "3"
    finally:
        remove_ingress_files(first)
        remove_ingress_files(second)
    assert not Path(first[STATE_DIR]).exists()
