"""The feature-building job on Ray Data: bar files (many instruments) -> one labelled feature table.

Each file is one Ray Data task: it loads the bars, computes `trading.ml.features.build_features` and the
labels (the same code a live `ml_signal` strategy runs on its window) and returns the rows whose features
are defined and whose label is known. A file is processed whole because the indicators need its history;
there are few, large tasks (each Ray Data task costs 0.1-0.2 s of scheduling on a small machine).

    python -m pipelines.features --data data/backtrader/*.txt --out features.parquet
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
from threadpoolctl import threadpool_limits

from pipelines.cluster import ray_session
from pipelines.sweep import cluster_cpus, quiet_ray_data
from trading.data.loaders import load_bars
from trading.errors import TradingError
from trading.ml.dataset import labelled_rows
from trading.ml.features import FeatureSpec
from trading.ml.labels import LabelSpec

EXIT_USAGE = 2


def instrument_name(path: str) -> str:
    return Path(path).stem


def feature_batch(
    batch: pa.Table, *, features: FeatureSpec, labels: LabelSpec, timezone: str, on_bad_rows: str
) -> pa.Table:
    """Ray Data batch function: one row per file in, that file's labelled feature rows out."""
    tables = []
    with threadpool_limits(limits=1):
        for row in batch.to_pylist():
            path = str(row["path"])
            bars = load_bars(path, tz=timezone, on_bad_rows=cast(Any, on_bad_rows))
            columns = labelled_rows(bars, features, labels, instrument=str(row["instrument"]))
            tables.append(pa.table({k: pa.array(v.tolist() if v.dtype == object else v) for k, v in columns.items()}))
    return pa.concat_tables(tables) if tables else pa.table({})


def build_feature_table(
    paths: Sequence[str],
    features: FeatureSpec,
    labels: LabelSpec,
    *,
    timezone: str = "UTC",
    on_bad_rows: str = "raise",
    num_tasks: int | None = None,
) -> pa.Table:
    """Run the job on the connected Ray cluster; rows of every file, in no particular order."""
    if len(set(paths)) != len(paths):
        raise TradingError(f"a data file is listed twice: {sorted(p for p in paths if list(paths).count(p) > 1)[0]}")
    names = [instrument_name(p) for p in paths]
    if len(set(names)) != len(names):
        raise TradingError("two data files have the same name; instruments are named after their files")
    quiet_ray_data()
    cpus = cluster_cpus()
    items = [{"path": str(Path(p).resolve()), "instrument": name} for p, name in zip(paths, names, strict=True)]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        functools.partial(feature_batch, features=features, labels=labels, timezone=timezone, on_bad_rows=on_bad_rows),
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.TaskPoolStrategy(size=max(1, min(num_tasks or cpus, len(items)))),
    )
    parts = [cast(pa.Table, t) for t in dataset.iter_batches(batch_size=None, batch_format="pyarrow")]
    parts = [t for t in parts if t.num_rows]
    if not parts:
        raise TradingError("no feature rows: every file is shorter than the features' look-back plus the label horizon")
    return pa.concat_tables(parts)


def table_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """Arrow columns as numpy arrays (strings as object arrays)."""
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out[name] = np.asarray(column.to_pylist(), dtype=object)
        else:
            out[name] = column.to_numpy()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.features", description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, metavar="FILE", help="bar files (one instrument each)")
    parser.add_argument("--out", required=True, help="Parquet file to write")
    parser.add_argument("--tz", default="UTC", help="time zone of naive timestamps in the files")
    parser.add_argument("--address", default=None, help="join this Ray cluster instead of starting a local one")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray started here")
    args = parser.parse_args(argv)
    try:
        for path in args.data:
            if not Path(path).is_file():
                raise TradingError(f"data file {path} does not exist")
        spec = FeatureSpec(timezone=args.tz)
        with ray_session(args.address, args.num_cpus):
            table = build_feature_table(args.data, spec, LabelSpec(), timezone=args.tz)
        pq.write_table(table, args.out)
    except (TradingError, ValueError, OSError) as exc:
        print(f"features: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"features: {table.num_rows:,} rows x {len(spec.names)} features from {len(args.data)} files -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
