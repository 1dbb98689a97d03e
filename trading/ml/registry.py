"""Trained models on disk, by name and version, each with a JSON manifest that says what it is.

Layout (the root comes from config; default `$DTO_MODEL_REGISTRY`, else `$DTO_HOME/models`, else `./models`;
`file://` URIs accepted):

```
<root>/<name>/<version>/manifest.json    kind, hyperparameters, seed, feature spec, label spec, training window,
                                         metrics, data files with sha256, data fingerprint, library versions
<root>/<name>/<version>/model.joblib     scikit-learn (joblib), or model.pt: torch state_dict
```

Versions are 1, 2, 3, ... A version folder is written under a temporary name and renamed into place, so a
reader never sees half a model and two writers never get the same number. `load` refuses a model whose
feature spec differs from the caller's, or whose features were computed by other feature code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trading.data.bars import BarSeries
from trading.errors import ConfigError
from trading.ml.features import FEATURE_CODE_VERSION, FeatureSpec, build_features, feature_matrix
from trading.ml.labels import LabelSpec
from trading.ml.models import SignalModel, load_model

MANIFEST = "manifest.json"
LATEST = "latest"
REGISTRY_ENV = "DTO_MODEL_REGISTRY"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "ta-lib", "joblib", "pyarrow")


class ModelNotFound(ConfigError):
    """No model by that name, or no such version of it."""


class FeatureSpecMismatch(ConfigError):
    """The model was trained on other features than the caller computes."""


def registry_root(location: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """`location` (a path or a `file://` URI); else `$DTO_MODEL_REGISTRY`; else `$DTO_HOME/models`; else `./models`."""
    if location is None or str(location) == "":
        environ = os.environ if env is None else env
        configured = environ.get(REGISTRY_ENV)
        if configured:
            return registry_root(configured, {})
        home = environ.get("DTO_HOME")
        return Path(home) / "models" if home else Path("models")
    text = str(location)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise ConfigError(f"model registry {text!r}: only local paths and file:// are supported, not {scheme}://",
                          key="registry")
    return Path(text)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DataFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str
    bytes: int


def fingerprint_files(paths: Iterable[str | Path]) -> tuple[list[DataFile], str]:
    """Each file's sha256, and one sha256 over all of them (order-independent)."""
    files = [DataFile(path=str(p), sha256=file_sha256(p), bytes=Path(p).stat().st_size) for p in paths]
    combined = hashlib.sha256("\n".join(sorted(f.sha256 for f in files)).encode()).hexdigest()
    return files, combined


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def iso(ts_ns: int) -> str:
    return pd.Timestamp(ts_ns, unit="ns", tz="UTC").isoformat()


class TrainingWindow(BaseModel):
    """The fit's time span (UTC ns, bar open times): its first labelled sample, and the cutoff; every label the
    fit used ends at or before `last_ts`, and everything after it is out of sample."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_ts: int
    last_ts: int
    first: str = ""
    last: str = ""

    @classmethod
    def of(cls, first_ts: int, last_ts: int) -> TrainingWindow:
        return cls(first_ts=first_ts, last_ts=last_ts, first=iso(first_ts), last=iso(last_ts))


class ModelManifest(BaseModel):
    """Everything known about one registered model version."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str
    version: int = 0
    created_at: str = ""
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int
    features: FeatureSpec
    feature_code_version: int = FEATURE_CODE_VERSION
    feature_names: tuple[str, ...]
    labels: LabelSpec
    training_window: TrainingWindow
    metrics: dict[str, Any] = Field(default_factory=dict)
    data: list[DataFile] = Field(default_factory=list)
    data_fingerprint: str = ""
    libraries: dict[str, str] = Field(default_factory=library_versions)
    model_file: str = ""
    config: dict[str, Any] = Field(default_factory=dict)


@dataclass
class RegisteredModel:
    """A loaded model with its manifest; `predict` turns bars into P(up) per bar, causally."""

    manifest: ModelManifest
    model: SignalModel
    folder: Path

    @property
    def features(self) -> FeatureSpec:
        return self.manifest.features

    def predict(self, bars: BarSeries) -> npt.NDArray[np.float64]:
        values = build_features(bars, self.manifest.features)
        if len(bars) == 0:
            return np.empty(0)
        return self.model.predict_proba(feature_matrix(values, self.manifest.feature_names))


class ModelRegistry:
    """Models under one root folder."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = registry_root(root)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        folders = [p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name)]
        return sorted(name for name in folders if self.versions(name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / _checked_name(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / MANIFEST).is_file())

    def register(self, model: SignalModel, manifest: ModelManifest) -> ModelManifest:
        """Save `model` as the next version of `manifest.name`; returns the manifest as stored."""
        name = _checked_name(manifest.name)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            model_file = model.save(staging)
            for _ in range(1000):
                version = max([0, *self.versions(name), *_taken(folder)]) + 1
                stored = manifest.model_copy(
                    update={"version": version, "created_at": datetime.now(UTC).isoformat(), "model_file": model_file}
                )
                (staging / MANIFEST).write_text(json.dumps(stored.model_dump(mode="json"), indent=2) + "\n")
                try:
                    staging.rename(folder / str(version))  # atomic; fails if another writer took the number
                except OSError:
                    continue
                return stored
            raise RuntimeError(f"could not allocate a version for model {name!r}")
        finally:
            if staging.exists():
                shutil.rmtree(staging)

    def manifest(self, name: str, version: int | str = LATEST) -> ModelManifest:
        number = self._resolve(name, version)
        path = self.root / name / str(number) / MANIFEST
        return ModelManifest.model_validate(json.loads(path.read_text()))

    def load(self, name: str, version: int | str = LATEST, expected: FeatureSpec | None = None) -> RegisteredModel:
        """Load `name` at `version` (a number or "latest"). With `expected`, refuse a model trained on other
        features; always refuse one whose feature code version or column list differs from this code's."""
        manifest = self.manifest(name, version)
        label = f"model {name!r} version {manifest.version}"
        if manifest.feature_code_version != FEATURE_CODE_VERSION:
            raise FeatureSpecMismatch(
                f"{label} was trained with feature code version {manifest.feature_code_version}, this code computes "
                f"version {FEATURE_CODE_VERSION}: retrain it",
                key="features",
            )
        if expected is not None and expected != manifest.features:
            diff = "; ".join(manifest.features.differences(expected))
            raise FeatureSpecMismatch(
                f"{label} was trained on other features than requested (model vs requested: {diff})", key="features"
            )
        if tuple(manifest.features.names) != tuple(manifest.feature_names):
            raise FeatureSpecMismatch(
                f"{label}: its feature columns {list(manifest.feature_names)} are not what its spec gives today "
                f"({list(manifest.features.names)})",
                key="features",
            )
        folder = self.root / name / str(manifest.version)
        model = load_model(manifest.kind, manifest.params, manifest.seed, folder, inputs=len(manifest.feature_names))
        return RegisteredModel(manifest=manifest, model=model, folder=folder)

    def _resolve(self, name: str, version: int | str) -> int:
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFound(f"no model named {name!r} in {self.root} (models: {known})", key="model")
        if str(version) == LATEST:
            return versions[-1]
        try:
            number = int(str(version).removeprefix("v"))
        except ValueError:
            raise ModelNotFound(f"model version must be a number or 'latest', got {version!r}", key="version") from None
        if number not in versions:
            raise ModelNotFound(
                f"model {name!r} has no version {number} (versions: {', '.join(map(str, versions))})", key="version"
            )
        return number


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"model name {name!r} must be letters, digits, '_', '.' or '-' (up to 100)", key="name")
    return name


def _taken(folder: Path) -> list[int]:
    return [int(p.name) for p in folder.iterdir() if p.name.isdigit()]
