"""The live runtime's core, without Ray: strategy host, order manager, market data, and the in-process loop.

The actors in `actors/` host these objects one each; `LiveLoop` wires them in one process.
"""

from trading.live.journal import BufferedJournal, InMemoryJournal, Journal, JournalRecord
from trading.live.loop import LiveLoop, RoutedCommands, close_unsent, rebuild_host, route_commands, route_steps
from trading.live.market_data import MarketDataFeed, MergedReplay, ReplaySource, parse_speed
from trading.live.oms import OrderManager, PnL, PortfolioSnapshot
from trading.live.optimistic import OptimisticHost, Outcome, Prediction, ShadowSpec
from trading.live.strategy_host import HostState, HostStep, StrategyHost
from trading.messages import ReconciliationMismatch

__all__ = [
    "BufferedJournal",
    "HostState",
    "HostStep",
    "InMemoryJournal",
    "Journal",
    "JournalRecord",
    "LiveLoop",
    "MarketDataFeed",
    "MergedReplay",
    "OptimisticHost",
    "OrderManager",
    "Outcome",
    "PnL",
    "PortfolioSnapshot",
    "Prediction",
    "ReconciliationMismatch",
    "ReplaySource",
    "RoutedCommands",
    "ShadowSpec",
    "StrategyHost",
    "close_unsent",
    "parse_speed",
    "rebuild_host",
    "route_commands",
    "route_steps",
]
