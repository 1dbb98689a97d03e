"""Grid syntax, config validation and the one-line errors: all checked before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_support import FIVE_MINUTE_FILE

from pipelines import backtest
from pipelines.config import parse_config
from pipelines.grid import axes_for, expand, grid_size, parse_axis
from pipelines.plan import plan_sweep
from trading.errors import ConfigError


def test_list_values_keep_their_text_and_order() -> None:
    axis = parse_axis("fast=5, 10,20")
    assert axis.key == "fast" and axis.values == ("5", "10", "20") and axis.strategy == ""


def test_range_includes_its_stop() -> None:
    assert parse_axis("fast=5:50:5").values == tuple(str(v) for v in range(5, 51, 5))


def test_range_stop_off_the_step_ends_below_it() -> None:
    assert parse_axis("slow=10:25:10").values == ("10", "20")


def test_decimal_range_does_not_drift() -> None:
    assert parse_axis("width=0.1:0.3:0.1").values == ("0.1", "0.2", "0.3")


def test_scoped_key_applies_to_its_strategy_only() -> None:
    axes = [parse_axis("fast=1,2"), parse_axis("ema_cross.fast=3,4")]
    assert axes_for("sma_cross", axes)[0].values == ("1", "2")
    assert axes_for("ema_cross", axes)[0].values == ("3", "4")


def test_expand_is_the_product_first_axis_slowest() -> None:
    axes = [parse_axis("a=1,2"), parse_axis("b=x,y,z")]
    combos = list(expand(axes))
    assert grid_size(axes) == 6 == len(combos)
    assert combos[0] == {"a": "1", "b": "x"} and combos[3] == {"a": "2", "b": "x"}


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("fast", "fast"),
        ("fast=", "fast"),
        ("fast=1,,2", "fast"),
        ("fast=1,1", "fast"),
        ("fast=5:1:1", "fast"),
        ("fast=1:5:0", "fast"),
        ("fast=1:5", "fast"),
        ("fast=a:5:1", "fast"),
        ("size=1,2", "size"),
        (".fast=1", ".fast"),
    ],
)
def test_grid_syntax_errors_name_the_key(item: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_axis(item)
    assert info.value.key == key


def _config(*extra: str) -> list[str]:
    return ["--data", str(FIVE_MINUTE_FILE), "--strategy", "sma_cross", *extra]


def test_invalid_combinations_are_counted_not_errors() -> None:
    plan = plan_sweep(parse_config(_config("--grid", "fast=5,10,20", "--grid", "slow=10,20,30")))
    assert plan.grids[0].valid == 6  # 5<10,5<20,5<30,10<20,10<30,20<30
    assert plan.grids[0].invalid == 3
    assert plan.total_cells == 6 and plan.invalid_cells == 3
    cells = list(plan.cells())
    assert len({c["cell_id"] for c in cells}) == 6
    assert cells[0]["params"] == '{"fast":5,"slow":10}'  # typed by the strategy config


def test_cell_ids_are_stable_and_depend_on_the_run_options() -> None:
    ids = [c["cell_id"] for c in plan_sweep(parse_config(_config("--grid", "fast=5,10"))).cells()]
    again = [c["cell_id"] for c in plan_sweep(parse_config(_config("--grid", "fast=5,10"))).cells()]
    other = [c["cell_id"] for c in plan_sweep(parse_config(_config("--grid", "fast=5,10", "--cash", "5000"))).cells()]
    assert ids == again
    assert not set(ids) & set(other)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (_config("--grid", "fats=1,2"), ["'fats'"]),
        (["--data", str(FIVE_MINUTE_FILE), "--strategy", "no_such", "--grid", "fast=1"], ["'no_such'"]),
        (_config("--grid", "fast=0,5"), ["'fast'"]),  # out of the field's bounds: the user's mistake
        (_config("--grid", "fast=abc"), ["'fast'"]),
        (_config("--grid", "fast=5:1:1"), ["'fast'"]),
        (_config("--grid", "ema_cross.fast=5"), ["ema_cross"]),
        (_config("--metric", "sharp"), ["'sharp'"]),
        (_config("--grid", "fast=40", "--grid", "slow=20,30"), ["grid"]),  # nothing valid to run
        (["--data", "/no/such/file.csv", "--strategy", "sma_cross"], ["/no/such/file.csv"]),
        (_config("--engine", "vector", "--slippage-ticks", "1"), ["slippage"]),
        (_config("--wf-train", "100"), ["--wf-test"]),
        (_config("--bogus"), ["--bogus"]),
    ],
)
def test_bad_input_fails_in_one_line_before_ray_starts(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray must not start for a bad sweep")

    monkeypatch.setattr(backtest, "ray_session", no_ray)
    assert backtest.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dto sweep: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in err


def test_yaml_keys_are_the_cli_flags(tmp_path: Path) -> None:
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(
        f"data: [{FIVE_MINUTE_FILE}]\nstrategy: sma_cross\ngrid:\n  fast: '5:15:5'\n  slow: [20, 30]\n"
        "fill: close\ncommission_pct: 0.1\nwf-train: 500\nwf_test: 200\nwf_anchored: true\ntop: 3\n"
    )
    from_yaml = parse_config(["--config", str(config_file)])
    from_cli = parse_config(
        _config("--grid", "fast=5:15:5", "--grid", "slow=20,30", "--fill", "close", "--commission-pct", "0.1",
                "--wf-train", "500", "--wf-test", "200", "--wf-anchored", "--top", "3")
    )
    assert from_yaml == from_cli


def test_cli_flags_override_the_yaml(tmp_path: Path) -> None:
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(f"data: {FIVE_MINUTE_FILE}\nstrategy: sma_cross\nfill: close\n")
    assert parse_config(["--config", str(config_file), "--fill", "next_open"]).base.fill == "next_open"


def test_unknown_yaml_key_is_rejected_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(f"data: {FIVE_MINUTE_FILE}\nstrategy: sma_cross\nfil: close\n")
    assert backtest.main(["--config", str(config_file)]) == 2
    assert "unknown key 'fil'" in capsys.readouterr().err


def test_shipped_sweep_configs_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)  # the configs name data files relative to the project (the job's working_dir)
    configs = sorted((root / "sweeps").glob("*.yaml"))
    assert len(configs) >= 2
    for path in configs:
        plan = plan_sweep(parse_config(["--config", str(path)]))
        assert plan.total_cells > 0
