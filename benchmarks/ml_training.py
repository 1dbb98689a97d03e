"""ML signal training: feature-building throughput on Ray Data (1 vs 2 CPUs) and model fit time per fold.

- Features: 8 instrument files, each the real 1-minute file (30,889 bars) tiled twice (61,778 bars; written
  as Parquet), through `pipelines.features.build_feature_table` (default spec, triple-barrier labels, one
  Ray Data task per file) on a private local Ray with 1 CPU, then 2 (Ray start outside the timing, a warm-up
  job first, best of 2). Throughput is input bars per second; the in-process single-core loop over the same
  files (load + features + labels) is shown for reference.
- Fits: one purged walk-forward fold (the last of 4) on the real 1-minute file's training window, each model
  kind of training/stoxx_minute.yaml fitted in process on one thread (as one Ray task runs it), best of 2.
- The whole `training/stoxx_minute.yaml` job (features, 3 x 4 + 1 fits, registry, 2 backtests) on 2 CPUs.

Run: `.venv/bin/python -m benchmarks.ml_training`
"""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from benchmarks.common import MINUTE_FILE, ROOT, best_of, header
from trading.data.loaders import load_bars
from trading.data.transforms import tile_series
from trading.ml.dataset import TrainingSet, labelled_rows
from trading.ml.features import FeatureSpec
from trading.ml.labels import LabelSpec
from trading.ml.training import candidates, fit_and_score, load_training_config
from trading.ml.validation import holdout_split, purged_folds

FILES = 8
COPIES = 2
CONFIG = ROOT / "training/stoxx_minute.yaml"


def write_files(folder: Path) -> tuple[list[str], int]:
    series = tile_series(load_bars(MINUTE_FILE), COPIES)
    paths = []
    for i in range(FILES):
        path = folder / f"instrument_{i}.parquet"
        series.to_frame().to_parquet(path)
        paths.append(str(path))
    return paths, len(series) * FILES


def feature_rate(paths: list[str], bars: int, num_cpus: int, spec: FeatureSpec, labels: LabelSpec) -> float:
    from pipelines.cluster import ray_session
    from pipelines.features import build_feature_table

    with ray_session(num_cpus=num_cpus):
        build_feature_table(paths, spec, labels)  # warm-up: workers start and import TA-Lib
        seconds, _ = best_of(2, lambda: build_feature_table(paths, spec, labels))
    return bars / seconds


def fold_fit_times() -> dict[str, float]:
    config = load_training_config(CONFIG)
    series = load_bars(MINUTE_FILE)
    data = TrainingSet.from_columns(labelled_rows(series, config.features, config.labels, "m1"), config.features.names)
    split = holdout_split(data.ts, data.label_end_ts, config.holdout)
    x, y = data.x[split.train], data.y[split.train]
    fold = purged_folds(data.ts[split.train], data.label_end_ts[split.train], folds=4, embargo=30)[-1]
    times: dict[str, float] = {}
    with threadpool_limits(limits=1):
        for candidate in candidates(config):
            if candidate.kind in times:
                continue
            fit = functools.partial(fit_and_score, candidate, config.seed, x, y, fold.train, fold.test)
            seconds, _ = best_of(2, fit)
            times[candidate.kind] = seconds
    print(f"  fold of {len(fold.train):,} training rows x {x.shape[1]} features, {len(fold.test):,} test rows")
    return times


def whole_job_seconds(folder: Path) -> float:
    from pipelines.cluster import ray_session
    from pipelines.train_signals import train

    config = load_training_config(CONFIG).model_copy(update={"registry": str(folder / "models")})
    with ray_session(num_cpus=2):
        started = time.perf_counter()
        train(config, progress=None)
        return time.perf_counter() - started


def main() -> dict[str, float]:
    spec, labels = FeatureSpec(), LabelSpec(kind="triple_barrier", horizon=30, profit_take=0.0015, stop_loss=0.0015)
    header(f"ML training: features for {FILES} files x {COPIES * 30_889:,} real 1-minute bars; fit time per fold")
    with tempfile.TemporaryDirectory(prefix="dto-bench-ml-") as scratch:
        folder = Path(scratch)
        paths, bars = write_files(folder)
        core_s, _ = best_of(1, lambda: [labelled_rows(load_bars(p), spec, labels, Path(p).stem) for p in paths])
        rate1 = feature_rate(paths, bars, 1, spec, labels)
        rate2 = feature_rate(paths, bars, 2, spec, labels)
        fits = fold_fit_times()
        job_s = whole_job_seconds(folder)
    efficiency = rate2 / rate1 / 2
    print(f"  features, Ray Data 1 CPU   {rate1:>12,.0f} bars/s")
    print(f"  features, Ray Data 2 CPUs  {rate2:>12,.0f} bars/s  (scaling {efficiency * 100:.0f} %)")
    print(f"  features, in process       {bars / core_s:>12,.0f} bars/s  (1 CPU, no Ray; {core_s:.2f} s)")
    for kind, seconds in fits.items():
        print(f"  fit + score one fold       {seconds:>12.3f} s  {kind}")
    print(f"  whole job {CONFIG.name:<16} {job_s:>12.1f} s  (2 CPUs, Ray already up)")
    figures = {
        "feature_bars_per_s_1cpu": rate1,
        "feature_bars_per_s_2cpu": rate2,
        "feature_scaling": efficiency,
        "feature_bars_per_s_in_process": bars / core_s,
        "train_job_s": job_s,
    }
    figures.update({f"fold_fit_s_{kind}": seconds for kind, seconds in fits.items()})
    return figures


if __name__ == "__main__":
    main()
