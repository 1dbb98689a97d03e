"""Authentication before work: a request with no credentials is refused before its body is read, a body over
the limit is refused (413), tokens are minted under the key's rate limit, and an address that keeps failing
authentication is locked out (429)."""

from __future__ import annotations

from collections.abc import Iterator

from .gateway import KEYS, client, h, offline_gateway

MIB = 1 << 20


def test_unauthenticated_request_with_a_malformed_body_then_401_before_parsing() -> None:
    app, runtime = offline_gateway()
    answer = client(app).post("/v1/orders", content=b"{" * (MIB - 1), headers={"Content-Type": "application/json"})
    assert answer.status_code == 401, answer.text  # not 422: the body was never parsed
    assert answer.json()["error"]["code"] == "unauthorized" and runtime.calls == []


def test_body_over_one_mib_then_413() -> None:
    app, runtime = offline_gateway()
    body = b'{"strategy": "sma_cross", "params": {"pad": "' + b"x" * MIB + b'"}}'
    headers = {**h("trade"), "Content-Type": "application/json"}
    answer = client(app).post("/v1/strategies", content=body, headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "payload_too_large" and runtime.calls == []


def test_chunked_body_over_one_mib_then_413() -> None:
    app, runtime = offline_gateway()

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"strategy": "sma_cross", "params": {"pad": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    answer = client(app).post("/v1/strategies", content=chunks(), headers={**h("trade"),
                                                                            "Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert runtime.calls == []


def test_small_chunked_body_then_still_read() -> None:
    app, runtime = offline_gateway()
    answer = client(app).post("/v1/backtests", content=iter([b'{"data": "x.csv", ', b'"strategy": "sma_cross"}']),
                              headers={**h("trade"), "Content-Type": "application/json"})
    assert answer.status_code == 202, answer.text
    assert [name for name, _ in runtime.calls] == ["submit_research"]


def test_token_requests_past_the_key_rate_limit_then_429() -> None:
    app, _ = offline_gateway(rate_limit=3)
    web = client(app)
    codes = [web.post("/v1/auth/token", headers=h("read")).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_failed_authentications_from_one_address_then_429_for_that_address_only() -> None:
    app, _ = offline_gateway(auth_failures=5, auth_failure_window_s=60)
    attacker, neighbour = client(app, "198.51.100.1"), client(app, "198.51.100.2")
    guesses = [f"dto_{i:08d}_guess" for i in range(8)]
    codes = [attacker.post("/v1/auth/token", headers={"X-API-Key": key}).status_code for key in guesses]
    assert codes == [401] * 5 + [429] * 3
    locked = attacker.get("/v1/positions", headers=h("read"))  # even a good key: the address is locked out
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert attacker.get("/v1/positions").status_code == 429 and attacker.get("/health").status_code == 200
    assert neighbour.post("/v1/auth/token", headers={"X-API-Key": KEYS["read"]}).status_code == 200
