"""Purged, embargoed walk-forward folds and the holdout split never let a label see its test period."""

from __future__ import annotations

import numpy as np
import pytest

from trading.ml.validation import holdout_split, purged_folds

MINUTE = 60_000_000_000


def _samples(n: int = 1_000, horizon: int = 10) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(n, dtype=np.int64) * MINUTE
    return ts, ts + horizon * MINUTE


def test_walk_forward_trains_only_on_the_past_and_purges_labels_reaching_into_the_test_fold() -> None:
    ts, ends = _samples()
    folds = purged_folds(ts, ends, folds=4, embargo=5)
    assert len(folds) == 4
    for fold in folds:
        test_start = ts[fold.test].min()
        assert ts[fold.train].max() < test_start
        assert ends[fold.train].max() < test_start  # no training label was computed from test-fold prices
        assert fold.purged == 10  # exactly the horizon's worth of samples before the fold
        assert fold.embargoed == 0  # nothing follows a test fold in walk-forward training
        assert fold.test_start_ts == test_start and fold.test_end_ts == ts[fold.test].max()
    tests = np.concatenate([f.test for f in folds])
    assert len(tests) == len(np.unique(tests)) == 800  # 4 of 5 blocks, each sample tested once


def test_kfold_embargoes_a_gap_after_each_test_fold() -> None:
    ts, ends = _samples(horizon=3)
    folds = purged_folds(ts, ends, folds=4, embargo=20, mode="kfold")
    middle = folds[1]
    test_lo, test_hi = middle.test.min(), middle.test.max()
    after = middle.train[middle.train > test_hi]
    assert after.min() == test_hi + 21  # 20 embargoed timestamps, then training resumes
    assert middle.embargoed == 20 and middle.purged == 3
    before = middle.train[middle.train < test_lo]
    assert ends[before].max() < ts[test_lo]


def test_pooled_instruments_share_one_clock() -> None:
    ts = np.repeat(np.arange(300, dtype=np.int64), 2) * MINUTE  # two instruments, same timestamps
    folds = purged_folds(ts, ts + 2 * MINUTE, folds=2)
    for fold in folds:
        test_times = set(ts[fold.test].tolist())
        assert not test_times & set(ts[fold.train].tolist())
        assert len(fold.test) % 2 == 0  # both instruments of a timestamp land in the same fold


def test_holdout_split_purges_training_labels_that_reach_past_the_cutoff() -> None:
    ts, ends = _samples(horizon=10)
    split = holdout_split(ts, ends, 0.3)
    assert split.cutoff_ts == ts[699]
    assert ends[split.train].max() <= split.cutoff_ts
    assert ts[split.holdout].min() > split.cutoff_ts and len(split.holdout) == 300
    assert split.purged == 10 and len(split.train) == 690


def test_bad_inputs_raise() -> None:
    ts, ends = _samples(5)
    with pytest.raises(ValueError, match="cannot make"):
        purged_folds(ts, ends, folds=5)
    with pytest.raises(ValueError, match="ends before"):
        purged_folds(ts, ts - 1, folds=1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        holdout_split(ts, ends, 1.0)
