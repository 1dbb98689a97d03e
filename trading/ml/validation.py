"""Time-ordered cross-validation that cannot leak the future: purged, embargoed walk-forward folds.

Samples are placed on one clock (their timestamps; several instruments pool on the same clock). The span
is cut into `folds + 1` consecutive blocks of about equal numbers of distinct timestamps. In walk-forward
mode fold k tests on block k + 1 and trains on blocks 0..k; in k-fold mode it tests on block k and trains
on every other block. Then, for every fold:

- purge: a training sample whose label window [ts, label_end] overlaps the test block's time span is
  dropped (its label was computed from test-fold prices);
- embargo: training samples in the `embargo` timestamps right after the test block are dropped (features
  there still carry the test period through their look-back windows). In walk-forward mode nothing follows
  the test block in training, so the embargo only bites in k-fold mode.

`holdout_split` cuts the final out-of-sample period off the same way before any fold is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Fold:
    """One split: sample indices (into the arrays given) for training and testing, and the test time span."""

    number: int
    train: IntArray
    test: IntArray
    test_start_ts: int
    test_end_ts: int
    purged: int
    embargoed: int


def purged_folds(
    ts: npt.ArrayLike,
    label_end_ts: npt.ArrayLike,
    *,
    folds: int,
    embargo: int = 0,
    mode: Literal["walk_forward", "kfold"] = "walk_forward",
    min_train: int = 1,
) -> list[Fold]:
    """The folds over samples stamped `ts` whose labels are known at `label_end_ts` (same unit, >= ts)."""
    stamps = np.asarray(ts, dtype=np.int64)
    ends = np.asarray(label_end_ts, dtype=np.int64)
    if stamps.shape != ends.shape:
        raise ValueError(f"ts has {len(stamps)} samples, label_end_ts {len(ends)}")
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    if np.any(ends < stamps):
        raise ValueError("a label ends before its sample's timestamp")
    clock = np.unique(stamps)
    blocks = folds + 1 if mode == "walk_forward" else folds
    if len(clock) < blocks:
        raise ValueError(f"{len(clock)} distinct timestamps cannot make {blocks} time blocks")
    edges = np.linspace(0, len(clock), blocks + 1).round().astype(np.int64)
    position = np.searchsorted(clock, stamps)  # each sample's place on the clock
    out: list[Fold] = []
    test_blocks = range(1, blocks) if mode == "walk_forward" else range(blocks)
    for number, block in enumerate(test_blocks):
        lo, hi = int(edges[block]), int(edges[block + 1])  # test block: clock positions [lo, hi)
        start_ts, end_ts = int(clock[lo]), int(clock[hi - 1])
        in_test = (position >= lo) & (position < hi)
        candidate = position < lo if mode == "walk_forward" else ~in_test
        overlaps = (stamps <= end_ts) & (ends >= start_ts)
        purge = candidate & overlaps
        embargo_end = min(hi + embargo, len(clock))
        embargoed = candidate & ~purge & (position >= hi) & (position < embargo_end)
        train = np.flatnonzero(candidate & ~purge & ~embargoed)
        if len(train) < min_train:
            raise ValueError(f"fold {number}: {len(train)} training samples left after purging (need {min_train})")
        out.append(
            Fold(
                number=number,
                train=train.astype(np.int64),
                test=np.flatnonzero(in_test).astype(np.int64),
                test_start_ts=start_ts,
                test_end_ts=end_ts,
                purged=int(purge.sum()),
                embargoed=int(embargoed.sum()),
            )
        )
    return out


@dataclass(frozen=True)
class HoldoutSplit:
    """Training samples (purged against the holdout) and the later out-of-sample ones."""

    train: IntArray
    holdout: IntArray
    cutoff_ts: int  # last timestamp of the training window; every holdout sample is later
    purged: int


def holdout_split(ts: npt.ArrayLike, label_end_ts: npt.ArrayLike, fraction: float) -> HoldoutSplit:
    """Keep the last `fraction` of the distinct timestamps out of sample. Training samples are those at or
    before the cutoff whose labels are known by the cutoff: no label reaches into the holdout."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be between 0 and 1, got {fraction}")
    stamps = np.asarray(ts, dtype=np.int64)
    ends = np.asarray(label_end_ts, dtype=np.int64)
    clock = np.unique(stamps)
    if len(clock) < 2:
        raise ValueError("need at least two distinct timestamps to hold some out")
    keep = min(max(1, round(len(clock) * (1 - fraction))), len(clock) - 1)
    cutoff = int(clock[keep - 1])
    before = stamps <= cutoff
    purge = before & (ends > cutoff)
    return HoldoutSplit(
        train=np.flatnonzero(before & ~purge).astype(np.int64),
        holdout=np.flatnonzero(~before).astype(np.int64),
        cutoff_ts=cutoff,
        purged=int(purge.sum()),
    )
