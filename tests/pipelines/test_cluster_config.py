"""cluster.yaml against Ray's own autoscaler schema (offline) and runtime_env.yaml as a RuntimeEnv."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from pipeline_support import ROOT
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.runtime_env import RuntimeEnv


def _cluster() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    return config


def test_cluster_yaml_passes_rays_schema() -> None:
    prepared = prepare_config(copy.deepcopy(_cluster()))
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"
    workers = prepared["available_node_types"]["cpu_worker"]
    assert workers["min_workers"] <= workers["max_workers"]
    assert prepared["head_node_type"] == "head"


def test_a_broken_cluster_yaml_is_caught() -> None:
    broken = copy.deepcopy(_cluster())
    broken["available_node_types"]["cpu_worker"]["max_wrokers"] = 3
    with pytest.raises(Exception, match="max_wrokers"):
        validate_config(prepare_config(broken))


def test_cluster_ports_avoid_redis_and_the_worker_range() -> None:
    head = " ".join(_cluster()["head_start_ray_commands"])
    gcs = int(re.search(r"--port=(\d+)", head).group(1))  # type: ignore[union-attr]
    dashboard = int(re.search(r"--dashboard-port=(\d+)", head).group(1))  # type: ignore[union-attr]
    agent = int(re.search(r"--dashboard-agent-listen-port=(\d+)", head).group(1))  # type: ignore[union-attr]
    assert gcs != 6379
    for port in (gcs, dashboard, agent):
        assert not 10002 <= port <= 19999
    workers = " ".join(_cluster()["worker_start_ray_commands"])
    assert f":{gcs}" in workers


def test_cluster_setup_installs_the_locked_project() -> None:
    setup = " ".join(_cluster()["setup_commands"])
    assert "pip install -r requirements.lock" in setup
    assert "pip install -e ." in setup


def test_runtime_env_yaml_is_a_valid_runtime_env() -> None:
    loaded = yaml.safe_load((ROOT / "runtime_env.yaml").read_text())
    env = RuntimeEnv(**loaded)
    assert env["working_dir"] == "."
    assert ".venv/" in env["excludes"]
    assert env["env_vars"]["RAY_USAGE_STATS_ENABLED"] == "0"
