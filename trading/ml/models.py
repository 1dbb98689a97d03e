"""Signal models behind one small interface: fit on (X, y), predict P(up) per row, save to and load from a folder.

Kinds:
- `logistic_regression`: standardized inputs + scikit-learn LogisticRegression;
- `gradient_boosting`: scikit-learn HistGradientBoostingClassifier (no early stopping, seeded);
- `torch_mlp`: a small multilayer perceptron in torch, trained full-determinism (seeded, one thread,
  deterministic algorithms, seeded mini-batch order).

Predictions are row by row (no state across rows), so causal features give causal probabilities. A row
with a NaN feature gets a NaN probability (a strategy then does nothing on that bar).
Saved as joblib (scikit-learn) or `torch.save(state_dict)` (torch); the hyperparameters that rebuild the
network travel in the registry manifest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
import numpy.typing as npt
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from trading.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
SKLEARN_FILE = "model.joblib"
TORCH_FILE = "model.pt"


class SignalModel(Protocol):
    kind: str
    params: dict[str, Any]

    def fit(self, x: FloatArray, y: npt.NDArray[np.int64]) -> None: ...

    def predict_proba(self, x: FloatArray) -> FloatArray: ...

    def save(self, folder: Path) -> str: ...


def _rows_ok(x: FloatArray) -> npt.NDArray[np.bool_]:
    ok: npt.NDArray[np.bool_] = np.all(np.isfinite(x), axis=1)
    return ok


class SklearnModel:
    """A scikit-learn classifier; `estimator` is built from `kind`, `params` and `seed`."""

    def __init__(self, kind: str, params: Mapping[str, Any], seed: int, estimator: Any = None) -> None:
        self.kind = kind
        self.params = dict(params)
        self.seed = seed
        self.estimator = estimator if estimator is not None else _sklearn_estimator(kind, self.params, seed)

    def fit(self, x: FloatArray, y: npt.NDArray[np.int64]) -> None:
        self.estimator.fit(x, y)

    def predict_proba(self, x: FloatArray) -> FloatArray:
        out = np.full(len(x), np.nan)
        ok = _rows_ok(x)
        if ok.any():
            classes = list(self.estimator.classes_)
            proba = self.estimator.predict_proba(x[ok])
            out[ok] = proba[:, classes.index(1)] if 1 in classes else 0.0
        return out

    def save(self, folder: Path) -> str:
        joblib.dump(self.estimator, folder / SKLEARN_FILE)
        return SKLEARN_FILE


def _sklearn_estimator(kind: str, params: dict[str, Any], seed: int) -> Any:
    if kind == "logistic_regression":
        settings = {"max_iter": 1000, **params, "random_state": seed}
        return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(**settings))])
    settings = {"early_stopping": False, **params, "random_state": seed}
    return HistGradientBoostingClassifier(**settings)


class _Mlp(torch.nn.Module):
    def __init__(self, inputs: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        width = inputs
        for size in hidden:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
            width = size
        layers.append(torch.nn.Linear(width, 1))
        self.body = torch.nn.Sequential(*layers)
        # Input standardization lives in the state dict, so a saved model carries it.
        self.mean: torch.Tensor
        self.scale: torch.Tensor
        self.register_buffer("mean", torch.zeros(inputs, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(inputs, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = ((x - self.mean) / self.scale).to(torch.float32)
        out: torch.Tensor = self.body(scaled).squeeze(-1)
        return out


TORCH_DEFAULTS: dict[str, Any] = {
    "hidden": (32, 16),
    "epochs": 20,
    "lr": 1e-3,
    "batch_size": 256,
    "weight_decay": 0.0,
    "dropout": 0.0,
}


@contextlib.contextmanager
def deterministic_torch(seed: int) -> Iterator[None]:
    """Seeded, single-threaded, deterministic torch for the duration of the block."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)


class TorchMlp:
    """A multilayer perceptron with a sigmoid output, trained by Adam on binary cross-entropy."""

    kind = "torch_mlp"

    def __init__(self, params: Mapping[str, Any], seed: int, inputs: int | None = None) -> None:
        self.params = dict(params)
        self.settings = {**TORCH_DEFAULTS, **self.params}
        self.settings["hidden"] = tuple(int(h) for h in self.settings["hidden"])
        self.seed = seed
        self.net: _Mlp | None = None
        if inputs is not None:
            self.net = self._build(inputs)

    def _build(self, inputs: int) -> _Mlp:
        return _Mlp(inputs, self.settings["hidden"], float(self.settings["dropout"]))

    def fit(self, x: FloatArray, y: npt.NDArray[np.int64]) -> None:
        with deterministic_torch(self.seed):
            net = self._build(x.shape[1])
            mean, std = x.mean(axis=0), x.std(axis=0)
            net.mean.copy_(torch.from_numpy(mean))
            net.scale.copy_(torch.from_numpy(np.where(std > 0, std, 1.0)))
            inputs = torch.from_numpy(np.ascontiguousarray(x))
            target = torch.from_numpy(y.astype(np.float32))
            optimizer = torch.optim.Adam(
                net.parameters(), lr=float(self.settings["lr"]), weight_decay=float(self.settings["weight_decay"])
            )
            loss_fn = torch.nn.BCEWithLogitsLoss()
            order = torch.Generator().manual_seed(self.seed)
            batch = int(self.settings["batch_size"])
            net.train()
            for _ in range(int(self.settings["epochs"])):
                for rows in torch.split(torch.randperm(len(inputs), generator=order), batch):
                    optimizer.zero_grad()
                    loss = loss_fn(net(inputs[rows]), target[rows])
                    loss.backward()
                    optimizer.step()
            net.eval()
            self.net = net

    def predict_proba(self, x: FloatArray) -> FloatArray:
        if self.net is None:
            raise RuntimeError("torch_mlp: predict before fit or load")
        out = np.full(len(x), np.nan)
        ok = _rows_ok(x)
        if ok.any():
            with deterministic_torch(self.seed), torch.no_grad():
                logits = self.net(torch.from_numpy(np.ascontiguousarray(x[ok])))
                out[ok] = torch.sigmoid(logits).to(torch.float64).numpy()
        return out

    def save(self, folder: Path) -> str:
        if self.net is None:
            raise RuntimeError("torch_mlp: save before fit")
        torch.save(self.net.state_dict(), folder / TORCH_FILE)
        return TORCH_FILE


MODEL_KINDS = ("logistic_regression", "gradient_boosting", "torch_mlp")


def check_params(kind: str, params: Mapping[str, Any]) -> None:
    """Raise ConfigError naming an unknown model kind or hyperparameter, before any fit runs."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})", key="models.kind")
    if kind == "torch_mlp":
        known = set(TORCH_DEFAULTS)
    else:
        estimator = LogisticRegression() if kind == "logistic_regression" else HistGradientBoostingClassifier()
        known = set(estimator.get_params()) - {"random_state"}  # the run's seed sets it
    for key in params:
        if key not in known:
            raise ConfigError(
                f"model {kind}: unknown hyperparameter {key!r} (known: {', '.join(sorted(known))})",
                key=f"models.{kind}.{key}",
            )


def make_model(kind: str, params: Mapping[str, Any], seed: int) -> SignalModel:
    """A fresh, unfitted model."""
    check_params(kind, params)
    if kind == "torch_mlp":
        return TorchMlp(params, seed)
    return SklearnModel(kind, params, seed)


def load_model(kind: str, params: Mapping[str, Any], seed: int, folder: Path, inputs: int) -> SignalModel:
    """A fitted model saved by `SignalModel.save` into `folder`."""
    if kind == "torch_mlp":
        model = TorchMlp(params, seed, inputs=inputs)
        assert model.net is not None
        state = torch.load(folder / TORCH_FILE, weights_only=True)
        model.net.load_state_dict(state)
        model.net.eval()
        return model
    if kind in MODEL_KINDS:
        return SklearnModel(kind, params, seed, estimator=joblib.load(folder / SKLEARN_FILE))
    raise ConfigError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})", key="kind")
