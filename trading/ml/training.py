"""A training run described as data (`TrainingConfig`), and the Ray-free steps the pipeline distributes.

The YAML file of `dto train --config` is exactly a `TrainingConfig`: unknown keys are errors naming the key,
every field is described. Steps: candidates from the model grids, one fit-and-score per (candidate, fold),
the best candidate by its mean fold score, a final fit on the whole training window.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trading.errors import ConfigError
from trading.ml.features import FeatureSpec
from trading.ml.labels import LabelSpec
from trading.ml.models import SignalModel, check_params, make_model
from trading.ml.scoring import OVERFIT_AUC_DROP, classification_scores

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# Scores where smaller is better.
_MINIMIZED = frozenset({"log_loss"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class ModelGrid(_Strict):
    kind: str = Field(description="logistic_regression, gradient_boosting or torch_mlp")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="hyperparameter -> values to try (a single value is a list of one)"
    )

    @field_validator("grid", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _known(self) -> ModelGrid:
        check_params(self.kind, self.grid)
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid {key!r} has no values")
        return self


class CvSpec(_Strict):
    folds: int = Field(3, ge=1, le=20, description="number of test folds")
    embargo: int = Field(0, ge=0, description="timestamps dropped from training after each test fold")
    mode: Literal["walk_forward", "kfold"] = Field("walk_forward", description="train only on the past, or around")


class BacktestOptions(_Strict):
    enter: float = Field(0.55, gt=0, lt=1, description="go long when P(up) is above this")
    exit: float = Field(0.45, gt=0, lt=1, description="go flat when P(up) is below this")
    size: Decimal = Field(Decimal(1), gt=0, description="order quantity per entry")
    cash: Decimal = Field(Decimal(100_000), gt=0, description="starting cash")
    fill: Literal["next_open", "close"] = Field("next_open", description="fill timing of market orders")
    commission_pct: Decimal = Field(Decimal(0), ge=0, description="commission in percent of notional")

    @model_validator(mode="after")
    def _ordered(self) -> BacktestOptions:
        if self.exit > self.enter:
            raise ValueError(f"exit ({self.exit}) must not be above enter ({self.enter})")
        return self


class TrainingConfig(_Strict):
    """One training run: data, features, labels, validation, model grids, registry, backtest."""

    name: str = Field(description="registry name of the trained model")
    data: list[str] = Field(min_length=1, description="bar files, pooled on one clock (same period)")
    timezone: str = Field("UTC", description="time zone of naive timestamps in the data files")
    on_bad_rows: Literal["raise", "drop"] = Field("raise", description="what to do with invalid rows in the data")
    features: FeatureSpec = Field(default_factory=FeatureSpec, description="the model's inputs")
    labels: LabelSpec = Field(default_factory=LabelSpec, description="what the model predicts")
    cv: CvSpec = Field(default_factory=CvSpec, description="purged walk-forward cross-validation")
    holdout: float = Field(0.3, gt=0, lt=1, description="last fraction of the time span kept out of sample")
    models: list[ModelGrid] = Field(min_length=1, description="model kinds and hyperparameter grids")
    metric: Literal["auc", "accuracy", "log_loss"] = Field("auc", description="picks the best candidate")
    seed: int = Field(0, ge=0, description="seed of every model fit")
    registry: str = Field("", description="model registry folder or file:// URI (default $DTO_HOME/models)")
    overfit_auc_drop: float = Field(OVERFIT_AUC_DROP, gt=0, description="warn if OOS AUC is this far below IS")
    backtest: BacktestOptions = Field(default_factory=BacktestOptions, description="the ML strategy's backtests")
    address: str | None = Field(None, description="Ray cluster to join (default: local or the job's)")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local Ray started for this run")


def parse_training_config(data: Any, source: str = "config") -> TrainingConfig:
    """Validate a loaded YAML mapping; the first problem raises a one-line ConfigError naming its key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys, got {type(data).__name__}", key="config")
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"]) or "<config>"
        if error["type"] == "extra_forbidden":
            raise ConfigError(f"{source}: unknown key {key!r}", key=key) from None
        if error["type"] == "missing":
            raise ConfigError(f"{source}: missing key {key!r}", key=key) from None
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {key}: {message}", key=key) from None
    except ConfigError as exc:  # a model validator's own message (unknown hyperparameter)
        raise ConfigError(f"{source}: {exc}", key=exc.key) from None


def load_training_config(path: str | Path) -> TrainingConfig:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}", key="config") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ConfigError(f"config {path} is not valid YAML: {first}", key="config") from None
    config = parse_training_config(loaded, str(path))
    for file in config.data:
        if not Path(file).is_file():
            raise ConfigError(f"{path}: data file {file} does not exist", key="data")
    return config


@dataclass(frozen=True)
class Candidate:
    """One (model kind, hyperparameters) to cross-validate."""

    number: int
    kind: str
    params: dict[str, Any]

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({shown})"


def candidates(config: TrainingConfig) -> list[Candidate]:
    """Every grid point of every model, in config order."""
    out: list[Candidate] = []
    for grid in config.models:
        keys = list(grid.grid)
        for values in itertools.product(*(grid.grid[k] for k in keys)):
            out.append(Candidate(len(out), grid.kind, dict(zip(keys, values, strict=True))))
    return out


def fit_and_score(
    candidate: Candidate, seed: int, x: FloatArray, y: IntArray, train: IntArray, test: IntArray
) -> dict[str, float]:
    """Fit on the `train` rows and score on the `test` rows; adds `fit_s`."""
    model = make_model(candidate.kind, candidate.params, seed)
    started = time.perf_counter()
    if len(np.unique(y[train])) < 2:
        raise ConfigError(f"{candidate.describe()}: a training fold has only one class; use fewer folds or more data")
    model.fit(x[train], y[train])
    fit_s = time.perf_counter() - started
    return {**classification_scores(y[test], model.predict_proba(x[test])), "fit_s": fit_s}


def fit_final(
    candidate: Candidate, seed: int, x: FloatArray, y: IntArray, x_out: FloatArray, y_out: IntArray
) -> tuple[SignalModel, dict[str, float], dict[str, float]]:
    """Fit on the whole training window; score it in sample and on the holdout."""
    model = make_model(candidate.kind, candidate.params, seed)
    model.fit(x, y)
    in_sample = classification_scores(y, model.predict_proba(x))
    return model, in_sample, classification_scores(y_out, model.predict_proba(x_out))


def mean_score(folds: list[dict[str, float]], metric: str) -> float:
    values = [f[metric] for f in folds if math.isfinite(f[metric])]
    return float(np.mean(values)) if values else float("nan")


def choose_best(scores: dict[int, list[dict[str, float]]], metric: str) -> int:
    """The candidate number with the best mean fold score (the first one on a tie; NaN never wins)."""
    sign = -1.0 if metric in _MINIMIZED else 1.0
    best, best_value = -1, -math.inf
    for number in sorted(scores):
        value = mean_score(scores[number], metric)
        if math.isfinite(value) and sign * value > best_value:
            best, best_value = number, sign * value
    if best < 0:
        raise ConfigError(f"no candidate has a defined {metric} on any fold (too little data per fold?)", key="metric")
    return best
