"""The simulated venue shared by backtests and the paper broker, and its fill, fee and slippage models."""

from trading.sim.models import (
    FeeModel,
    FillTiming,
    NoFees,
    NoSlippage,
    PercentFee,
    PercentSlippage,
    PerUnitFee,
    SimConfig,
    SlippageModel,
    TickSlippage,
)
from trading.sim.sessions import bar_session_state, infer_bar_interval, session_calendar
from trading.sim.venue import SimulatedVenue

__all__ = [
    "FeeModel",
    "FillTiming",
    "NoFees",
    "NoSlippage",
    "PerUnitFee",
    "PercentFee",
    "PercentSlippage",
    "SimConfig",
    "SimulatedVenue",
    "SlippageModel",
    "TickSlippage",
    "bar_session_state",
    "infer_bar_interval",
    "session_calendar",
]
