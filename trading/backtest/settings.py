"""Typed settings of backtests and sweeps: the one model the command line, YAML configs and the HTTP API build.

`RunSettings` holds the options of a run (cash, size, fill timing, fees, ...), `BacktestSettings` adds what one
backtest runs (data, strategy, params) and becomes the runner's `BacktestSpec`, and `SweepSettings` adds a
sweep's data files, strategies, grid and how to run it. Every field is described and an unknown field is an
error; `settings_error` turns a validation failure into a ConfigError naming the field.

A field's command-line flag is its name with dashes (`commission_pct` is `--commission-pct`; `timezone` is
also `--tz`, `strategies` also `--strategy`); `add_run_flags` adds the run options' flags to a parser, and
`given_flags` reads back only the flags the user gave, so the model's defaults are the only defaults.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from trading.errors import ConfigError
from trading.stats import Statistics

if TYPE_CHECKING:
    from trading.backtest.runner import BacktestSpec

Engine = Literal["auto", "vector", "event"]
Executor = Literal["auto", "process", "ray"]
GridValues = list[str | int | float | bool] | str
METRICS: tuple[str, ...] = ("final_value", *(f.name for f in fields(Statistics)))
DEFAULT_BATCH = 1000


class RunSettings(BaseModel):
    """The options of one run; they mean the same for a backtest, a sweep and paper trading."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    cash: Decimal = Field(Decimal(10_000), gt=0, allow_inf_nan=False, description="starting cash (default 10000)")
    size: Decimal = Field(Decimal(1), gt=0, allow_inf_nan=False, description="order quantity per entry (default 1)")
    fill: Literal["next_open", "close"] = Field(
        "next_open", description="market orders fill at the next bar's open (default) or this bar's close"
    )
    commission_per_unit: Decimal = Field(
        Decimal(0), ge=0, allow_inf_nan=False, description="commission per share/coin/contract"
    )
    commission_pct: Decimal = Field(
        Decimal(0), ge=0, le=100, allow_inf_nan=False, description="commission in percent of notional (0.1 = 10 bps)"
    )
    slippage_ticks: int = Field(0, ge=0, description="ticks paid on market and stop fills")
    volume_cap: float | None = Field(
        None, gt=0, le=1, description="max fraction of a bar's volume an order may take (partial fills)"
    )
    multiplier: Decimal = Field(Decimal(1), gt=0, allow_inf_nan=False, description="contract multiplier")
    margin: Decimal | None = Field(
        None, gt=0, allow_inf_nan=False, description="initial margin per contract: futures-style accounting"
    )
    symbol: str = Field("DATA", min_length=1, max_length=32, description="instrument symbol (default DATA)")
    tick_size: Decimal | None = Field(
        None, gt=0, allow_inf_nan=False, description="price tick (default: from the data)"
    )
    session: str | None = Field(None, description="trading session HH:MM-HH:MM in the time zone")
    timezone: str = Field(
        "UTC",
        validation_alias=AliasChoices("timezone", "tz"),
        description="time zone of naive timestamps and of the session (an IANA name)",
    )
    flatten_at_close: bool = Field(False, description="close every position at session end")
    drop_bad_rows: bool = Field(False, description="drop and count bad data rows instead of stopping at the first")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown time zone {name!r} (an IANA name such as America/New_York)") from None
        return name

    def spec(self, data: str, strategy: str, params: dict[str, Any]) -> BacktestSpec:
        """The runner's spec of one run of `strategy` with `params` on `data` under these options."""
        # Imported here: the command line builds its parser from this module on every `dto` call, and the
        # runner brings in the engine, pandas and TA-Lib.
        from trading.backtest.runner import BacktestSpec  # noqa: PLC0415

        return BacktestSpec(
            data=data,
            strategy=strategy,
            params=dict(params),
            cash=self.cash,
            size=self.size,
            fill=self.fill,
            commission_per_unit=self.commission_per_unit,
            commission_pct=self.commission_pct,
            slippage_ticks=self.slippage_ticks,
            volume_cap=self.volume_cap,
            multiplier=self.multiplier,
            margin=self.margin,
            symbol=self.symbol,
            tick_size=self.tick_size,
            session=self.session,
            timezone=self.timezone,
            flatten_at_close=self.flatten_at_close,
            on_bad_rows="drop" if self.drop_bad_rows else "raise",
        )


class BacktestSettings(RunSettings):
    """One backtest: a data file, a strategy and its parameters, under the run options."""

    data: str = Field(min_length=1, description="bars file (CSV, freqtrade JSON, Parquet)")
    strategy: str = Field(min_length=1, description="built-in name (see `dto strategies`) or module:Class")
    params: dict[str, Any] = Field(default_factory=dict, description="strategy parameters (validated by its config)")

    def to_spec(self) -> BacktestSpec:
        return self.spec(self.data, self.strategy, self.params)


class SweepSettings(RunSettings):
    """A sweep: data files x strategies x a parameter grid (x walk-forward windows), and where it runs."""

    data: list[str] = Field(min_length=1, description="bars file(s)")
    strategies: list[str] = Field(
        min_length=1,
        validation_alias=AliasChoices("strategies", "strategy"),
        description="strategy names or module:Class paths",
    )
    grid: dict[str, GridValues] = Field(
        default_factory=dict,
        description="parameter -> values ([5, 10] or '5,10') or an inclusive range 'start:stop:step'; "
        "strategy.param scopes a parameter to one strategy",
    )
    engine: Engine = Field("auto", description="vector fast path, event engine, or auto")
    metric: str = Field("sharpe", description=f"rank cells by this statistic (one of: {', '.join(METRICS)})")
    top: int = Field(10, ge=0, description="print the best N cells (default 10)")
    out: str | None = Field(None, description="results folder (Parquet parts + summary); re-run to resume")
    # Not `json`, which would shadow a BaseModel method; `json` is its name in YAML and on the command line.
    print_json: bool = Field(
        False,
        validation_alias=AliasChoices("print_json", "json"),
        description="print one JSON object instead of tables",
    )
    address: str | None = Field(None, description="join this Ray cluster instead of starting a local one")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local Ray started here")
    batch_size: int = Field(DEFAULT_BATCH, ge=1, description=f"most cells per Ray task (default {DEFAULT_BATCH})")
    wf_train: int | None = Field(None, ge=1, description="walk-forward: in-sample window in bars")
    wf_test: int | None = Field(None, ge=1, description="walk-forward: out-of-sample window in bars")
    wf_anchored: bool = Field(False, description="walk-forward: in-sample always starts at bar 0")
    no_progress: bool = Field(False, description="no progress lines on stderr")
    executor: Executor = Field(
        "auto",
        description="run in this process, on Ray, or auto: here when the grid fits one CPU for a few seconds "
        "and no cluster is named",
    )

    @field_validator("data", "strategies", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r} (one of: {', '.join(METRICS)})")
        return metric


def settings_error(exc: ValidationError, where: str = "") -> ConfigError:
    """The first problem of a validation failure as a ConfigError whose key is the field's path."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    prefix = f"{where}: " if where else ""
    if error["type"] == "extra_forbidden":
        return ConfigError(f"{prefix}unknown key {key!r}", key=key)
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{prefix}{key}: {message}", key=key)


# ------------------------------------------------------------------------------------ command-line flags
_FLAG_NAMES = {"timezone": ("--tz", "--timezone")}


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `RunSettings` field. Values stay text and absent flags stay absent (the model converts,
    checks and supplies defaults): read them back with `given_flags`."""
    for name, info in RunSettings.model_fields.items():
        flags = _FLAG_NAMES.get(name, ("--" + name.replace("_", "-"),))
        if info.annotation is bool:
            parser.add_argument(*flags, dest=name, action="store_true", default=argparse.SUPPRESS,
                                help=info.description)
        elif get_origin(info.annotation) is Literal:
            parser.add_argument(*flags, dest=name, choices=get_args(info.annotation), default=argparse.SUPPRESS,
                                help=info.description)
        else:
            parser.add_argument(*flags, dest=name, default=argparse.SUPPRESS, metavar=name.upper(),
                                help=info.description)


def given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The run options the user gave on the command line, by field name."""
    return {name: value for name, value in vars(args).items() if name in RunSettings.model_fields}
