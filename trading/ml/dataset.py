"""One instrument's bars -> feature rows with labels, and pooled rows -> a time-ordered training set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trading.data.bars import BarSeries
from trading.ml.features import FeatureSpec, build_features, feature_matrix
from trading.ml.labels import LabelSpec, make_labels

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
KEY_COLUMNS = ("instrument", "ts", "label_end_ts", "label", "forward_return")


def labelled_rows(bars: BarSeries, features: FeatureSpec, labels: LabelSpec, instrument: str) -> dict[str, np.ndarray]:
    """Columns `KEY_COLUMNS` + feature names, for the bars whose features are all defined and label known."""
    values = build_features(bars, features)
    made = make_labels(bars, labels)
    keep = made.known.copy()
    for column in values.values():
        keep &= np.isfinite(column)
    end = made.end[keep]
    rows: dict[str, np.ndarray] = {
        "instrument": np.full(int(keep.sum()), instrument, dtype=object),
        "ts": bars.ts[keep].astype(np.int64),
        "label_end_ts": bars.ts[end].astype(np.int64) if len(end) else np.empty(0, dtype=np.int64),
        "label": made.label[keep],
        "forward_return": made.forward_return[keep],
    }
    rows.update({name: column[keep] for name, column in values.items()})
    return rows


@dataclass(frozen=True)
class TrainingSet:
    """Model inputs pooled over instruments, sorted by (timestamp, instrument): a deterministic order
    whatever order the pipeline's blocks arrived in."""

    x: FloatArray
    y: IntArray  # 1 where the label is +1, else 0
    ts: IntArray
    label_end_ts: IntArray
    instrument: npt.NDArray[np.object_]
    forward_return: FloatArray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y)

    @classmethod
    def from_columns(cls, columns: Mapping[str, npt.ArrayLike], names: tuple[str, ...]) -> TrainingSet:
        missing = [c for c in (*KEY_COLUMNS, *names) if c not in columns]
        if missing:
            raise ValueError(f"feature table lacks columns {missing}")
        instrument = np.asarray(columns["instrument"], dtype=object)
        ts = np.asarray(columns["ts"], dtype=np.int64)
        order = np.lexsort((instrument.astype(str), ts))
        values = {name: np.asarray(columns[name], dtype=np.float64)[order] for name in names}
        return cls(
            x=feature_matrix(values, names) if len(order) else np.empty((0, len(names))),
            y=(np.asarray(columns["label"], dtype=np.float64)[order] > 0).astype(np.int64),
            ts=ts[order],
            label_end_ts=np.asarray(columns["label_end_ts"], dtype=np.int64)[order],
            instrument=instrument[order],
            forward_return=np.asarray(columns["forward_return"], dtype=np.float64)[order],
            names=names,
        )
