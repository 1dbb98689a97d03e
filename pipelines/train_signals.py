"""`dto train` and `python -m pipelines.train_signals`: train ML signal models on Ray and register the best.

    dto train --config training/sp500_minute.yaml
    ray job submit --runtime-env runtime_env.yaml -- python -m pipelines.train_signals --config training/...

Steps: the feature table comes from the Ray Data job in `pipelines.features`; the last `holdout` share of
the time span is cut off (training labels that reach into it are purged); purged walk-forward folds are
made on the rest; every (candidate, fold) fit is one plain Ray task on shared object-store arrays; the best
candidate by mean fold score is refitted on the whole training window, scored in and out of sample and
registered; then the `ml_signal` strategy with the registered model is backtested by the core engine on
each instrument's training window and, separately, on the bars after it. A config mistake is one line on
stderr and exit status 2, before Ray starts. The registry must be a folder every node can reach.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO, cast

import numpy as np
import ray
from threadpoolctl import threadpool_limits

from pipelines.cluster import ray_session
from pipelines.features import build_feature_table, instrument_name, table_columns
from strategies.ml_signal import MlSignal
from trading.backtest.runner import BacktestSpec, run_backtest
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.errors import ConfigError, TradingError
from trading.ml.dataset import TrainingSet
from trading.ml.registry import ModelManifest, ModelRegistry, TrainingWindow, fingerprint_files
from trading.ml.report import BacktestRun, TrainingReport, format_report
from trading.ml.scoring import jsonable, overfit_warning
from trading.ml.training import (
    Candidate,
    TrainingConfig,
    candidates,
    choose_best,
    fit_and_score,
    fit_final,
    load_training_config,
    mean_score,
)
from trading.ml.validation import holdout_split, purged_folds

EXIT_USAGE = 2
REPORT_FILE = "report.json"


@ray.remote(num_cpus=1)
def fit_fold_task(
    candidate: Candidate, seed: int, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> dict[str, float]:
    with threadpool_limits(limits=1):  # Ray gave this task one CPU
        return fit_and_score(candidate, seed, x, y, train, test)


@ray.remote(num_cpus=1)
def fit_final_task(
    candidate: Candidate, seed: int, x: np.ndarray, y: np.ndarray, x_out: np.ndarray, y_out: np.ndarray
) -> tuple[Any, dict[str, float], dict[str, float]]:
    with threadpool_limits(limits=1):
        return fit_final(candidate, seed, x, y, x_out, y_out)


@dataclass
class TrainingOutcome:
    report: TrainingReport
    manifest: ModelManifest


def _log(stream: TextIO | None, message: str) -> None:
    if stream is not None:
        print(f"train: {message}", file=stream, flush=True)


def train(config: TrainingConfig, *, progress: TextIO | None = sys.stderr) -> TrainingOutcome:
    """Run the whole training job on the connected Ray cluster."""
    started = time.perf_counter()
    registry = ModelRegistry(config.registry)
    files, fingerprint = fingerprint_files(config.data)
    table = build_feature_table(
        config.data, config.features, config.labels, timezone=config.timezone, on_bad_rows=config.on_bad_rows
    )
    data = TrainingSet.from_columns(table_columns(table), config.features.names)
    _log(progress, f"{len(data):,} labelled rows x {len(data.names)} features from {len(config.data)} file(s)")
    split = holdout_split(data.ts, data.label_end_ts, config.holdout)
    train_ts, train_end = data.ts[split.train], data.label_end_ts[split.train]
    folds = purged_folds(train_ts, train_end, folds=config.cv.folds, embargo=config.cv.embargo, mode=config.cv.mode)
    x_train, y_train = data.x[split.train], data.y[split.train]
    x_ref, y_ref = ray.put(x_train), ray.put(y_train)
    grid = candidates(config)
    _log(progress, f"{len(grid)} candidate(s) x {len(folds)} fold(s) = {len(grid) * len(folds)} fits on Ray")
    refs = {
        (c.number, f.number): fit_fold_task.remote(c, config.seed, x_ref, y_ref, f.train, f.test)
        for c in grid
        for f in folds
    }
    results = dict(zip(refs, ray.get(list(refs.values())), strict=True))
    scores = {c.number: [results[(c.number, f.number)] for f in folds] for c in grid}
    best = grid[choose_best(scores, config.metric)]
    _log(progress, f"best: {best.describe()}; final fit on {len(split.train):,} rows")
    model, in_sample, out_of_sample = ray.get(
        fit_final_task.remote(best, config.seed, x_ref, y_ref, data.x[split.holdout], data.y[split.holdout])
    )
    window = TrainingWindow.of(int(train_ts.min()), split.cutoff_ts)
    fold_rows = [
        {"fold": f.number, "train": len(f.train), "test": len(f.test), "purged": f.purged, "embargoed": f.embargoed,
         "test_start_ts": f.test_start_ts, "test_end_ts": f.test_end_ts}
        for f in folds
    ]
    metrics = {
        "metric": config.metric,
        "cv_mean": mean_score(scores[best.number], config.metric),
        "cv_folds": [{k: v for k, v in s.items() if k != "fit_s"} for s in scores[best.number]],
        "in_sample": in_sample,
        "out_of_sample": out_of_sample,
        "holdout_purged": split.purged,
    }
    manifest = registry.register(
        model,
        ModelManifest(
            name=config.name,
            kind=best.kind,
            params=best.params,
            seed=config.seed,
            features=config.features,
            feature_names=config.features.names,
            labels=config.labels,
            training_window=window,
            metrics=jsonable(metrics),
            data=files,
            data_fingerprint=fingerprint,
            config=config.model_dump(mode="json"),
        ),
    )
    _log(progress, f"registered {manifest.name} version {manifest.version} in {registry.root}")
    holdout_first = int(data.ts[split.holdout].min())
    backtests = run_backtests(config, registry, manifest, window)
    report = TrainingReport(
        name=manifest.name,
        version=manifest.version,
        kind=best.kind,
        params=best.params,
        metric=config.metric,
        registry=str(registry.root),
        training_window=window,
        holdout_first_ts=holdout_first,
        candidates=[
            {"model": c.describe(), "number": c.number, "mean": mean_score(scores[c.number], config.metric),
             "fit_s": float(sum(s["fit_s"] for s in scores[c.number])), "chosen": c is best,
             "folds": scores[c.number]}
            for c in grid
        ],
        folds=fold_rows,
        in_sample=in_sample,
        out_of_sample=out_of_sample,
        backtests=backtests,
        warning=overfit_warning(in_sample["auc"], out_of_sample["auc"], config.overfit_auc_drop),
        elapsed_s=time.perf_counter() - started,
    )
    folder = registry.root / manifest.name / str(manifest.version)
    (folder / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    return TrainingOutcome(report=report, manifest=manifest)


def run_backtests(
    config: TrainingConfig, registry: ModelRegistry, manifest: ModelManifest, window: TrainingWindow
) -> list[BacktestRun]:
    """The registered model through `ml_signal` on each file: training window, then only the bars after it."""
    options = config.backtest
    params = {"model": manifest.name, "version": str(manifest.version), "enter": options.enter, "exit": options.exit}
    strategy = MlSignal.in_registry(registry.root.resolve())
    runs = []
    for path in config.data:
        series = load_bars(path, tz=config.timezone, on_bad_rows=config.on_bad_rows)
        periods = {
            "in_sample": (series.ts >= window.first_ts) & (series.ts <= window.last_ts),
            "out_of_sample": series.ts > window.last_ts,
        }
        for period, mask in periods.items():
            rows = np.flatnonzero(mask)
            if len(rows) < 2:
                continue
            part = series.slice(int(rows[0]), int(rows[-1]) + 1)
            spec = BacktestSpec(data=path, strategy=MlSignal.name, params=params, cash=options.cash, size=options.size,
                                fill=options.fill, commission_pct=options.commission_pct, timezone=config.timezone)
            result = run_backtest(spec, strategy, series=part)
            runs.append(backtest_run(instrument_name(path), period, part, result.stats.to_dict()))
    return runs


def backtest_run(instrument: str, period: str, part: BarSeries, stats: dict[str, Any]) -> BacktestRun:
    return BacktestRun(instrument=instrument, period=period, first_ts=int(part.ts[0]), last_ts=int(part.ts[-1]),
                       bars=len(part), stats=stats)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser(prog: str = "dto train") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Train ML signal models on Ray and register the best one.")
    parser.add_argument("--config", required=True, help="training YAML (see training/*.yaml)")
    parser.add_argument("--registry", default=None, help="model registry folder or file:// URI (overrides config)")
    parser.add_argument("--address", default=None, help="join this Ray cluster (overrides config)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray started here")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, validate, train, report. Returns the process exit status."""
    try:
        args = build_parser().parse_args(argv)
        config = load_training_config(args.config)
        overrides = {k: v for k, v in (("registry", args.registry), ("address", args.address),
                                       ("num_cpus", args.num_cpus)) if v is not None}
        config = config.model_copy(update=overrides)
        ModelRegistry(config.registry)  # a bad registry URI fails here, before Ray starts
    except SystemExit as exc:  # --help
        return int(cast(Any, exc.code) or 0)
    except (TradingError, ValueError) as exc:
        print(f"dto train: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with ray_session(config.address, config.num_cpus):
            outcome = train(config, progress=None if args.quiet else sys.stderr)
    except (TradingError, ValueError, OSError) as exc:
        print(f"dto train: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(outcome.report.to_dict(), allow_nan=False))
    else:
        print(format_report(outcome.report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
