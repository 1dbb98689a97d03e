"""The results folder of a sweep: Parquet part files written atomically, read back by streaming.

```
<out>/parts/part-<uuid>.parquet   one per finished batch of cells (written to a dot-file, then renamed)
<out>/summary.parquet             every cell of the latest run's grid, one row each (no equity curves)
<out>/walk_forward.json           the walk-forward report, when the sweep has windows
```
A part file exists completely or not at all, so the cell ids in the part files are exactly the finished
cells: a re-run with the same folder skips them.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.evaluation import RESULT_SCHEMA, STAT_FIELDS

PARTS = "parts"
SUMMARY = "summary.parquet"


class ResultStore:
    """Append-only Parquet parts under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts_dir = root / PARTS
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.parts_dir.glob(".part-*.tmp"):
            stale.unlink(missing_ok=True)  # a write interrupted before its rename: those cells will re-run

    def part_files(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.parquet"))

    def finished_ids(self) -> set[str]:
        done: set[str] = set()
        for path in self.part_files():
            table = pq.read_table(path, columns=["cell_id", "status"])
            for cid, status in zip(table["cell_id"].to_pylist(), table["status"].to_pylist(), strict=True):
                if status == "ok":
                    done.add(cid)
        return done

    def write_part(self, table: pa.Table) -> Path:
        """Write one batch of result rows atomically: a hidden temp file, fsync, then rename."""
        name = f"part-{uuid.uuid4().hex}.parquet"
        tmp = self.parts_dir / f".{name}.tmp"
        with open(tmp, "wb") as handle:
            pq.write_table(table.cast(RESULT_SCHEMA), handle)
            handle.flush()
            os.fsync(handle.fileno())
        final = self.parts_dir / name
        os.replace(tmp, final)
        return final

    def iter_rows(self, wanted: set[str] | None = None) -> Iterator[dict[str, Any]]:
        """Each finished cell once (the latest successful row wins over an error row), part file by part file."""
        seen: set[str] = set()
        errors: dict[str, dict[str, Any]] = {}
        for path in self.part_files():
            for row in pq.read_table(path).to_pylist():
                cid = row["cell_id"]
                if (wanted is not None and cid not in wanted) or cid in seen:
                    continue
                if row["status"] != "ok":
                    errors[cid] = row
                    continue
                seen.add(cid)
                errors.pop(cid, None)
                yield row
        yield from (row for cid, row in errors.items() if cid not in seen)

    def write_summary(self, wanted: set[str] | None = None) -> tuple[Path, int]:
        """Stream every wanted cell's row into summary.parquet (bounded memory: one part at a time)."""
        path = self.root / SUMMARY
        tmp = self.root / f".{SUMMARY}.tmp"
        count = 0
        with pq.ParquetWriter(tmp, RESULT_SCHEMA) as writer:
            chunk: list[dict[str, Any]] = []
            for row in self.iter_rows(wanted):
                chunk.append(row)
                if len(chunk) >= 4096:
                    writer.write_table(pa.Table.from_pylist(chunk, schema=RESULT_SCHEMA))
                    count += len(chunk)
                    chunk = []
            if chunk:
                writer.write_table(pa.Table.from_pylist(chunk, schema=RESULT_SCHEMA))
                count += len(chunk)
        os.replace(tmp, path)
        return path, count


def metric_value(row: dict[str, Any], metric: str) -> float | None:
    value = row.get(metric)
    if value is None or row.get("status") != "ok":
        return None
    number = float(value)
    return None if math.isnan(number) else number


def top_rows(rows: Iterator[dict[str, Any]], metric: str, n: int, *, minimize: bool = False) -> list[dict[str, Any]]:
    """The best `n` rows by `metric`, kept in a heap while streaming (ties: the earlier cell id first)."""
    heap: list[tuple[float, str, dict[str, Any]]] = []
    if n <= 0:
        return []
    sign = -1.0 if minimize else 1.0
    for row in rows:
        value = metric_value(row, metric)
        if value is None:
            continue
        key = (sign * value, _neg(row["cell_id"]), row)
        if len(heap) < n:
            heapq.heappush(heap, key)
        elif key[:2] > heap[0][:2]:
            heapq.heapreplace(heap, key)
    return [item[2] for item in sorted(heap, key=lambda k: k[:2], reverse=True)]


def _neg(text: str) -> str:
    # Reverse the id's order so that, on equal metric, the smaller id ranks higher (deterministic output).
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def cell_json(row: dict[str, Any]) -> dict[str, Any]:
    """A result row as the JSON the CLI prints: params as an object, statistics under `stats`."""
    stats = {name: _finite(row.get(name)) for name in STAT_FIELDS}
    return {
        "cell_id": row["cell_id"],
        "data": row["data"],
        "strategy": row["strategy"],
        "params": json.loads(row["params"]),
        "window": row["window"],
        "bars": [row["start"], row["stop"]],
        "engine": row["engine"],
        "status": row["status"],
        "error": row["error"] or None,
        "final_value": _finite(row.get("final_value")),
        "node_id": row["node_id"],
        "stats": stats,
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
