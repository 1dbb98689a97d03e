"""The shipped Serve config and the app builder, checked offline (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

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
