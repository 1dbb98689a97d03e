"""Ray's control plane runs code for whoever reaches it: cluster.yaml starts every node with token
authentication and keeps the dashboard and job API on the head's loopback; `dto run` starts its local Ray with
token authentication even when the environment turned it off, and no dashboard unless asked. Offline."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from dto.run import parse_args, start_ray

ROOT = Path(__file__).resolve().parents[2]


def _cluster() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    return config


def test_cluster_yaml_still_passes_rays_schema() -> None:
    validate_config(prepare_config(copy.deepcopy(_cluster())))


def test_cluster_nodes_start_with_token_auth_and_a_loopback_dashboard() -> None:
    config = _cluster()
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    for command in (head, workers):
        assert "RAY_AUTH_MODE=token" in command and "RAY_AUTH_MODE=disabled" not in command
        assert "0.0.0.0" not in command
    assert re.search(r"--dashboard-host=127\.0\.0\.1\b", head)
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"  # one token on every node


class _Init:
    def __init__(self) -> None:
        self.calls: list[tuple[str | None, dict[str, Any]]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append((os.environ.get("RAY_AUTH_MODE"), kwargs))


def test_dto_run_with_token_auth_turned_off_in_the_environment_then_on_for_its_local_ray(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    init = _Init()
    monkeypatch.setattr(ray, "init", init)
    args = parse_args([])
    start_ray(args.address, "ns", args.dashboard_host)
    mode, kwargs = init.calls[0]
    assert mode == "token" and kwargs["address"] == "local" and kwargs["include_dashboard"] is False


def test_dto_run_asked_for_a_dashboard_then_it_listens_where_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    init = _Init()
    monkeypatch.setattr(ray, "init", init)
    args = parse_args(["--dashboard-host", "127.0.0.1"])
    start_ray(args.address, "ns", args.dashboard_host)
    mode, kwargs = init.calls[0]
    assert mode == "token" and kwargs["include_dashboard"] is True and kwargs["dashboard_host"] == "127.0.0.1"
