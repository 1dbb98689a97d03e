"""The one typed way into the runtime: `RuntimeClient` raises the actors' own exceptions (naming the actor) and
`ActorUnavailable` for an actor that is not there; the gateway never calls an actor method by name."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from actors.client import ActorUnavailable, raised_by
from trading.errors import ConfigError

from .conftest import Runtime
from .test_http import h

SERVE_APPS = Path(__file__).resolve().parents[2] / "serve_apps"


def test_no_gateway_module_reaches_an_actor_by_name() -> None:
    # Actor handles and `.remote(` calls live in actors/client.py only; a route asks `svc.runtime`.
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(SERVE_APPS.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\.remote\(|get_actor\(|runtime\._ask\(", line)
    ]
    assert offenders == []


@pytest.mark.ray
@pytest.mark.storage
@pytest.mark.slow
def test_the_client_raises_the_actors_own_errors_and_names_a_missing_actor(runtime: Runtime) -> None:
    client = runtime.client

    async def scenario() -> None:
        with pytest.raises(ConfigError) as bad:
            await client.add_strategy("no_such_strategy")
        assert raised_by(bad.value) == "orchestrator"
        with pytest.raises(ActorUnavailable) as missing:
            await client.strategy_status("ghost")
        assert missing.value.actor == "strategy-ghost" and not missing.value.running
        brokers = await client.brokers()
        assert [(b.name, b.kind) for b in brokers] == [("paper", "paper"), ("paper2", "paper")]
        assert (await client.risk_status())["state"] in ("active", "reducing", "halted")

    asyncio.run(scenario())


@pytest.mark.ray
@pytest.mark.storage
@pytest.mark.slow
def test_alerts_answer_404_when_the_runtime_has_no_alert_actor(gateway_url: str, keys: dict[str, str]) -> None:
    answer = httpx.get(f"{gateway_url}/v1/alerts", headers=h(keys["read"]))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "NO_ALERTS", answer.text
