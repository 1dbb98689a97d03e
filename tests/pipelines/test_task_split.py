"""How a sweep's cells are cut into Ray Data tasks: few tasks, every CPU busy, shares of equal cost."""

from __future__ import annotations

from typing import Any

from pipelines.sweep import cell_cost, deal_cells, task_count


def _cells(bars: list[int]) -> list[dict[str, Any]]:
    return [{"cell_id": f"c{i}", "start": 0, "stop": n} for i, n in enumerate(bars)]


def test_task_count_is_as_few_as_the_batch_cap_allows_rounded_up_to_the_cpus() -> None:
    assert task_count(100, 1000, 1) == 1
    assert task_count(100, 1000, 2) == 2
    assert task_count(2500, 1000, 2) == 4
    assert task_count(12, 2, 2) == 6


def test_task_count_is_never_more_than_the_cells() -> None:
    assert task_count(1, 1000, 2) == 1
    assert task_count(3, 1000, 8) == 3


def test_every_cell_lands_in_exactly_one_share_and_counts_differ_by_at_most_one() -> None:
    cells = _cells([100] * 101)
    shares = deal_cells(cells, 4)
    assert sorted(c["cell_id"] for share in shares for c in share) == sorted(c["cell_id"] for c in cells)
    assert {len(share) for share in shares} <= {25, 26}


def test_a_grid_whose_cost_falls_along_its_order_is_split_evenly_not_into_a_costly_first_half() -> None:
    # Equal bars, but the cells get cheaper along the grid (as sma_cross cells do as the windows grow).
    cells = _cells([1000] * 100)
    cost = {c["cell_id"]: 200 - i for i, c in enumerate(cells)}
    first, second = (sum(cost[c["cell_id"]] for c in share) for share in deal_cells(cells, 2))
    assert abs(first - second) / (first + second) < 0.01
    halves = sum(list(cost.values())[:50]), sum(list(cost.values())[50:])
    assert abs(halves[0] - halves[1]) / sum(halves) > 0.1  # what consecutive ranges would have given


def test_longer_windows_are_spread_over_the_shares() -> None:
    # Anchored walk-forward: in-sample windows that grow, so costs differ by a factor of ten.
    cells = _cells([1000 * (i + 1) for i in range(10)] * 3)
    loads = [sum(cell_cost(c) for c in share) for share in deal_cells(cells, 3)]
    assert max(loads) - min(loads) <= 1000
