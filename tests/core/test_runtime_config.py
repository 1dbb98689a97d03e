"""The runtime configuration: shipped files validate, every error names its key, real money needs two yeses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trading.errors import ConfigError
from trading.live.config import (
    BrokerConfig,
    load_runtime_config,
    parse_runtime_config,
    require_live_confirmation,
)

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
MINIMAL: dict[str, Any] = {
    "brokers": [{"name": "alpaca", "kind": "alpaca"}],
    "strategies": [{"id": "spy_cross", "strategy": "sma_cross", "params": {"fast": 3, "slow": 8},
                    "instrument": "SPY.ALPACA", "broker": "alpaca", "size": 1}],
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    config = load_runtime_config(path)
    assert config.brokers and config.strategies
    assert not config.live_brokers, "a shipped config never trades real money"


def test_the_issues_minimal_alpaca_file_is_a_whole_config() -> None:
    config = parse_runtime_config(MINIMAL)
    assert config.broker("alpaca").kind == "alpaca" and config.strategies[0].size == 1


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"brokers": [{"name": "alpaca", "kind": "alpaca", "colour": "red"}]}, "brokers[0].colour"),
        ({"brokers": [{"name": "alpaca", "kind": "robinhood"}]}, "brokers[0].kind"),
        ({"strategies": [{**MINIMAL["strategies"][0], "broker": "alpcaa"}]}, "strategies[0].broker"),
        ({"strategies": [{**MINIMAL["strategies"][0], "instrument": "SPY"}]}, "strategies[0].instrument"),
        ({"risk": {"max_order_quantity": -1}}, "risk.max_order_quantity"),
        ({"risk": {"max_orders": 3}}, "risk.max_orders"),
        ({"brokers": [{"name": "alpaca", "kind": "alpaca", "settings": {"secret_key": "x"}}]}, "brokers[0].settings"),
        ({"brokers": [{"name": "alpaca", "kind": "paper"}]}, "replay"),
    ],
)
def test_a_bad_config_fails_before_anything_starts_naming_its_key(change: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_runtime_config({**MINIMAL, **change})
    assert raised.value.key == key, str(raised.value)
    assert key in str(raised.value)


def test_real_money_needs_live_in_the_file_and_the_flag_on_the_command_line() -> None:
    config = parse_runtime_config({**MINIMAL, "brokers": [{"name": "alpaca", "kind": "alpaca", "live": True}]})
    with pytest.raises(ConfigError, match="--live"):
        require_live_confirmation(config, confirmed=False)
    require_live_confirmation(config, confirmed=True)
    require_live_confirmation(parse_runtime_config(MINIMAL), confirmed=False)  # paper: nothing to confirm


def test_adapter_settings_come_from_the_environment_and_the_file_and_paper_is_forced_unless_live() -> None:
    broker = BrokerConfig(name="alpaca", kind="alpaca", settings={"trading_url": "http://127.0.0.1:1"})
    env = broker.environment({"ALPACA_API_KEY": "k", "ALPACA_PAPER": "false"})
    assert env["ALPACA_TRADING_URL"] == "http://127.0.0.1:1" and env["ALPACA_API_KEY"] == "k"
    assert env["ALPACA_PAPER"] == "true"  # the environment cannot switch a paper broker to real money


def test_a_ccxt_broker_off_its_sandbox_at_the_exchanges_own_urls_is_refused_unless_live() -> None:
    off = BrokerConfig(name="binance", kind="ccxt", settings={"sandbox": False})
    with pytest.raises(ConfigError, match="real money"):
        off.environment({})
    local = BrokerConfig(name="binance", kind="ccxt", settings={"sandbox": False, "urls": "public=http://127.0.0.1:1"})
    assert local.environment({})["CCXT_SANDBOX"] == "false"
