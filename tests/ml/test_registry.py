"""The model registry: versions, manifests, fingerprints, and refusing a model trained on other features."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SP500_FILE

from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.ml.features import FeatureSpec, build_features, feature_matrix
from trading.ml.labels import LabelSpec, direction_labels
from trading.ml.models import make_model
from trading.ml.registry import (
    FeatureSpecMismatch,
    ModelManifest,
    ModelNotFound,
    ModelRegistry,
    TrainingWindow,
    fingerprint_files,
    registry_root,
)

SPEC = FeatureSpec(returns=(1, 5), volatility=(10,), sma_ratio=(10,), rsi=(7,), bollinger=(), natr=(), volume=(10,),
                   timezone="America/New_York")


def _fit(kind: str, params: dict[str, object], bars: BarSeries) -> tuple[object, np.ndarray]:
    x = feature_matrix(build_features(bars, SPEC), SPEC.names)
    y = (direction_labels(bars.close, 5).label > 0).astype(np.int64)
    rows = slice(SPEC.lookback_bars, len(bars) - 5)
    model = make_model(kind, params, seed=3)
    model.fit(x[rows], y[rows])
    return model, x


def _manifest(name: str = "sp") -> ModelManifest:
    files, fingerprint = fingerprint_files([SP500_FILE])
    return ModelManifest(name=name, kind="", seed=3, features=SPEC, feature_names=SPEC.names, labels=LabelSpec(),
                         training_window=TrainingWindow.of(1, 2), data=files, data_fingerprint=fingerprint)


@pytest.mark.parametrize(("kind", "params"), [("logistic_regression", {"C": 0.5}),
                                               ("gradient_boosting", {"max_iter": 20}),
                                               ("torch_mlp", {"hidden": [8], "epochs": 3})])
def test_a_registered_model_loads_back_and_predicts_the_same(
    tmp_path: Path, sp500: BarSeries, kind: str, params: dict[str, object]
) -> None:
    model, x = _fit(kind, params, sp500)
    registry = ModelRegistry(tmp_path)
    stored = registry.register(model, _manifest().model_copy(update={"kind": kind, "params": params}))  # type: ignore[arg-type]
    assert stored.version == 1 and stored.model_file in {"model.joblib", "model.pt"}
    loaded = registry.load("sp", "latest", expected=SPEC)
    np.testing.assert_array_equal(loaded.model.predict_proba(x), model.predict_proba(x))  # type: ignore[attr-defined]
    p = loaded.predict(sp500)
    assert np.isnan(p[: SPEC.lookback_bars]).all() and np.isfinite(p[SPEC.lookback_bars:]).all()
    manifest = json.loads((tmp_path / "sp/1/manifest.json").read_text())
    assert manifest["data"][0]["sha256"] == hashlib.sha256(SP500_FILE.read_bytes()).hexdigest()
    assert {"python", "numpy", "scikit-learn", "torch"} <= set(manifest["libraries"])
    assert manifest["training_window"]["first_ts"] == 1 and manifest["features"]["rsi"] == [7]


def test_versions_count_up_and_latest_is_the_newest(tmp_path: Path, sp500: BarSeries) -> None:
    model, _ = _fit("logistic_regression", {}, sp500)
    registry = ModelRegistry(f"file://{tmp_path}")
    for _ in range(3):
        registry.register(model, _manifest().model_copy(update={"kind": "logistic_regression"}))  # type: ignore[arg-type]
    assert registry.versions("sp") == [1, 2, 3] and registry.names() == ["sp"]
    assert registry.manifest("sp").version == 3 and registry.manifest("sp", 2).version == 2
    assert registry.load("sp", "v1").manifest.version == 1
    with pytest.raises(ModelNotFound, match=r"no version 9 \(versions: 1, 2, 3\)"):
        registry.load("sp", 9)
    with pytest.raises(ModelNotFound, match=r"no model named 'other'.*models: sp"):
        registry.load("other")
    assert not list(tmp_path.glob("sp/.staging-*"))


def test_loading_refuses_a_model_trained_on_other_features_and_names_the_difference(
    tmp_path: Path, sp500: BarSeries
) -> None:
    model, _ = _fit("logistic_regression", {}, sp500)
    registry = ModelRegistry(tmp_path)
    registry.register(model, _manifest().model_copy(update={"kind": "logistic_regression"}))  # type: ignore[arg-type]
    mine = SPEC.model_copy(update={"returns": (1, 5, 15), "time_of_day": False})
    with pytest.raises(FeatureSpecMismatch) as error:
        registry.load("sp", expected=mine)
    message = str(error.value)
    assert "returns: [1, 5] vs [1, 5, 15]" in message and "time_of_day: True vs False" in message
    assert "\n" not in message
    path = tmp_path / "sp/1/manifest.json"
    stale = json.loads(path.read_text())
    stale["feature_code_version"] = 0
    path.write_text(json.dumps(stale))
    with pytest.raises(FeatureSpecMismatch, match="feature code version 0"):
        registry.load("sp")


def test_the_registry_root_comes_from_config_then_dto_home_then_the_working_folder() -> None:
    assert registry_root("file:///srv/models") == Path("/srv/models")
    assert registry_root("/x/y") == Path("/x/y")
    assert registry_root(None, {"DTO_HOME": "/home/me/.dto"}) == Path("/home/me/.dto/models")
    assert registry_root("", {}) == Path("models")
    with pytest.raises(ConfigError, match="only local paths and file://"):
        registry_root("s3://bucket/models")
    with pytest.raises(ConfigError, match="model name"):
        ModelRegistry("/tmp").versions("../escape")
