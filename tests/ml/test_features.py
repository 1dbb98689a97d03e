"""Features and labels: named, causal (no look-ahead), equal on a live window and on the full history."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MINUTE_FILE

from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.ml.features import FeatureSpec, build_features, feature_matrix
from trading.ml.labels import LabelSpec, direction_labels, forward_returns, make_labels, triple_barrier_labels

SPEC = FeatureSpec(returns=(1, 5, 30), volatility=(15,), sma_ratio=(20,), rsi=(14,), bollinger=(20,), natr=(14,),
                   volume=(20,), day_of_week=True, timezone="America/New_York")


def _with_future_changed(bars: BarSeries, t: int, seed: int) -> BarSeries:
    """The same bars up to t; every bar after t replaced by a different (still valid) random walk."""
    rng = np.random.default_rng(seed)
    n = len(bars)
    close = bars.close.copy()
    steps = rng.normal(0, 0.01, n - t - 1)
    close[t + 1:] = close[t] * np.exp(np.cumsum(steps))
    open_ = bars.open.copy()
    open_[t + 1:] = close[t + 1:] * (1 + rng.normal(0, 0.001, n - t - 1))
    high, low = bars.high.copy(), bars.low.copy()
    high[t + 1:] = np.maximum(open_[t + 1:], close[t + 1:]) * 1.002
    low[t + 1:] = np.minimum(open_[t + 1:], close[t + 1:]) * 0.998
    volume = bars.volume.copy()
    volume[t + 1:] = rng.integers(0, 10_000, n - t - 1)
    return BarSeries(bars.ts, open_, high, low, close, volume)


def test_build_features_returns_every_named_column_as_long_as_the_bars(sp500: BarSeries) -> None:
    values = build_features(sp500, SPEC)
    assert tuple(values) == SPEC.names
    assert SPEC.names[:3] == ("ret_1", "ret_5", "ret_30") and SPEC.names[-4:] == ("tod_sin", "tod_cos", "dow_sin",
                                                                                   "dow_cos")
    for name, column in values.items():
        assert column.shape == (len(sp500),), name
        assert np.all(np.isfinite(column[SPEC.lookback_bars:])), name  # defined after the look-back
    assert feature_matrix(values, SPEC.names).shape == (len(sp500), len(SPEC.names))
    # 09:30 New York is 570 minutes into the day, whatever UTC offset the date has.
    assert values["tod_sin"][0] == pytest.approx(np.sin(2 * np.pi * 570 / 1440))


@pytest.mark.parametrize("t", [0, 40, 700, 1561])
def test_changing_the_future_changes_no_feature_at_or_before_t(sp500: BarSeries, t: int) -> None:
    before = build_features(sp500, SPEC)
    after = build_features(_with_future_changed(sp500, t, seed=t), SPEC)
    for name in SPEC.names:
        np.testing.assert_array_equal(after[name][: t + 1], before[name][: t + 1], err_msg=name)
    if t < len(sp500) - 2:
        assert not np.allclose(after["ret_1"][t + 1:], before["ret_1"][t + 1:])  # the change did reach the data


def test_changing_the_future_changes_labels_but_not_features(sp500: BarSeries) -> None:
    t = 500
    changed = _with_future_changed(sp500, t, seed=1)
    labels = direction_labels(sp500.close, 15).label
    assert not np.array_equal(direction_labels(changed.close, 15).label[t - 15: t + 1], labels[t - 15: t + 1])


def test_a_live_window_gives_the_full_history_features_after_the_warm_up() -> None:
    bars = load_bars(MINUTE_FILE)
    spec = FeatureSpec()
    full = build_features(bars, spec)
    start = 5_000
    window = build_features(bars.slice(start, start + 3_000), spec)
    settled = spec.warmup_bars
    for name in spec.names:
        np.testing.assert_allclose(window[name][settled:], full[name][start + settled: start + 3_000],
                                   rtol=1e-9, atol=1e-12, err_msg=name)
    # Fixed look-back features agree as soon as they are defined.
    np.testing.assert_allclose(window["sma_ratio_60"][60:], full["sma_ratio_60"][start + 60: start + 3_000], rtol=1e-9)


def test_feature_spec_rejects_bad_periods_and_zones_and_lists_differences() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        FeatureSpec(rsi=(1,))
    with pytest.raises(ValueError, match="unknown time zone"):
        FeatureSpec(timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="extra"):
        FeatureSpec.model_validate({"retruns": [1]})
    assert FeatureSpec(returns=(5, 1)) == FeatureSpec(returns=(1, 5))  # order does not matter
    assert FeatureSpec().differences(FeatureSpec(rsi=(7,), time_of_day=False)) == [
        "rsi: [14] vs [7]", "time_of_day: True vs False"]


def test_forward_returns_and_direction_classes_with_a_dead_zone() -> None:
    close = np.array([100.0, 101.0, 100.5, 100.6, 99.0])
    np.testing.assert_allclose(forward_returns(close, 2), [0.005, 101.0 * 0 + 100.6 / 101 - 1, 99 / 100.5 - 1,
                                                           np.nan, np.nan])
    labels = direction_labels(close, 1, dead_zone=0.002)
    np.testing.assert_array_equal(labels.label, [1.0, -1.0, 0.0, -1.0, np.nan])
    np.testing.assert_array_equal(labels.end, [1, 2, 3, 4, -1])


def test_triple_barrier_takes_the_first_barrier_touched_and_the_stop_on_a_tie() -> None:
    ts = np.arange(7, dtype=np.int64) * 60_000_000_000
    close = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    high = np.array([100.0, 100.5, 101.2, 100.0, 100.0, 100.0, 100.0])  # bar 2 hits +1 % from bar 0 and 1
    low = np.array([100.0, 99.5, 99.9, 100.0, 98.9, 100.0, 100.0])  # bar 4 hits -1 %
    bars = BarSeries(ts, close, high, low, close, np.zeros(7))
    labels = triple_barrier_labels(bars, horizon=3, profit_take=0.01, stop_loss=0.01)
    np.testing.assert_array_equal(labels.label[:4], [1.0, 1.0, -1.0, -1.0])
    np.testing.assert_array_equal(labels.end[:4], [2, 2, 4, 4])
    assert np.isnan(labels.label[4:]).all() and (labels.end[4:] == -1).all()
    both = BarSeries(ts[:3], close[:3], np.array([100.0, 102.0, 100.0]), np.array([100.0, 98.0, 100.0]),
                     close[:3], np.zeros(3))
    assert triple_barrier_labels(both, 1, 0.01, 0.01).label[0] == -1.0  # one bar touches both: the stop
    time_out = make_labels(bars, LabelSpec(kind="triple_barrier", horizon=1, profit_take=0.05, stop_loss=0.05))
    assert time_out.label[0] == 0.0 and time_out.end[0] == 1
