"""One backtest described as data (`BacktestSpec`) and run end to end: load, build, run.

The CLI, the sweep pipeline and the paper-trading parity checks all build runs through here, so an option
such as `--fill close` or `--commission-per-unit` means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trading.backtest.engine import BacktestConfig, BacktestEngine, BacktestResult
from trading.backtest.vectorized import VectorCosts, VectorResult, run_signals
from trading.data.bars import BarSeries
from trading.data.loaders import load_bars
from trading.errors import ConfigError
from trading.model.identifiers import InstrumentId
from trading.model.instruments import Accounting, AssetClass, Instrument, TradingSession
from trading.sim.models import (
    FeeModel,
    FillTiming,
    NoFees,
    NoSlippage,
    PercentFee,
    PerUnitFee,
    SimConfig,
    SlippageModel,
    TickSlippage,
)
from trading.strategy import StrategyType, build_config


@dataclass(frozen=True)
class BacktestSpec:
    """Every knob of one run. Strings and numbers only, so it travels through JSON, YAML and Ray."""

    data: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    cash: Decimal = Decimal(10_000)
    size: Decimal = Decimal(1)
    fill: str = "next_open"
    commission_per_unit: Decimal = Decimal(0)
    commission_pct: Decimal = Decimal(0)  # percent of notional, e.g. 0.1 for 10 bps
    slippage_ticks: int = 0
    volume_cap: float | None = None
    multiplier: Decimal = Decimal(1)
    margin: Decimal | None = None  # per contract: makes the instrument futures-style (MARGIN accounting)
    symbol: str = "DATA"
    venue: str = "SIM"
    currency: str = "USD"
    tick_size: Decimal | None = None  # inferred from the data's decimals when None
    session: str | None = None  # "HH:MM-HH:MM"
    timezone: str = "UTC"  # for naive timestamps in the file and for the session
    flatten_at_close: bool = False
    on_bad_rows: Literal["raise", "drop"] = "raise"

    def sim_config(self) -> SimConfig:
        try:
            timing = FillTiming(self.fill)
        except ValueError:
            raise ConfigError(f"fill must be next_open or close, got {self.fill!r}", key="fill") from None
        fees: FeeModel = NoFees()
        if self.commission_per_unit and self.commission_pct:
            raise ConfigError("give commission per unit or percent, not both", key="commission_pct")
        if self.commission_per_unit:
            fees = PerUnitFee(Decimal(self.commission_per_unit))
        elif self.commission_pct:
            fees = PercentFee(Decimal(self.commission_pct) / Decimal(100))
        slippage: SlippageModel = TickSlippage(self.slippage_ticks) if self.slippage_ticks else NoSlippage()
        return SimConfig(fill_timing=timing, fees=fees, slippage=slippage, volume_cap=self.volume_cap)


def infer_tick_size(series: BarSeries, max_decimals: int = 8) -> Decimal:
    """The coarsest power-of-ten tick on which every price in the data lies (checked on a sample)."""
    prices = np.concatenate([series.open, series.high, series.low, series.close])
    if len(prices) > 20_000:
        prices = prices[:: len(prices) // 20_000 + 1]
    for decimals in range(max_decimals + 1):
        scaled = prices * 10**decimals
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled)) * 1e-3):
            return Decimal(1).scaleb(-decimals)
    return Decimal(1).scaleb(-max_decimals)


def build_instrument(spec: BacktestSpec, series: BarSeries) -> Instrument:
    tick = Decimal(spec.tick_size) if spec.tick_size is not None else infer_tick_size(series)
    sessions = (TradingSession.parse(spec.session, spec.timezone),) if spec.session else ()
    if spec.flatten_at_close and not sessions:
        raise ConfigError("flatten at the session close needs a session (--session HH:MM-HH:MM)", key="session")
    margin = spec.margin is not None
    return Instrument(
        id=InstrumentId(spec.symbol, spec.venue),
        asset_class=AssetClass.FUTURE if margin else AssetClass.EQUITY,
        currency=spec.currency,
        tick_size=tick,
        lot_size=_lot_for(Decimal(spec.size)),
        multiplier=Decimal(spec.multiplier),
        margin_init=Decimal(spec.margin) if spec.margin is not None else Decimal(0),
        sessions=sessions,
        accounting=Accounting.MARGIN if margin else Accounting.CASH,
    )


def _lot_for(size: Decimal) -> Decimal:
    """Fractional sizes (crypto) need a lot size that divides them."""
    exponent = size.normalize().as_tuple().exponent
    return Decimal(1) if not isinstance(exponent, int) or exponent >= 0 else Decimal(1).scaleb(exponent)


def prepare(spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries | None = None) -> BacktestEngine:
    """Load the data (unless given) and build the engine, validating everything before any bar runs."""
    if series is None:
        series = load_bars(Path(spec.data), tz=spec.timezone, on_bad_rows=spec.on_bad_rows)
    instrument = build_instrument(spec, series)
    params = {"instrument_id": str(instrument.id), "size": spec.size, **spec.params}
    config = build_config(strategy_class, params)
    strategy = strategy_class(config)
    return BacktestEngine(
        instrument,
        strategy,
        series,
        BacktestConfig(
            starting_cash=Decimal(spec.cash),
            sim=spec.sim_config(),
            flatten_at_session_close=spec.flatten_at_close,
        ),
    )


def run_backtest(spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries | None = None) -> BacktestResult:
    """Run one backtest described by `spec`."""
    return prepare(spec, strategy_class, series).run()


def vector_compatible(spec: BacktestSpec) -> str:
    """Why `spec` cannot use the vectorized fast path ('' if it can)."""
    if spec.slippage_ticks:
        return "slippage"
    if spec.volume_cap is not None:
        return "volume cap"
    if spec.session or spec.flatten_at_close:
        return "trading sessions"
    if spec.margin is not None:
        return "margin accounting"
    return ""


def run_vectorized(
    spec: BacktestSpec, strategy_class: StrategyType, series: BarSeries, periods_per_year: float | None = None
) -> VectorResult | None:
    """The fast path for `spec`, or None when the strategy or the options need the event engine.

    `periods_per_year` (inferred from the bars when None) lets a sweep infer it once per dataset."""
    if vector_compatible(spec):
        return None
    instrument = build_instrument(spec, series)
    config = build_config(strategy_class, {"instrument_id": str(instrument.id), "size": spec.size, **spec.params})
    strategy = strategy_class(config)
    values = strategy.indicators(series)
    signals = strategy.signals(series, values)
    if signals is None:
        return None
    costs = VectorCosts(
        size=float(spec.size),
        multiplier=float(spec.multiplier),
        fee_per_unit=float(spec.commission_per_unit),
        fee_rate=float(spec.commission_pct) / 100.0,
    )
    return run_signals(
        series,
        signals[0],
        signals[1],
        starting_cash=float(spec.cash),
        fill=FillTiming(spec.fill),
        costs=costs,
        periods_per_year=periods_per_year,
    )
