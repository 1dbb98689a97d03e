"""A real `ray start --head` on private ports and `ray job submit` of a sweep config, end to end.

The head runs in its own temp dir with its own token; it is stopped by the process ids of exactly the
processes that belong to that temp dir (never the Ray CLI's stop-everything command, never by process name).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from pipeline_support import ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not 10002 <= port <= 19999 and port != 6379:
            return port


def _processes_of(temp_dir: str) -> list[psutil.Process]:
    mine = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(temp_dir in part for part in proc.info["cmdline"] or []):
                mine.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return mine


def _stop(temp_dir: str) -> None:
    """Terminate the head's processes: those whose command line names our private temp dir, and children."""
    procs: dict[int, psutil.Process] = {}
    for proc in _processes_of(temp_dir):
        procs[proc.pid] = proc
        try:
            for child in proc.children(recursive=True):
                procs[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    procs.pop(os.getpid(), None)
    for proc in procs.values():
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(list(procs.values()), timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue


@pytest.fixture
def ray_head() -> Iterator[tuple[str, dict[str, str]]]:
    temp_dir = tempfile.mkdtemp(prefix="dtoj", dir="/tmp")  # short: Ray's unix socket paths have a length limit
    dashboard = _free_port()
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),  # our own token, not whatever ~/.ray holds
    }
    env.pop("RAY_ADDRESS", None)
    command = [
        RAY, "start", "--head", f"--port={_free_port()}", f"--dashboard-port={dashboard}",
        f"--dashboard-agent-listen-port={_free_port()}", f"--ray-client-server-port={_free_port()}",
        "--dashboard-host=127.0.0.1", "--include-dashboard=true", "--num-cpus=2", "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    try:
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        _stop(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_job_submit_runs_a_sweep_config(ray_head: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    address, env = ray_head
    out = tmp_path / "job-out"
    config = tmp_path / "job_sweep.yaml"
    config.write_text(
        "data: data/backtrader/2006-min-005.txt\n"  # relative: resolved in the uploaded working_dir
        "strategy: sma_cross\ngrid:\n  fast: '5:20:5'\n  slow: [30, 60]\nfill: close\nmetric: total_return_pct\n"
        f"out: {out}\n"
    )
    runtime_env = yaml.safe_load((ROOT / "runtime_env.yaml").read_text())
    runtime_env["working_dir"] = str(ROOT)
    submit = [
        RAY, "job", "submit", "--address", address, "--runtime-env-json", json.dumps(runtime_env), "--",
        sys.executable, "-m", "pipelines.backtest", "--config", str(config), "--json",
    ]
    started = time.perf_counter()
    job = subprocess.run(submit, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    logs = job.stdout + job.stderr
    assert job.returncode == 0, logs[-4000:]
    assert "succeeded" in logs.lower(), logs[-4000:]
    summary = pq.read_table(out / "summary.parquet").to_pylist()
    assert len(summary) == 8
    assert {r["status"] for r in summary} == {"ok"}
    assert {json.loads(r["params"])["slow"] for r in summary} == {30, 60}
    assert time.perf_counter() - started < 240
