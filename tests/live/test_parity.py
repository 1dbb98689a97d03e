"""The key property: paper trading through the live loop equals the backtest, fill for fill, at any batch size."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from strategies import BUILTIN
from trading.backtest.runner import BacktestSpec

from .live_support import DAY, MIN5, ORB_PARAMS, ORB_SPEC, SP500_MINUTE, backtest, fill_key, run_live, series_for

CASES: list[tuple[str, Path, dict[str, Any], dict[str, Any]]] = []
for _name in sorted(BUILTIN):
    if _name == "opening_range_breakout":
        CASES.append((_name, SP500_MINUTE, ORB_PARAMS, ORB_SPEC))
    else:
        CASES += [(_name, DAY, {}, {}), (_name, MIN5, {}, {})]


def test_every_builtin_strategy_is_in_the_parity_matrix() -> None:
    assert {name for name, *_ in CASES} == set(BUILTIN)


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize(("name", "path", "params", "extra"), CASES, ids=[f"{c[0]}-{c[1].stem}" for c in CASES])
def test_live_loop_fills_equal_the_backtest(
    name: str, path: Path, params: dict[str, Any], extra: dict[str, Any], fill: str
) -> None:
    """The replay clock alone (a bar's reports are delivered before the next bar) gives the backtest's fills."""
    spec = BacktestSpec(data=str(path), strategy=name, params=params, fill=fill, **extra)
    series = series_for(path, extra.get("timezone", "UTC"))
    expected = backtest(spec, BUILTIN[name], series)
    assert expected.fills, "a parity check without fills proves nothing"
    loop, host = run_live(spec, BUILTIN[name], series)
    venue = loop.venue
    assert [fill_key(f) for f in venue.fills] == [fill_key(f) for f in expected.fills]
    assert asyncio.run(venue.account_report()).equity == expected.final_value
    assert venue.ledger.cash == expected.cash
    # The strategy, the order manager and the venue agree on every fill and the position.
    assert [fill_key(f) for f in host.fills] == [fill_key(f) for f in expected.fills]
    assert [fill_key(e.fill) for e in loop.oms.fills] == [fill_key(f) for f in expected.fills]
    instrument_id = host.instrument_id
    assert loop.oms.account_position(instrument_id, "paper") == venue.ledger.quantity(instrument_id)
    assert venue.ledger.quantity(instrument_id) == expected.position
    assert host.position_quantity(instrument_id) == expected.position
    # Same orders, same ids, same end states.
    assert sorted((o.client_order_id, o.status) for o in expected.orders) == sorted(
        (o.client_order_id, o.status) for o in loop.oms.orders.values()
    )
