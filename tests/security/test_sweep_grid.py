"""A sweep's grid is counted before it is expanded: a 10^5 x 10^5 grid through the API is refused at once instead
of pinning a core while 10^10 combinations are built and validated."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import pipelines.plan
from actors.research import MAX_SWEEP_CELLS, datasets, validate
from trading.errors import ConfigError


def _never_expanded(axes: Sequence[Any]) -> Iterator[dict[str, str]]:
    raise AssertionError(f"the grid was expanded ({[len(a.values) for a in axes]} values per axis)")
    yield {}


@pytest.mark.parametrize("grid", [{"fast": "1:100000:1", "slow": "1:100000:1"},
                                  {"fast": list(range(1, 50)), "slow": list(range(50, 100))}])
def test_sweep_grid_over_the_cap_then_refused_before_any_combination_is_built(
    grid: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipelines.plan, "expand", _never_expanded)
    request = {"data": [datasets()[0]], "strategies": ["sma_cross"], "grid": grid}
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"at most {MAX_SWEEP_CELLS:,}") as refused:
        validate("sweep", request)
    assert refused.value.key == "grid" and time.perf_counter() - started < 5


def test_sweep_grid_over_the_cap_across_data_files_then_refused() -> None:
    files = datasets()[:2]
    side = int((MAX_SWEEP_CELLS / 2) ** 0.5) + 2  # under the cap for one file, over it for two
    request = {"data": files, "strategies": ["sma_cross"],
               "grid": {"fast": list(range(1, side + 1)), "slow": list(range(1000, 1000 + side))}}
    with pytest.raises(ConfigError, match="2 data file"):
        validate("sweep", request)
