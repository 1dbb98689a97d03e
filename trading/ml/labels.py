"""Training labels from future bars: forward returns, direction classes with a dead zone, triple barriers.

Labels look ahead by design; features never do. Each label also reports the index of the last bar it
used (`end`), which is what purged cross-validation needs: a training sample whose label window reaches
into a test fold has seen the test fold's prices and is removed. A bar whose label window runs past the
end of the data gets no label (NaN, end -1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from trading.data.bars import BarSeries

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_CHUNK = 65_536  # starts per step of the triple-barrier scan: bounds its (starts x horizon) temporaries


class LabelSpec(BaseModel):
    """What the model learns to predict: P(label is +1) for the next `horizon` bars."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["direction", "triple_barrier"] = Field(
        "direction", description="direction: sign of the forward return; triple_barrier: first barrier hit"
    )
    horizon: int = Field(15, ge=1, description="Bars ahead (direction) or the time limit (triple barrier)")
    dead_zone: float = Field(0.0, ge=0, description="direction: |forward return| at or below this is class 0")
    profit_take: float = Field(0.002, gt=0, description="triple_barrier: upper barrier, return above entry close")
    stop_loss: float = Field(0.002, gt=0, description="triple_barrier: lower barrier, return below entry close")


@dataclass(frozen=True)
class Labels:
    """Per bar: the class (+1, 0, -1; NaN when unknown), the forward return and the last bar index used."""

    label: FloatArray
    forward_return: FloatArray
    end: IntArray

    @property
    def known(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.label)


def forward_returns(close: npt.ArrayLike, horizon: int) -> FloatArray:
    """close[i + horizon] / close[i] - 1; NaN for the last `horizon` bars."""
    prices = np.asarray(close, dtype=np.float64)
    out = np.full(len(prices), np.nan)
    if len(prices) > horizon:
        out[:-horizon] = prices[horizon:] / prices[:-horizon] - 1.0
    return out


def direction_labels(close: npt.ArrayLike, horizon: int, dead_zone: float = 0.0) -> Labels:
    """+1 if the forward return exceeds `dead_zone`, -1 if below `-dead_zone`, else 0."""
    fwd = forward_returns(close, horizon)
    label = np.where(fwd > dead_zone, 1.0, np.where(fwd < -dead_zone, -1.0, 0.0))
    label[np.isnan(fwd)] = np.nan
    n = len(fwd)
    end = np.where(np.isnan(fwd), -1, np.arange(n) + horizon).astype(np.int64)
    return Labels(label=label, forward_return=fwd, end=end)


def triple_barrier_labels(
    bars: BarSeries, horizon: int, profit_take: float, stop_loss: float
) -> Labels:
    """From each bar's close, which barrier the following bars touch first: +1 the profit target (high at
    or above close * (1 + profit_take)), -1 the stop (low at or below close * (1 - stop_loss)), 0 neither
    within `horizon` bars. A bar touching both counts as the stop (the conservative reading of one bar).
    `end` is the touching bar, or i + horizon; `forward_return` is the close-to-close return up to `end`."""
    close = np.asarray(bars.close, dtype=np.float64)
    high = np.asarray(bars.high, dtype=np.float64)
    low = np.asarray(bars.low, dtype=np.float64)
    n = len(close)
    last = n - horizon  # bars from here on have an incomplete window
    label = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    fwd = np.full(n, np.nan)
    if last <= 0:
        return Labels(label=label, forward_return=fwd, end=end)
    ahead = np.arange(1, horizon + 1)
    for first in range(0, last, _CHUNK):
        starts = np.arange(first, min(first + _CHUNK, last))
        steps = starts[:, None] + ahead[None, :]  # the following bars of each start, one row per start
        hit_up = high[steps] >= (close[starts] * (1.0 + profit_take))[:, None]
        hit_down = low[steps] <= (close[starts] * (1.0 - stop_loss))[:, None]
        first_up = np.where(hit_up.any(axis=1), hit_up.argmax(axis=1), horizon)
        first_down = np.where(hit_down.any(axis=1), hit_down.argmax(axis=1), horizon)
        result = np.where(first_down <= first_up, -1.0, 1.0)
        result[(first_up == horizon) & (first_down == horizon)] = 0.0
        end[starts] = starts + np.minimum(np.minimum(first_up, first_down), horizon - 1) + 1
        label[starts] = result
    fwd[:last] = close[end[:last]] / close[:last] - 1.0
    return Labels(label=label, forward_return=fwd, end=end)


def make_labels(bars: BarSeries, spec: LabelSpec) -> Labels:
    """The labels `spec` describes over `bars`."""
    if spec.kind == "triple_barrier":
        return triple_barrier_labels(bars, spec.horizon, spec.profit_take, spec.stop_loss)
    return direction_labels(bars.close, spec.horizon, spec.dead_zone)
