"""A trade-scope caller cannot make the model loader unpickle a file of its choosing: `ml_signal` takes no
registry path, and models load only from the configured registry."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from actors.research import backtest_spec, datasets
from strategies import MODEL_BASED
from strategies.ml_signal import MlSignal, MlSignalConfig
from trading.errors import ConfigError
from trading.ml.features import FeatureSpec
from trading.ml.labels import LabelSpec
from trading.ml.models import SKLEARN_FILE
from trading.ml.registry import MANIFEST, ModelManifest, ModelNotFound, TrainingWindow
from trading.strategy import build_config


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _planted_registry(root: Path, marker: Path) -> Path:
    """A registry folder an attacker controls, holding a well-formed manifest and a booby-trapped model file."""
    spec = FeatureSpec()
    manifest = ModelManifest(name="evil", version=1, kind="logistic_regression", seed=1, features=spec,
                             feature_names=spec.names, labels=LabelSpec(), training_window=TrainingWindow.of(1, 2))
    folder = root / "evil" / "1"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps(manifest.model_dump(mode="json")))
    (folder / SKLEARN_FILE).write_bytes(pickle.dumps(_Payload(marker)))
    return root


def test_strategy_params_naming_a_registry_path_then_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    root = _planted_registry(tmp_path / "planted", marker)
    assert "registry" not in MlSignalConfig.model_fields  # so POST /v1/strategies answers 422 on params.registry
    with pytest.raises(ConfigError, match="registry"):
        build_config(MlSignal, {"model": "evil", "registry": str(root)})
    with pytest.raises(ConfigError, match="registry"):
        build_config(MlSignal, {"model": "evil", "registry": f"file://{root}"})
    assert not marker.exists()


def test_research_backtest_naming_a_registry_path_then_refused_before_any_load(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    root = _planted_registry(tmp_path / "planted", marker)
    request = {"data": datasets()[0], "strategy": "ml_signal", "params": {"model": "evil", "registry": str(root)}}
    with pytest.raises(ConfigError) as refused:
        backtest_spec(request)
    assert refused.value.key == "params.registry"
    assert not marker.exists()


def test_ml_signal_loads_only_from_the_configured_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    _planted_registry(tmp_path / "planted", marker)
    configured = tmp_path / "configured"
    configured.mkdir()
    monkeypatch.setenv("DTO_MODEL_REGISTRY", str(configured))
    assert "ml_signal" in MODEL_BASED
    with pytest.raises(ModelNotFound, match=str(configured)):
        MlSignal(build_config(MlSignal, {"model": "evil"}))  # type: ignore[arg-type]
    assert not marker.exists()
