"""Start or join the Ray cluster a pipeline runs on, and shut down only what was started here."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

AUTH_MODE_ENV = "RAY_AUTH_MODE"


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Use the Ray this process is already connected to; else join `address` (or the job's cluster when run
    by `ray job submit`); else start a private local Ray. Only a connection made here is closed here."""
    import ray  # noqa: PLC0415  # here, not at the top: a sweep that runs in process never loads Ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        yield
        return
    if address:
        use_token_auth(joining=True)
        ray.init(address=address, log_to_driver=False)
    elif os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)  # inside `ray job submit`: the job's own cluster
    else:
        # address="local": never join a cluster some file in /tmp happens to point at. Ray turns token
        # authentication on by itself for a cluster it starts (RAY_AUTH_MODE unset); setting the variable here,
        # after `import ray` read it, left this driver without the token its new cluster asked for.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def use_token_auth(*, joining: bool) -> None:
    """Ray's token authentication (RAY_AUTH_MODE=token) for the next `ray.init`: the GCS, dashboard and job API of
    a cluster started here answer only callers holding its token (~/.ray/auth_token, created on first start),
    whatever the environment says. Joining a cluster, an explicit RAY_AUTH_MODE (an older cluster's) is kept."""
    if joining:
        os.environ.setdefault(AUTH_MODE_ENV, "token")
    else:
        os.environ[AUTH_MODE_ENV] = "token"


def ray_connected() -> bool:
    """Whether this process is already connected to a Ray cluster (without importing Ray when it isn't)."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def cluster_named(address: str | None) -> bool:
    """Whether the user asked for a cluster: `--address`, or the job's own cluster under `ray job submit`."""
    return bool(address or os.environ.get("RAY_ADDRESS")) or ray_connected()
