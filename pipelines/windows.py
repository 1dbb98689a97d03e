"""Walk-forward windows counted in bars: in-sample (train) followed by out-of-sample (test).

Rolling windows slide the train window forward by the test length; anchored windows keep the train start
at bar 0 and grow. Either way the test windows are contiguous, never overlap their train window, and only
whole test windows are made (the bars after the last whole one are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

from trading.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """Bar ranges [start, stop) of one walk-forward step."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    @property
    def train(self) -> tuple[int, int]:
        return self.train_start, self.train_stop

    @property
    def test(self) -> tuple[int, int]:
        return self.test_start, self.test_stop


def walk_forward_windows(bars: int, train: int, test: int, *, anchored: bool = False) -> list[Window]:
    """The windows over a series of `bars` bars; raises ConfigError when not even one fits."""
    if train < 2:
        raise ConfigError(f"--wf-train must be at least 2 bars, got {train}", key="wf_train")
    if test < 2:
        raise ConfigError(f"--wf-test must be at least 2 bars, got {test}", key="wf_test")
    windows: list[Window] = []
    k = 0
    while True:
        test_start = train + k * test
        test_stop = test_start + test
        if test_stop > bars:
            break
        train_start = 0 if anchored else test_start - train
        windows.append(Window(k, train_start, test_start, test_start, test_stop))
        k += 1
    if not windows:
        raise ConfigError(
            f"walk-forward needs at least {train + test} bars (--wf-train {train} + --wf-test {test}), "
            f"the data has {bars}",
            key="wf_train",
        )
    return windows
