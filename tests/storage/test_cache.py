"""The live cache against a real Redis: last bars, pub/sub, kill switch, rate limits."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from trading.storage import LiveCache, StorageServers

from .support import Run

pytestmark = pytest.mark.storage


def test_ping(cache: LiveCache, run: Run) -> None:
    assert run(cache.ping()) is True


def test_last_bar_round_trip(cache: LiveCache, run: Run, uid: str) -> None:
    instrument = f"AAPL-{uid}.ALPACA"
    assert run(cache.get_last_bar(instrument)) is None
    run(cache.set_last_bar(instrument, {"close": Decimal("187.25"), "volume": 1200, "ts": "2024-03-01T14:30:00Z"}))
    run(cache.set_last_bar(instrument, {"close": Decimal("187.30"), "volume": 900, "ts": "2024-03-01T14:31:00Z"}))
    assert run(cache.get_last_bar(instrument)) == {"close": "187.30", "volume": 900, "ts": "2024-03-01T14:31:00Z"}


def test_publish_then_receive(cache: LiveCache, run: Run, uid: str) -> None:
    async def scenario() -> list[dict[str, object]]:
        async with cache.subscribe(f"fills-{uid}") as events:
            assert await cache.publish(f"fills-{uid}", {"n": 1}) == 1
            assert await cache.publish(f"other-{uid}", {"n": 99}) == 0
            await cache.publish(f"fills-{uid}", {"n": 2, "px": Decimal("0.1")})
            return [await asyncio.wait_for(anext(events), 2.0) for _ in range(2)]

    assert run(scenario()) == [{"n": 1}, {"n": 2, "px": "0.1"}]


def test_a_batch_is_one_message_and_subscribers_get_its_events_one_by_one(cache: LiveCache, run: Run, uid: str) -> None:
    channel = f"batch-{uid}"

    async def scenario() -> tuple[int, list[dict[str, object]], list[tuple[str, dict[str, object]]]]:
        raw = cache._client.pubsub()  # what Redis carries: one message per publish_many
        await raw.subscribe(cache._key("ch", channel))
        async with cache.subscribe(channel) as events, cache.subscribe_many(channel, "other") as many:
            await cache.publish_many(channel, [{"n": 1}, {"n": 2}, {"n": 3}])
            await cache.publish(channel, {"n": 4})
            got = [await asyncio.wait_for(anext(events), 2.0) for _ in range(4)]
            via_many = [message for _ in range(4) if (message := await many.next_message(2.0)) is not None]
        messages = 0
        while (message := await raw.get_message(timeout=0.5)) is not None:
            messages += message["type"] == "message"
        await raw.aclose()
        return messages, got, via_many

    messages, got, via_many = run(scenario())
    assert messages == 2
    assert got == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert via_many == [(channel, {"n": k}) for k in (1, 2, 3, 4)]


def test_kill_switch(cache: LiveCache, run: Run) -> None:
    async def scenario() -> tuple[bool, str, dict[str, object]]:
        async with cache.subscribe("kill_switch") as announcements:
            await cache.set_kill_switch(True, "daily loss limit")
            on, reason = await cache.kill_switch()
            announced = await asyncio.wait_for(anext(announcements), 2.0)
        return on, reason, announced

    on, reason, announced = run(scenario())
    assert (on, reason) == (True, "daily loss limit")
    assert announced["on"] is True and announced["reason"] == "daily loss limit"
    run(cache.set_kill_switch(False, "reset by operator"))
    assert run(cache.kill_switch()) == (False, "reset by operator")


def test_kill_switch_is_off_when_never_set(servers: StorageServers, run: Run, uid: str) -> None:
    fresh = LiveCache.from_url(servers.redis_url, namespace=f"ns-{uid}")
    try:
        assert run(fresh.kill_switch()) == (False, "")
    finally:
        run(fresh.close())


def test_rate_limit_fixed_window(cache: LiveCache, run: Run, uid: str) -> None:
    key = f"orders-{uid}"
    results = [run(cache.rate_limit_hit(key, 3, 0.3)) for _ in range(4)]
    assert results[:3] == [(True, 0.0)] * 3
    allowed, retry_after = results[3]
    assert allowed is False and 0 < retry_after <= 0.3

    run(asyncio.sleep(retry_after + 0.02))
    assert run(cache.rate_limit_hit(key, 3, 0.3)) == (True, 0.0)  # a new window
    assert run(cache.rate_limit_hit(f"other-{uid}", 1, 10))[0] is True  # keys count separately


def test_rate_limit_is_atomic_under_concurrency(cache: LiveCache, run: Run, uid: str) -> None:
    async def burst() -> list[tuple[bool, float]]:
        return list(await asyncio.gather(*(cache.rate_limit_hit(f"burst-{uid}", 5, 5) for _ in range(20))))

    results = run(burst())
    assert sum(allowed for allowed, _ in results) == 5


def test_the_event_publisher_keeps_order_off_the_callers_path_and_never_raises(
    cache: LiveCache, run: Run, uid: str
) -> None:
    from actors.storage import EventPublisher
    from trading.messages import OrderAccepted, OrderSubmitted
    from trading.model.identifiers import InstrumentId

    iid = InstrumentId.parse("SPX.PAPER")
    events = [
        OrderSubmitted(f"c-{k}", "s", iid, k) if k % 2 else OrderAccepted(f"c-{k}", "s", iid, k)  # type: ignore[arg-type]
        for k in range(6)
    ]

    async def scenario() -> tuple[list[dict[str, object]], int]:
        publisher = EventPublisher(cache, f"events-{uid}", "oms")
        async with cache.subscribe(f"events-{uid}") as received:
            for k in range(0, 6, 2):  # three calls that return before anything reached Redis
                publisher.publish(events[k : k + 2])
            await publisher.drained()
            got = [await asyncio.wait_for(anext(received), 2.0) for _ in range(6)]
        broken = EventPublisher(LiveCache.from_url("redis://127.0.0.1:1/0"), "events", "oms")  # nothing listens
        broken.publish(events[:2])
        await broken.drained()
        return got, broken.dropped

    got, dropped = run(scenario())
    assert [(e["client_order_id"], e["kind"], e["stream"]) for e in got] == [
        (e.client_order_id, e.kind, "oms") for e in events
    ]
    assert dropped == 2
