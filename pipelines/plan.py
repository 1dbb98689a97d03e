"""A sweep's cells: validated up front, generated lazily, each named by a stable content hash.

A cell is one (data file, strategy, parameter set, bar window) under one set of run options. Its id hashes
the data file's content, the strategy, the typed parameters, the run options, the window and the engine
choice, so a re-run into the same results folder recognizes finished cells and skips them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.config import SweepConfig
from pipelines.evaluation import SweepData, has_signal_rules, params_json
from pipelines.grid import GridAxis, axes_for, expand, grid_size
from pipelines.windows import Window, walk_forward_windows
from strategies import resolve_strategy
from trading.backtest.runner import BacktestSpec, infer_tick_size
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.errors import ConfigError
from trading.strategy import StrategyType, build_config

WHOLE_SERIES = -1


@dataclass(frozen=True)
class Dataset:
    path: str
    fingerprint: str
    series: BarSeries
    tick_size: str  # inferred once here instead of once per cell

    @property
    def bars(self) -> int:
        return len(self.series)


@dataclass(frozen=True)
class StrategyGrid:
    name: str
    cls: StrategyType
    axes: tuple[GridAxis, ...]
    valid: int
    invalid: int  # combinations the strategy rejects as a whole (e.g. fast >= slow): skipped, counted


@dataclass(frozen=True)
class SweepPlan:
    config: SweepConfig
    datasets: tuple[Dataset, ...]
    grids: tuple[StrategyGrid, ...]
    windows: tuple[Window, ...] | None  # walk-forward windows (same bar count for every dataset), or None

    @property
    def total_cells(self) -> int:
        return sum(g.valid for g in self.grids) * len(self.datasets) * self._window_count

    @property
    def invalid_cells(self) -> int:
        return sum(g.invalid for g in self.grids) * len(self.datasets) * self._window_count

    @property
    def cell_bars(self) -> int:
        """Bars simulated over the whole grid: the sweep's work, to choose where it runs."""
        if self.windows is None:
            bars = sum(d.bars for d in self.datasets)
        else:
            bars = sum(w.train_stop - w.train_start for w in self.windows) * len(self.datasets)
        return sum(g.valid for g in self.grids) * bars

    @property
    def event_driven(self) -> bool:
        """Whether some cells need the event engine (forced, or a strategy without signal rules)."""
        return self.config.engine == "event" or not all(has_signal_rules(g.cls) for g in self.grids)

    def sweep_data(self) -> dict[int, SweepData]:
        """The datasets by index, as the cells' runner takes them."""
        return {i: SweepData(d.series, d.tick_size) for i, d in enumerate(self.datasets)}

    @property
    def _window_count(self) -> int:
        return len(self.windows) if self.windows is not None else 1

    def options_key(self) -> str:
        """The run options as stable text: part of every cell id."""
        skip = {"data", "strategy", "params"}
        options = {f.name: str(getattr(self.config.base, f.name)) for f in fields(BacktestSpec) if f.name not in skip}
        options["engine"] = self.config.engine
        return json.dumps(options, sort_keys=True)

    def cells(self) -> Iterator[dict[str, Any]]:
        """Every valid cell as a descriptor row, lazily, in a stable order."""
        options = self.options_key()
        for data_index, dataset in enumerate(self.datasets):
            ranges = (
                [(WHOLE_SERIES, 0, dataset.bars)]
                if self.windows is None
                else [(w.index, w.train_start, w.train_stop) for w in self.windows]
            )
            for grid in self.grids:
                for params in typed_combinations(grid, self.config.base):
                    text = params_json(params)
                    for window, start, stop in ranges:
                        yield {
                            "cell_id": cell_id(dataset.fingerprint, grid.name, text, options, start, stop),
                            "data_index": data_index,
                            "data": dataset.path,
                            "strategy": grid.name,
                            "params": text,
                            "window": window,
                            "start": start,
                            "stop": stop,
                        }


def cell_id(fingerprint: str, strategy: str, params: str, options: str, start: int, stop: int) -> str:
    payload = json.dumps([fingerprint, strategy, params, options, start, stop])
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """A hash of the file's bytes: the same data under another path or mtime is the same data."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _config_params(spec: BacktestSpec, params: dict[str, Any]) -> dict[str, Any]:
    return {"instrument_id": f"{spec.symbol}.{spec.venue}", "size": spec.size, **params}


def check_combination(cls: StrategyType, spec: BacktestSpec, params: dict[str, str]) -> dict[str, Any] | None:
    """The typed parameters of one combination, or None when the strategy rejects the combination itself.

    A rejection by the strategy's own validators (pydantic `value_error`, e.g. sma_cross fast >= slow) is an
    invalid combination: skipped and counted. A value of the wrong type or out of its field's bounds, or an
    unknown parameter, is the user's mistake and raises ConfigError naming the key.
    """
    values = _config_params(spec, params)
    try:
        config = cls.config_class(**values)
    except ValidationError as exc:
        if all(error["type"] == "value_error" for error in exc.errors()):
            return None
        build_config(cls, values)  # raises the ConfigError naming the key
        raise  # pragma: no cover - build_config validates the same values
    dumped = config.model_dump()
    return {key: dumped[key] for key in params}


def typed_combinations(grid: StrategyGrid, spec: BacktestSpec) -> Iterator[dict[str, Any]]:
    for params in expand(grid.axes):
        typed = check_combination(grid.cls, spec, params)
        if typed is not None:
            yield typed


def plan_grid(name: str, axes: tuple[GridAxis, ...], spec: BacktestSpec) -> StrategyGrid:
    """Resolve the strategy and validate every combination of its grid, before any work starts."""
    cls = resolve_strategy(name)
    mine = tuple(axes_for(name, axes))
    known = set(cls.config_class.model_fields)
    for axis in mine:
        if axis.key not in known:
            # build_config would say the same, but only once a combination reaches it; say it at once.
            raise ConfigError(
                f"strategy {name}: unknown parameter {axis.key!r} (known: {', '.join(sorted(known))})", key=axis.key
            )
    valid = invalid = 0
    for params in expand(mine):
        if check_combination(cls, spec, params) is None:
            invalid += 1
        else:
            valid += 1
    return StrategyGrid(name=name, cls=cls, axes=mine, valid=valid, invalid=invalid)


def load_dataset(path: str, spec: BacktestSpec) -> Dataset:
    series = load_bars(Path(path), tz=spec.timezone, on_bad_rows=spec.on_bad_rows)
    if len(series) < 2:
        raise ConfigError(f"data {path} has {len(series)} bars; a sweep needs at least 2", key="data")
    tick = spec.tick_size if spec.tick_size is not None else infer_tick_size(series)
    return Dataset(path=path, fingerprint=file_fingerprint(path), series=series, tick_size=str(tick))


def plan_sweep(config: SweepConfig, max_cells: int | None = None) -> SweepPlan:
    """Everything checked that can be checked without Ray: strategies, grid, data, windows. With `max_cells`,
    a grid whose combinations x data files exceed it is refused by counting, before any combination is built."""
    scopes = {axis.strategy for axis in config.axes if axis.strategy}
    for scope in sorted(scopes - set(config.strategies)):
        raise ConfigError(f"--grid {scope}.* names a strategy that is not in the sweep", key=scope)
    if max_cells is not None:
        combinations = sum(grid_size(axes_for(name, config.axes)) for name in config.strategies)
        if combinations * len(config.data) > max_cells:
            raise ConfigError(
                f"the sweep has {combinations:,} parameter combinations x {len(config.data)} data file(s) = "
                f"{combinations * len(config.data):,} cells; at most {max_cells:,} here",
                key="grid",
            )
    grids = tuple(plan_grid(name, config.axes, config.base) for name in config.strategies)
    for grid in grids:
        if grid.valid == 0:
            raise ConfigError(
                f"strategy {grid.name}: none of the {grid_size(grid.axes)} grid combinations is valid", key="grid"
            )
    datasets = tuple(load_dataset(path, config.base) for path in config.data)
    windows: tuple[Window, ...] | None = None
    if config.walk_forward is not None:
        wf = config.walk_forward
        shortest = min(d.bars for d in datasets)
        windows = tuple(walk_forward_windows(shortest, wf.train, wf.test, anchored=wf.anchored))
    return SweepPlan(config=config, datasets=datasets, grids=grids, windows=windows)
