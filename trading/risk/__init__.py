"""Pre-trade risk rules, circuit breakers and the firm-wide trading state (pure; hosted by the risk actor)."""

from trading.risk.rules import PortfolioView, RiskEngine, RiskGate, RiskLimits, TradingState

__all__ = ["PortfolioView", "RiskEngine", "RiskGate", "RiskLimits", "TradingState"]
