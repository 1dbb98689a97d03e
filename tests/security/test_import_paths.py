"""A trade-scope key cannot have the research routes import a module of its choosing: validating a
`module:Class` strategy imports it, so an import path needs the admin scope there as on POST /v1/strategies."""

from __future__ import annotations

import sys

import pytest

from .gateway import client, h, offline_gateway

# A module no one imports otherwise: had it been imported, it would be in sys.modules afterwards.
TARGET = "tests.security.planted_module"


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/backtests", {"data": "x.csv", "strategy": f"{TARGET}:Evil"}),
        ("/v1/sweeps", {"data": ["x.csv"], "strategies": ["sma_cross", f"{TARGET}:Evil"], "grid": {"fast": [5]}}),
    ],
)
def test_research_import_path_with_a_trade_key_then_forbidden_and_nothing_imported(
    route: str, body: dict[str, object]
) -> None:
    app, runtime = offline_gateway()
    sys.modules.pop(TARGET, None)
    answer = client(app).post(route, json=body, headers=h("trade"))
    assert answer.status_code == 403, answer.text
    assert runtime.calls == [] and TARGET not in sys.modules


def test_research_import_path_with_an_admin_key_then_passed_on() -> None:
    app, runtime = offline_gateway()
    answer = client(app).post("/v1/backtests", json={"data": "x.csv", "strategy": "sma_cross"}, headers=h("trade"))
    assert answer.status_code == 202, answer.text
    answer = client(app).post("/v1/backtests", json={"data": "x.csv", "strategy": f"{TARGET}:Evil"},
                              headers=h("admin"))
    assert answer.status_code == 202, answer.text
    assert [name for name, _ in runtime.calls] == ["submit_research", "submit_research"]
