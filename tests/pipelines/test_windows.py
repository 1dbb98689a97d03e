"""Walk-forward window arithmetic."""

from __future__ import annotations

import itertools

import pytest

from pipelines.windows import walk_forward_windows
from trading.errors import ConfigError


def test_rolling_windows_slide_by_the_test_length() -> None:
    windows = walk_forward_windows(1000, 300, 100)
    assert [(w.train, w.test) for w in windows[:2]] == [((0, 300), (300, 400)), ((100, 400), (400, 500))]
    assert len(windows) == 7  # test windows 300-400 ... 900-1000
    assert all(w.train_stop - w.train_start == 300 for w in windows)


def test_anchored_windows_keep_the_start_and_grow() -> None:
    windows = walk_forward_windows(1000, 300, 100, anchored=True)
    assert all(w.train_start == 0 for w in windows)
    assert [w.train_stop for w in windows] == [300, 400, 500, 600, 700, 800, 900]


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize(("bars", "train", "test"), [(1000, 300, 100), (1234, 250, 77), (500, 2, 2)])
def test_out_of_sample_never_overlaps_and_is_contiguous(bars: int, train: int, test: int, anchored: bool) -> None:
    windows = walk_forward_windows(bars, train, test, anchored=anchored)
    for w in windows:
        assert w.train_stop <= w.test_start  # in-sample ends before out-of-sample begins
        assert w.test_stop - w.test_start == test
        assert w.test_stop <= bars
    for a, b in itertools.pairwise(windows):
        assert a.test_stop == b.test_start
    assert windows[0].test_start == train
    assert bars - windows[-1].test_stop < test  # only a partial window is left out


def test_too_little_data_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        walk_forward_windows(350, 300, 100)
    assert info.value.key == "wf_train"
    with pytest.raises(ConfigError) as info:
        walk_forward_windows(350, 100, 1)
    assert info.value.key == "wf_test"
