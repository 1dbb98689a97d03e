"""Training on Ray end to end on real data: features on Ray Data, fits as Ray tasks, registry, backtests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import FIVE_MINUTE_FILE, MINUTE_FILE, SP500_CONFIG, SP500_FILE

from pipelines import train_signals
from pipelines.features import build_feature_table, table_columns
from pipelines.train_signals import TrainingOutcome, train
from strategies.ml_signal import MlSignal
from trading.backtest.runner import BacktestSpec, run_backtest, run_vectorized
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.ml.dataset import labelled_rows
from trading.ml.features import FeatureSpec
from trading.ml.labels import LabelSpec
from trading.ml.registry import ModelRegistry
from trading.ml.training import TrainingConfig, load_training_config

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> TrainingConfig:
    registry = tmp_path_factory.mktemp("models")
    return load_training_config(SP500_CONFIG).model_copy(update={"registry": f"file://{registry}"})


@pytest.fixture(scope="module")
def trained(ray_local: None, config: TrainingConfig) -> TrainingOutcome:
    return train(config, progress=None)


def _params(outcome: TrainingOutcome, config: TrainingConfig) -> dict[str, object]:
    return {"model": outcome.manifest.name, "version": str(outcome.manifest.version),
            "enter": config.backtest.enter, "exit": config.backtest.exit}


def _strategy(config: TrainingConfig) -> type[MlSignal]:
    return MlSignal.in_registry(config.registry.removeprefix("file://"))


def test_training_registers_the_best_model_with_its_window_data_and_metrics(
    trained: TrainingOutcome, config: TrainingConfig
) -> None:
    manifest = trained.manifest
    assert manifest.name == "sp500_direction" and manifest.version == 1
    assert manifest.kind in {"logistic_regression", "gradient_boosting", "torch_mlp"}
    assert manifest.features == config.features and manifest.feature_names == config.features.names
    assert manifest.data[0].sha256 and len(manifest.data_fingerprint) == 64
    window = manifest.training_window
    series = load_bars(SP500_FILE, tz="America/New_York")
    assert series.ts[0] <= window.first_ts < window.last_ts < series.ts[-1]
    assert window.first.startswith("2019-11-05") and window.last.startswith("2019-11-07")
    assert set(manifest.metrics) >= {"cv_mean", "cv_folds", "in_sample", "out_of_sample"}
    assert 0.0 <= manifest.metrics["out_of_sample"]["auc"] <= 1.0
    report = trained.report
    assert len(report.folds) == 3 and all(f["purged"] > 0 for f in report.folds)
    assert sum(c["chosen"] for c in report.candidates) == 1 and len(report.candidates) == 4
    saved = json.loads((Path(config.registry.removeprefix("file://")) / "sp500_direction/1/report.json").read_text())
    assert saved["version"] == 1 and saved["out_of_sample"]["samples"] == report.out_of_sample["samples"]


def test_out_of_sample_backtest_uses_only_bars_after_the_training_window(
    trained: TrainingOutcome, config: TrainingConfig
) -> None:
    window = trained.manifest.training_window
    runs = {b.period: b for b in trained.report.backtests}
    oos, ins = runs["out_of_sample"], runs["in_sample"]
    assert oos.first_ts > window.last_ts and ins.last_ts == window.last_ts
    assert trained.report.holdout_first_ts > window.last_ts
    # The same run by hand through the core engine: every bar and every fill is after the training window.
    series = load_bars(SP500_FILE, tz="America/New_York")
    after = series.slice(int(np.searchsorted(series.ts, window.last_ts, side="right")), len(series))
    spec = BacktestSpec(data=str(SP500_FILE), strategy="ml_signal", params=_params(trained, config),
                        cash=config.backtest.cash, size=config.backtest.size)
    result = run_backtest(spec, _strategy(config), series=after)
    assert result.ts[0] == oos.first_ts and result.ts.min() > window.last_ts and result.bars == oos.bars
    assert all(fill.ts > window.last_ts for fill in result.fills)
    assert result.stats.to_dict() == oos.stats
    # The vectorized fast path gives the same fills (signals() = the on_bar rule).
    fast = run_vectorized(spec, _strategy(config), after)
    assert fast is not None and len(fast.fill_index) == len(result.fills)
    assert fast.final_value == pytest.approx(float(result.final_value), abs=1e-6)


def test_the_strategy_predicts_causally_and_the_same_on_a_live_window(
    trained: TrainingOutcome, config: TrainingConfig, sp500: BarSeries
) -> None:
    from trading.strategy import build_config

    strategy = _strategy(config)(build_config(MlSignal, _params(trained, config)))  # type: ignore[arg-type]
    full = strategy.indicators(sp500)["p_up"]
    t = 900
    assert np.array_equal(strategy.indicators(sp500.slice(0, t + 1))["p_up"], full[: t + 1], equal_nan=True)
    warm = config.features.warmup_bars
    window = strategy.indicators(sp500.slice(t - warm, t + 1))["p_up"]
    assert window[-1] == pytest.approx(full[t], abs=1e-6)


def test_the_same_config_and_seed_train_the_same_model_metrics_exactly(
    trained: TrainingOutcome, config: TrainingConfig
) -> None:
    again = train(config, progress=None)
    assert again.manifest.version == 2
    assert again.manifest.metrics == trained.manifest.metrics
    assert (again.manifest.kind, again.manifest.params) == (trained.manifest.kind, trained.manifest.params)
    assert [b.stats for b in again.report.backtests] == [b.stats for b in trained.report.backtests]


def test_the_strategy_refuses_a_model_trained_on_other_features(
    trained: TrainingOutcome, config: TrainingConfig
) -> None:
    from trading.errors import ConfigError
    from trading.strategy import build_config

    other = config.features.model_copy(update={"rsi": (7,)}).model_dump(mode="json")
    with pytest.raises(ConfigError, match=r"rsi: \[14\] vs \[7\]"):
        _strategy(config)(build_config(MlSignal, {**_params(trained, config), "features": other}))  # type: ignore[arg-type]


def test_an_overfit_config_prints_a_plain_warning_next_to_the_side_by_side_report(
    ray_local: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(SP500_CONFIG.read_text())
    data.update(name="overfit", registry=str(tmp_path / "models"), cv={"folds": 2},
                models=[{"kind": "gradient_boosting",
                         "grid": {"max_depth": None, "max_iter": 300, "learning_rate": 0.3, "min_samples_leaf": 2}}])
    path = tmp_path / "overfit.yaml"
    path.write_text(yaml.safe_dump(data))
    assert train_signals.main(["--config", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "in-sample   out-of-sample" in out and "AUC" in out and "total return %" in out
    assert "WARNING: out-of-sample AUC" in out and "probably overfit" in out
    manifest = ModelRegistry(tmp_path / "models").manifest("overfit")
    assert manifest.metrics["in_sample"]["auc"] - manifest.metrics["out_of_sample"]["auc"] > 0.1


def test_the_ray_data_feature_job_equals_the_in_process_rows_per_file(ray_local: None) -> None:
    spec, labels = FeatureSpec(), LabelSpec(kind="triple_barrier", horizon=10)
    files = [str(MINUTE_FILE), str(FIVE_MINUTE_FILE)]
    columns = table_columns(build_feature_table(files, spec, labels))
    for path in files:
        expected = labelled_rows(load_bars(path), spec, labels, instrument=Path(path).stem)
        mine = columns["instrument"] == Path(path).stem
        order = np.argsort(columns["ts"][mine])
        for name in ("ts", "label_end_ts", "label", *spec.names):
            np.testing.assert_array_equal(columns[name][mine][order], expected[name], err_msg=name)
