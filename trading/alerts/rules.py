"""From what the runtime reports to alerts: a pure function of the event and the configured rules.

Inputs are the runtime's event dicts as they cross processes (`Message.to_dict()`: `OrderDenied`,
`OrderRejected`, `OrderFilled`, `RiskStateChanged`), the firm-wide kill-switch flag (`{"on", "reason", "ts"}`),
and the alert actor's own observations (`StrategyStatus`, `DailyPnl`, `SentimentScore`, see `observation`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trading.alerts.config import NotificationsConfig, RuleConfig
from trading.alerts.model import Alert, AlertRule, Severity

BREAKER_CODES = ("DAILY_LOSS_LIMIT", "MAX_DRAWDOWN")
KILL_SWITCH_CODE = "KILL_SWITCH:"


class AlertRules:
    def __init__(self, config: NotificationsConfig) -> None:
        self.config = config
        self._last_sentiment: dict[str, float] = {}  # symbol -> the score last alerted on (or first seen)

    def evaluate(self, event: dict[str, Any], now_ns: int) -> list[tuple[Alert, list[str]]]:
        """The alerts this event raises, each with the channels its rules send it to."""
        out: list[tuple[Alert, list[str]]] = []
        for alert in self._alerts(event, now_ns):
            channels: list[str] = []
            for rule in self.config.rules:
                if rule.rule is alert.rule and _matches(rule, alert):
                    channels += [c for c in rule.channels if c not in channels]
            if channels:
                out.append((alert, channels))
        return out

    def _alerts(self, event: dict[str, Any], now_ns: int) -> Iterable[Alert]:
        kind = event.get("kind")
        if kind == "kill_switch":
            on = bool(event.get("on"))
            reason = str(event.get("reason", ""))
            yield Alert(AlertRule.KILL_SWITCH, f"kill_switch:{on}:{reason}",
                        f"Kill switch {'ON: trading halted firm-wide' if on else 'off'}", reason, now_ns,
                        Severity.CRITICAL if on else Severity.WARNING, {"on": on, "reason": reason})
        elif kind == "RiskStateChanged":
            yield from self._risk(event, now_ns)
        elif kind in ("OrderDenied", "OrderRejected"):
            rule = AlertRule.ORDER_DENIED if kind == "OrderDenied" else AlertRule.ORDER_REJECTED
            cid = str(event.get("client_order_id"))
            verb = "denied by risk" if kind == "OrderDenied" else "rejected by the venue"
            yield Alert(rule, f"{rule}:{cid}", f"Order {cid} {verb}",
                        f"{event.get('strategy_id')} {event.get('instrument_id')}: {event.get('reason', '')}",
                        now_ns, Severity.WARNING, _pick(event, "client_order_id", "strategy_id", "instrument_id",
                                                        "reason"))
        elif kind == "OrderFilled":
            fill = event.get("fill") or {}
            yield Alert(AlertRule.FILL, f"fill:{fill.get('trade_id')}:{fill.get('client_order_id')}",
                        f"Filled {fill.get('side')} {fill.get('quantity')} {fill.get('instrument_id')} "
                        f"@ {fill.get('price')}",
                        f"{fill.get('strategy_id')} order {fill.get('client_order_id')}", now_ns, Severity.INFO,
                        _pick(fill, "trade_id", "client_order_id", "strategy_id", "instrument_id", "side",
                              "quantity", "price", "commission"))
        elif kind == "StrategyStatus":
            yield from _strategy(event, now_ns)
        elif kind == "DailyPnl":
            yield Alert(AlertRule.DAILY_PNL, f"daily_pnl:{event.get('day')}", f"P&L for {event.get('day')}",
                        "\n".join(f"{k}: {v}" for k, v in sorted((event.get("pnl") or {}).items())), now_ns,
                        Severity.INFO, dict(event))
        elif kind == "SentimentScore":
            yield from self._sentiment(event, now_ns)

    def _risk(self, event: dict[str, Any], now_ns: int) -> Iterable[Alert]:
        state, previous, reason = str(event.get("state")), str(event.get("previous")), str(event.get("reason", ""))
        data = _pick(event, "state", "previous", "reason", "ts")
        key = f"{previous}->{state}:{reason}"
        severity = Severity.CRITICAL if state == "HALTED" else Severity.WARNING
        yield Alert(AlertRule.RISK_STATE_CHANGED, f"risk:{key}", f"Trading state {previous} -> {state}", reason,
                    now_ns, severity, data)
        if reason.startswith(KILL_SWITCH_CODE):  # the same key as the flag's announcement: one alert for both
            said = reason.removeprefix(KILL_SWITCH_CODE).strip()
            yield Alert(AlertRule.KILL_SWITCH, f"kill_switch:True:{said}", "Kill switch ON: trading halted firm-wide",
                        said, now_ns, Severity.CRITICAL, {"on": True, "reason": said})
        if reason.startswith(BREAKER_CODES):
            yield Alert(AlertRule.BREAKER_TRIPPED, f"breaker:{key}", f"Circuit breaker tripped: {state}", reason,
                        now_ns, severity, data)

    def _sentiment(self, event: dict[str, Any], now_ns: int) -> Iterable[Alert]:
        symbol, score = str(event.get("symbol")), float(event.get("score", 0.0))
        base = self._last_sentiment.setdefault(symbol, score)
        thresholds = [r.threshold for r in self.config.rules if r.rule is AlertRule.SENTIMENT_MOVE
                      and (r.symbols is None or symbol in r.symbols)]
        if not thresholds or abs(score - base) < min(thresholds):
            return
        self._last_sentiment[symbol] = score
        yield Alert(AlertRule.SENTIMENT_MOVE, f"sentiment:{symbol}:{round(score, 2)}",
                    f"News sentiment on {symbol} moved {base:+.2f} -> {score:+.2f}",
                    str(event.get("headline", "")), now_ns, Severity.INFO,
                    {"symbol": symbol, "score": score, "previous": base, "move": score - base,
                     "headline": event.get("headline")})


def _strategy(event: dict[str, Any], now_ns: int) -> Iterable[Alert]:
    sid, state, error = str(event.get("strategy_id")), str(event.get("state")), event.get("error")
    if error:
        yield Alert(AlertRule.STRATEGY_ERROR, f"strategy_error:{sid}:{error}", f"Strategy {sid} failed",
                    str(error), now_ns, Severity.CRITICAL, {"strategy_id": sid, "error": str(error)})
    elif state == "stopped":
        yield Alert(AlertRule.STRATEGY_STOPPED, f"strategy_stopped:{sid}", f"Strategy {sid} stopped", "", now_ns,
                    Severity.WARNING, {"strategy_id": sid})


def _matches(rule: RuleConfig, alert: Alert) -> bool:
    if rule.strategies is not None:
        sid = alert.data.get("strategy_id")
        if sid is not None and sid not in rule.strategies:
            return False
    if rule.symbols is not None and alert.rule is AlertRule.SENTIMENT_MOVE:
        return alert.data.get("symbol") in rule.symbols
    return True


def _pick(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: data[k] for k in keys if k in data}


def observation(kind: str, **fields: Any) -> dict[str, Any]:
    """An event the alert actor observed itself (strategy status, the day's P&L, a sentiment score)."""
    return {"kind": kind, **fields}
