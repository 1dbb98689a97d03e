"""Run a sweep on a two-node `ray.cluster_utils.Cluster` and print the JSON result (a subprocess of a test).

Usage: python two_node_sweep.py OUT_DIR -- <dto sweep flags>
"""

from __future__ import annotations

import os
import sys

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"


def run(argv: list[str]) -> int:
    import ray
    from ray.cluster_utils import Cluster

    from pipelines.backtest import main

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            assert len([n for n in ray.nodes() if n["Alive"]]) == 2
            return main(argv)
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
