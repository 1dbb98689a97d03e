"""The HTTP gateway: FastAPI behind Ray Serve. It reaches the runtime through `actors.client.RuntimeClient` and holds
no trading state.

```
gateway.py   the Serve deployment (`serve run serve_apps.gateway:app`) and the typed app builder
app.py       build_app(settings): a plain FastAPI app (also runs under uvicorn), /health /ready /metrics
v1.py        the versioned REST routes under /v1 and the live event stream
security.py  API keys (X-API-Key) and JWTs (Bearer), scopes, per-key rate limits
ratelimit.py per-key rate limits counted in Redis, taken in blocks (no Redis round trip per request)
services.py  what the app holds: settings, the asyncpg pool, the Redis cache, the typed RuntimeClient
orders.py    a person's order request made into the core's orders for the venue (capabilities, m- ids, links)
schemas.py   request and response models (requests reject unknown fields)
errors.py    every error as {"error": {"code", "message", "field"?}}
metrics.py   Prometheus metrics: per-route requests and latency, orders by status, P&L per strategy
settings.py  GatewaySettings
reads.py     coalesced actor reads (identical concurrent reads share one call)
research.py  /v1/backtests and /v1/sweeps: submitted to the research actor, read from PostgreSQL
ingress.py   how HTTP reaches the replicas: Serve's HAProxy ingress or its Python proxy
ui.html      the web page at /ui (plain HTML and JS over the same API)
```
"""
