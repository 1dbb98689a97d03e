"""Rules: which runtime events become which alerts, on which channels."""

from __future__ import annotations

import pytest

from trading.alerts import AlertRule, AlertRules, NotificationsConfig, observation
from trading.live.config import parse_runtime_config
from trading.messages import OrderDenied, RiskStateChanged
from trading.model.identifiers import ClientOrderId, InstrumentId, StrategyId

CONFIG = NotificationsConfig.model_validate({
    "channels": [{"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:1/x"},
                 {"name": "mail", "kind": "email", "host": "127.0.0.1", "sender": "a@b.c", "to": ["d@e.f"]}],
    "rules": [{"rule": "kill_switch", "channels": ["ops", "mail"]},
              {"rule": "breaker_tripped", "channels": ["ops"]},
              {"rule": "order_denied", "channels": ["mail"], "strategies": ["spy"]},
              {"rule": "strategy_error", "channels": ["ops"]},
              {"rule": "sentiment_move", "channels": ["ops"], "threshold": 0.5}],
})


def test_kill_switch_goes_to_both_channels() -> None:
    ((alert, channels),) = AlertRules(CONFIG).evaluate({"kind": "kill_switch", "on": True, "reason": "desk"}, 5)
    assert (alert.rule, channels, alert.severity.value) == (AlertRule.KILL_SWITCH, ["ops", "mail"], "critical")


def test_a_breaker_is_a_risk_state_change_and_a_breaker_alert() -> None:
    event = RiskStateChanged("HALTED", "ACTIVE", "DAILY_LOSS_LIMIT: lost 600 today, limit 500", 7).to_dict()
    routed = AlertRules(CONFIG).evaluate(event, 7)
    assert [(a.rule, c) for a, c in routed] == [(AlertRule.BREAKER_TRIPPED, ["ops"])]  # no rule for state changes


def test_order_denied_only_for_the_named_strategies() -> None:
    def denied(sid: str) -> dict[str, object]:
        return OrderDenied(ClientOrderId(f"{sid}-1"), StrategyId(sid), InstrumentId.parse("SPY.PAPER"), 1,
                           "MAX_ORDER_QUANTITY").to_dict()

    rules = AlertRules(CONFIG)
    assert [c for _, c in rules.evaluate(denied("spy"), 1)] == [["mail"]]
    assert rules.evaluate(denied("qqq"), 1) == []


def test_strategy_error_and_sentiment_move() -> None:
    rules = AlertRules(CONFIG)
    ((error, _),) = rules.evaluate(observation("StrategyStatus", strategy_id="s", state="running",
                                               error="ZeroDivisionError"), 1)
    assert error.rule is AlertRule.STRATEGY_ERROR
    assert rules.evaluate(observation("SentimentScore", symbol="AAPL", score=0.1), 1) == []
    assert rules.evaluate(observation("SentimentScore", symbol="AAPL", score=0.4), 2) == []
    ((move, _),) = rules.evaluate(observation("SentimentScore", symbol="AAPL", score=-0.45), 3)
    assert move.data["move"] == pytest.approx(-0.55)


def test_the_runtime_config_takes_a_notifications_section_and_names_bad_keys() -> None:
    base = {"brokers": [{"name": "alpaca", "kind": "alpaca"}]}
    config = parse_runtime_config({**base, "notifications": CONFIG.model_dump(mode="json")})
    assert config.notifications is not None and len(config.notifications.channels) == 2
    with pytest.raises(ValueError, match="unknown channel 'sms'"):
        parse_runtime_config({**base, "notifications": {"rules": [{"rule": "fill", "channels": ["sms"]}]}})
    with pytest.raises(ValueError, match=r"notifications.channels\[0\].webhook.secret: unknown key"):
        parse_runtime_config({**base, "notifications": {"channels": [
            {"name": "ops", "kind": "webhook", "url": "https://x", "secret": "in-the-file"}]}})
