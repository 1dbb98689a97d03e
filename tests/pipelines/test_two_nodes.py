"""Cells spread over two Ray nodes give exactly the one-node result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_support import MINUTE_FILE, ROOT

from pipelines import backtest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SWEEP = ["--data", str(MINUTE_FILE), "--strategy", "sma_cross", "--grid", "fast=5:40:5", "--grid", "slow=50,100",
         "--fill", "close", "--batch-size", "2", "--json", "--no-progress"]


def test_two_node_cluster_runs_cells_on_both_nodes_with_the_one_node_result(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Path(__file__).with_name("two_node_sweep.py")
    proc = subprocess.run(
        [sys.executable, str(script), *SWEEP, "--out", str(tmp_path / "two")],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout)
    nodes = {c["node_id"] for c in two["cells"]}
    assert len(nodes) == 2, nodes

    assert backtest.main([*SWEEP, "--out", str(tmp_path / "one")]) == 0
    one = json.loads(capsys.readouterr().out)
    assert len({c["node_id"] for c in one["cells"]}) == 1
    assert len(one["cells"]) == len(two["cells"]) == 16
    one_values = {c["cell_id"]: (c["final_value"], c["stats"]) for c in one["cells"]}
    two_values = {c["cell_id"]: (c["final_value"], c["stats"]) for c in two["cells"]}
    assert one_values == two_values
