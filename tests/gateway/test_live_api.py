"""Adding a strategy through the API, the event stream fed by Redis pub/sub, and API keys: last use recorded,
revocation in force within `key_cache_s`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from .conftest import Runtime, Storage
from .test_http import EventReader, h

pytestmark = [pytest.mark.ray, pytest.mark.storage, pytest.mark.slow]


def test_add_a_strategy_from_a_config(gateway_url: str, keys: dict[str, str]) -> None:
    url, trade = gateway_url, h(keys["trade"])
    body = {"strategy": "rsi_reversion", "params": {"period": 10}, "strategy_id": "rsi-api"}
    added = httpx.post(f"{url}/v1/strategies", json=body, headers=trade, timeout=30)
    assert added.status_code == 201, added.text
    assert added.json()["strategy_id"] == "rsi-api" and added.json()["params"]["period"] == 10
    running = httpx.get(f"{url}/v1/strategies", headers=trade).json()
    assert "rsi-api" in {s["strategy_id"] for s in running}
    again = httpx.post(f"{url}/v1/strategies", json=body, headers=trade)
    assert again.status_code == 409 and again.json()["error"]["field"] == "strategy_id"
    for change, field in (
        ({"strategy": "ghost"}, "strategy"),
        ({"params": {"nope": 1}}, "params.nope"),
        ({"params": {"period": "long"}}, "params.period"),  # refused by the strategy's config in the runtime
    ):
        bad = httpx.post(f"{url}/v1/strategies", json={**body, "strategy_id": "rsi-bad", **change}, headers=trade)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
    path = {"strategy": "strategies.rsi_reversion:RsiReversion", "strategy_id": "rsi-path"}
    assert httpx.post(f"{url}/v1/strategies", json=path, headers=trade).status_code == 403  # admin only
    assert "rsi-bad" not in {s["strategy_id"] for s in httpx.get(f"{url}/v1/strategies", headers=trade).json()}


async def publish(redis_url: str, namespace: str, event: dict[str, Any]) -> int:
    from trading.storage import LiveCache

    cache = LiveCache.from_url(redis_url, namespace=namespace)
    try:
        return await cache.publish("events", event)
    finally:
        await cache.close()


def test_the_event_stream_carries_what_the_runtime_publishes_to_redis(
    gateway_url: str, keys: dict[str, str], runtime: Runtime, storage: Storage
) -> None:
    stream = EventReader(gateway_url, keys["read"])
    position = {"stream": "oms:test", "kind": "PositionChanged", "account_id": "acct-test",
                "instrument_id": runtime.instrument_id, "quantity": "7", "avg_price": "3100", "realized_pnl": "0",
                "ts": 1}
    receivers = asyncio.run(publish(storage.redis.redis_url, runtime.namespace, position))
    assert receivers >= 1  # the gateway's subscription (a polling stream would not subscribe)
    stream.wait_for(lambda e: e[0] == "position" and e[1]["account_id"] == "acct-test" and e[1]["quantity"] == "7")
    admin = h(keys["admin"])
    httpx.post(f"{gateway_url}/v1/risk/kill-switch", json={"on": True, "reason": "stream test"}, headers=admin)
    httpx.post(f"{gateway_url}/v1/risk/kill-switch", json={"on": False, "reason": "stream test"}, headers=admin)
    stream.wait_for(lambda e: e[0] == "risk" and e[1]["kill_switch"] is True)
    stream.wait_for(lambda e: e[0] == "risk" and e[1]["kill_switch"] is False)


async def new_key(database_url: str) -> tuple[str, str]:
    from trading.auth import create_key
    from trading.storage import ApiKeyStore, open_pool

    pool = await open_pool(database_url)
    try:
        key, row = await create_key(ApiKeyStore(pool), ["read"], "revocation-test")
        return key, str(row.key_id)
    finally:
        await pool.close()


async def revoke(database_url: str, key_id: str) -> None:
    from trading.storage import ApiKeyStore, open_pool

    pool = await open_pool(database_url)
    try:
        assert await ApiKeyStore(pool).revoke(key_id)
    finally:
        await pool.close()


def test_keys_record_their_last_use_and_revocation_takes_effect_within_the_cache_time(
    gateway_url: str, keys: dict[str, str], storage: Storage
) -> None:
    url = gateway_url
    key, key_id = asyncio.run(new_key(storage.database_url))
    listed = {k["key_id"]: k for k in httpx.get(f"{url}/v1/keys", headers=h(keys["admin"])).json()}
    assert listed[key_id]["last_used_at"] is None
    assert httpx.get(f"{url}/v1/risk", headers=h(key)).status_code == 200
    token = httpx.post(f"{url}/v1/auth/token", headers=h(key)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/v1/risk", headers=bearer).status_code == 200
    listed = {k["key_id"]: k for k in httpx.get(f"{url}/v1/keys", headers=h(keys["admin"])).json()}
    assert listed[key_id]["last_used_at"] is not None
    assert httpx.get(f"{url}/v1/keys", headers=h(key)).status_code == 403
    asyncio.run(revoke(storage.database_url, key_id))
    revoked_at = time.monotonic()
    key_cache_s = 5.0  # GatewaySettings default, the revocation lag it promises
    while time.monotonic() - revoked_at < key_cache_s + 2:
        codes = (httpx.get(f"{url}/v1/risk", headers=h(key)).status_code,
                 httpx.get(f"{url}/v1/risk", headers=bearer).status_code)
        if codes == (401, 401):
            break
        time.sleep(0.25)
    assert codes == (401, 401), f"still {codes} {time.monotonic() - revoked_at:.1f}s after revocation"
