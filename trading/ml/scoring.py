"""Classification scores of predicted probabilities, and the in-sample vs out-of-sample overfitting check."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import log_loss, roc_auc_score

FloatArray = npt.NDArray[np.float64]

# "Much worse out of sample": the AUC falls by more than this from in-sample to out-of-sample. An AUC of 0.5
# is a coin flip, so a drop of 0.1 is a fifth of the whole useful range: the in-sample edge did not carry over.
OVERFIT_AUC_DROP = 0.1


def classification_scores(y: npt.ArrayLike, proba: npt.ArrayLike, threshold: float = 0.5) -> dict[str, float]:
    """accuracy (at `threshold`), ROC AUC, log loss, base rate and sample count; NaN where undefined."""
    truth = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    ok = np.isfinite(p)
    truth, p = truth[ok], p[ok]
    if len(truth) == 0:
        nan = float("nan")
        return {"accuracy": nan, "auc": nan, "log_loss": nan, "base_rate": nan, "samples": 0.0}
    both = len(np.unique(truth)) == 2
    return {
        "accuracy": float(np.mean((p > threshold) == (truth == 1))),
        "auc": float(roc_auc_score(truth, p)) if both else float("nan"),
        "log_loss": float(log_loss(truth, np.clip(p, 1e-12, 1 - 1e-12), labels=[0, 1])),
        "base_rate": float(np.mean(truth)),
        "samples": float(len(truth)),
    }


def overfit_warning(in_sample_auc: float, out_of_sample_auc: float, max_drop: float = OVERFIT_AUC_DROP) -> str:
    """A plain warning when out-of-sample AUC is more than `max_drop` below in-sample, else ''."""
    if not (math.isfinite(in_sample_auc) and math.isfinite(out_of_sample_auc)):
        return ""
    drop = in_sample_auc - out_of_sample_auc
    if drop <= max_drop:
        return ""
    return (
        f"WARNING: out-of-sample AUC {out_of_sample_auc:.3f} is {drop:.3f} below in-sample {in_sample_auc:.3f} "
        f"(more than {max_drop:.2f}): the model is probably overfit; do not trust its in-sample figures"
    )


def jsonable(value: Any) -> Any:
    """A copy of nested dicts, lists and numbers in which NaN and inf are None, so it is strict JSON."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
