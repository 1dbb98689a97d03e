"""The training config and command line: unknown keys are named, errors are one line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SP500_CONFIG

from pipelines import train_signals
from trading.errors import ConfigError
from trading.ml.scoring import overfit_warning
from trading.ml.training import candidates, load_training_config, parse_training_config


def _write(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load(SP500_CONFIG.read_text())
    data.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_shipped_example_configs_are_valid() -> None:
    for path in sorted((SP500_CONFIG.parent).glob("*.yaml")):
        config = load_training_config(path)
        assert config.models and config.data
    config = load_training_config(SP500_CONFIG)
    grid = candidates(config)
    assert [c.describe() for c in grid][:2] == ["logistic_regression(C=0.1)", "logistic_regression(C=1.0)"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 3}, "unknown key 'epochs'"),
        ({"labels": {"kind": "direction", "horizn": 5}}, "unknown key 'labels.horizn'"),
        ({"models": [{"kind": "gradient_boosting", "grid": {"max_deep": [3]}}]}, "unknown hyperparameter 'max_deep'"),
        ({"models": [{"kind": "random_forest"}]}, "unknown model kind 'random_forest'"),
        ({"backtest": {"enter": 0.4, "exit": 0.6}}, "exit (0.6) must not be above enter (0.4)"),
        ({"holdout": 1.5}, "holdout"),
        ({"data": ["nowhere.csv"]}, "data file nowhere.csv does not exist"),
    ],
)
def test_config_mistakes_are_one_line_errors_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, **changes)
    with pytest.raises(ConfigError) as error:
        load_training_config(path)
    assert message in str(error.value)
    status = train_signals.main(["--config", str(path)])
    err = capsys.readouterr().err
    assert status == 2 and message in err
    assert err.startswith("dto train: error: ") and err.count("\n") == 1


def test_command_line_mistakes_exit_2_before_ray_starts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_signals.main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read config" in capsys.readouterr().err
    assert train_signals.main(["--config", str(SP500_CONFIG), "--registry", "s3://b/m"]) == 2
    assert "only local paths" in capsys.readouterr().err
    assert train_signals.main(["--bogus"]) == 2
    assert "--config" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_training_config([1, 2])


def test_much_worse_out_of_sample_means_an_auc_drop_above_the_threshold() -> None:
    assert overfit_warning(0.70, 0.61) == ""
    assert overfit_warning(0.70, 0.60) == ""  # exactly 0.1 is not "more than"
    warning = overfit_warning(0.90, 0.55)
    assert warning.startswith("WARNING: out-of-sample AUC 0.550 is 0.350 below in-sample 0.900")
    assert overfit_warning(float("nan"), 0.5) == ""
