"""Sweeps through the real Ray Data pipeline on the session's local Ray."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pipeline_support import FIVE_MINUTE_FILE

from pipelines import backtest
from pipelines.results import ResultStore

pytestmark = pytest.mark.ray

DATA = str(FIVE_MINUTE_FILE)


def _sweep(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    status = backtest.main(["--data", DATA, "--strategy", "sma_cross", "--json", *argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out), captured.err


def _by_params(result: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(c["params"]["fast"], c["params"]["slow"]): c for c in result["cells"]}


def test_sweep_prints_every_cell_as_json_and_streams_parquet(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    result, err = _sweep(capsys, "--grid", "fast=5,10,20", "--grid", "slow=10,20,40", "--fill", "close",
                         "--out", str(out), "--batch-size", "2", "--metric", "total_return_pct", "--top", "2")
    assert len(result["cells"]) == result["total_cells"] == 6
    assert result["invalid_skipped"] == 3 and result["errors"] == 0
    assert result["elapsed_s"] > 0 and result["cells_per_s"] > 0
    for cell in result["cells"]:
        assert set(cell["params"]) == {"fast", "slow"} and cell["params"]["fast"] < cell["params"]["slow"]
        assert math.isclose(cell["stats"]["end_value"], cell["final_value"])
        assert cell["engine"] == "vector"  # auto picks the fast path for these options
        assert cell["status"] == "ok"
    best = max(result["cells"], key=lambda c: c["stats"]["total_return_pct"])
    assert result["top"][0]["params"] == best["params"] and len(result["top"]) == 2
    parts = ResultStore(out).part_files()
    assert len(parts) >= 3  # one per finished batch of at most two cells
    summary = pq.read_table(out / "summary.parquet")
    assert summary.num_rows == 6 and set(summary["cell_id"].to_pylist()) == {c["cell_id"] for c in result["cells"]}
    assert "6/6 cells" in err and "cells/s" in err


def test_text_report_shows_the_best_cells(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = backtest.main(["--data", DATA, "--strategy", "sma_cross", "--grid", "fast=5,10", "--grid", "slow=30",
                            "--no-progress", "--top", "1"])
    out = capsys.readouterr()
    assert status == 0
    assert "Sweep: 2 cells" in out.out and "Top 1 by sharpe" in out.out
    assert out.err == "" or "cells/s" not in out.err


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_vectorized_and_event_engines_agree_through_the_pipeline(
    ray_local: None, capsys: pytest.CaptureFixture[str], fill: str
) -> None:
    grid = ["--grid", "fast=5,10", "--grid", "slow=20,40", "--fill", fill, "--commission-per-unit", "0.01",
            "--no-progress"]
    vector, _ = _sweep(capsys, *grid, "--engine", "vector")
    event, _ = _sweep(capsys, *grid, "--engine", "event")
    assert {c["engine"] for c in vector["cells"]} == {"vector"}
    assert {c["engine"] for c in event["cells"]} == {"event"}
    vec, evt = _by_params(vector), _by_params(event)
    assert vec.keys() == evt.keys() and len(vec) == 4
    for key in vec:
        assert round(vec[key]["final_value"], 2) == round(evt[key]["final_value"], 2), key
        assert vec[key]["stats"]["trades"] == evt[key]["stats"]["trades"], key


def test_auto_engine_falls_back_to_events_when_the_fast_path_does_not_apply(
    ray_local: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result, _ = _sweep(capsys, "--grid", "fast=5", "--grid", "slow=20", "--slippage-ticks", "1", "--no-progress")
    assert [c["engine"] for c in result["cells"]] == ["event"]


def test_rerun_skips_finished_cells_and_runs_only_the_missing_ones(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "resume"
    grid = ["--grid", "fast=2:12:2", "--grid", "slow=15,30", "--out", str(out), "--batch-size", "2", "--no-progress"]
    first, _ = _sweep(capsys, *grid)
    assert first["ran"] == 12 and first["resumed"] == 0
    store = ResultStore(out)
    parts = store.part_files()
    lost = parts[:2]
    lost_ids = {cid for part in lost for cid in pq.read_table(part)["cell_id"].to_pylist()}
    for part in lost:
        part.unlink()
    (out / "parts" / ".part-interrupted.parquet.tmp").write_bytes(b"half a file")  # a write cut off mid-way
    second, _ = _sweep(capsys, *grid)
    assert second["ran"] == len(lost_ids) and second["resumed"] == 12 - len(lost_ids)
    assert {c["cell_id"] for c in second["cells"]} == {c["cell_id"] for c in first["cells"]}
    assert _by_params(second) == _by_params(first) or all(
        a["final_value"] == b["final_value"] for a, b in zip(
            sorted(first["cells"], key=lambda c: c["cell_id"]),
            sorted(second["cells"], key=lambda c: c["cell_id"]), strict=True)
    )
    assert not list((out / "parts").glob(".*.tmp"))
    third, _ = _sweep(capsys, *grid)
    assert third["ran"] == 0 and third["resumed"] == 12
    changed, _ = _sweep(capsys, *grid, "--cash", "20000")  # other run options: other cells
    assert changed["ran"] == 12


def test_walk_forward_reports_in_sample_beside_out_of_sample(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "wf"
    result, _ = _sweep(capsys, "--grid", "fast=3,5,10", "--grid", "slow=20,40", "--fill", "close",
                       "--wf-train", "600", "--wf-test", "300", "--out", str(out), "--no-progress")
    report = result["walk_forward"]
    windows = report["windows"]
    assert len(windows) == 5  # 2,142 bars: tests 600-900 ... 1800-2100
    assert result["total_cells"] == 6 * 5
    for a, b in itertools.pairwise(windows):
        assert a["test"][1] == b["test"][0]
    for w in windows:
        assert w["train"][1] - w["train"][0] == 600 and w["train"][1] <= w["test"][0]
        in_sample = [c for c in result["cells"] if c["window"] == w["window"]]
        best = max(c["stats"]["sharpe"] for c in in_sample if c["stats"]["sharpe"] is not None)
        assert w["is_metric"] == pytest.approx(best)
    stitched = report["stitched"][0]
    assert stitched["windows"] == 5 and stitched["bars"] == 5 * 300
    chained = math.prod(1 + w["oos_return_pct"] / 100 for w in windows)
    assert stitched["total_return_pct"] == pytest.approx((chained - 1) * 100)
    assert json.loads((out / "walk_forward.json").read_text())["stitched"][0]["windows"] == 5
