"""The live runtime's core, without Ray: strategy host, order manager, the order path, market data, and the
in-process loop. The actors in `actors/` host these objects one each; `LiveLoop` wires them in one process."""

from trading.live.journal import BufferedJournal, InMemoryJournal, Journal, JournalRecord
from trading.live.market_data import MarketDataFeed, parse_speed
from trading.live.oms import OrderManager, PnL, PortfolioSnapshot
from trading.live.routing import RoutedCommands, VenueAnswer, book_answer, route_commands, write
from trading.live.strategy_host import HostState, HostStep, StrategyHost
from trading.messages import ReconciliationMismatch

__all__ = [
    "BufferedJournal",
    "HostState",
    "HostStep",
    "InMemoryJournal",
    "Journal",
    "JournalRecord",
    "MarketDataFeed",
    "OrderManager",
    "PnL",
    "PortfolioSnapshot",
    "ReconciliationMismatch",
    "RoutedCommands",
    "StrategyHost",
    "VenueAnswer",
    "book_answer",
    "parse_speed",
    "route_commands",
    "write",
]
