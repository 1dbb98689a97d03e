"""Where a sweep runs: a local grid that fits one worker runs in this process without Ray, and gives exactly the
cells the Ray Data pipeline gives."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from pipeline_support import FIVE_MINUTE_FILE, ROOT

from pipelines import backtest
from pipelines.config import parse_config
from pipelines.plan import plan_sweep

DATA = str(FIVE_MINUTE_FILE)
GRID = ["--grid", "fast=3,5,10", "--grid", "slow=20,40", "--fill", "close", "--no-progress"]


def _sweep(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status = backtest.main(["--data", DATA, "--strategy", "sma_cross", "--json", *argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result: dict[str, Any] = json.loads(captured.out)
    return result


def _cells(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["cell_id"]: {k: v for k, v in c.items() if k != "node_id"} for c in result["cells"]}


def test_a_small_local_sweep_never_loads_ray() -> None:
    code = (
        "import sys, json; from pipelines.backtest import main; "
        f"status = main({['--data', DATA, '--strategy', 'sma_cross', '--json', *GRID]!r}); "
        "print(json.dumps({'status': status, 'ray': 'ray' in sys.modules}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=120)
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last == {"status": 0, "ray": False}
    result = json.loads(done.stdout.strip().splitlines()[0])
    assert result["total_cells"] == result["ran"] == 6 and result["errors"] == 0


@pytest.mark.ray
def test_in_process_and_ray_sweeps_give_the_same_cells(ray_local: None, capsys: pytest.CaptureFixture[str]) -> None:
    here = _sweep(capsys, *GRID, "--executor", "process", "--commission-pct", "0.05")
    ray = _sweep(capsys, *GRID, "--executor", "ray", "--commission-pct", "0.05")
    assert _cells(here) == _cells(ray) and len(_cells(here)) == 6
    assert {c["engine"] for c in here["cells"]} == {"vector"}


@pytest.mark.ray
def test_walk_forward_in_process_matches_the_ray_run(ray_local: None, capsys: pytest.CaptureFixture[str]) -> None:
    walk = [*GRID, "--wf-train", "600", "--wf-test", "300"]
    here = _sweep(capsys, *walk, "--executor", "process")
    ray = _sweep(capsys, *walk, "--executor", "ray")
    assert here["walk_forward"] == ray["walk_forward"] and len(here["walk_forward"]["windows"]) == 5


def test_where_a_sweep_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtest, "cluster_named", bool)  # only --address names a cluster here
    base = ["--data", DATA, "--strategy", "sma_cross", "--grid", "fast=5,10", "--grid", "slow=20,40"]
    assert backtest.runs_in_process(plan_sweep(parse_config(base)))
    assert not backtest.runs_in_process(plan_sweep(parse_config([*base, "--executor", "ray"])))
    assert not backtest.runs_in_process(plan_sweep(parse_config([*base, "--address", "10.0.0.1:6379"])))
    # The event engine simulates far fewer bars per second, so less work fits one worker.
    medium = [*base[:4], "--grid", "fast=1:50:1", "--grid", "slow=51:80:1"]
    vector, event = (plan_sweep(parse_config([*medium, "--engine", engine])) for engine in ("auto", "event"))
    assert vector.cell_bars == event.cell_bars == 1_500 * 2_142
    assert not vector.event_driven and backtest.runs_in_process(vector)
    assert event.event_driven and not backtest.runs_in_process(event)
    big = plan_sweep(parse_config([*base[:4], "--grid", "fast=1:400:1", "--grid", "slow=401:600:1"]))
    assert big.cell_bars == 400 * 200 * 2_142 > backtest.IN_PROCESS_CELL_BARS
    assert not backtest.runs_in_process(big)
