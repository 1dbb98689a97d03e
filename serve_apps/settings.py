"""Gateway settings: plain data, given to the Serve deployment (or `build_app`) and validated strictly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from actors import DEFAULT_NAMESPACE
from trading.auth import MIN_JWT_SECRET


class GatewaySettings(BaseModel):
    """Where the runtime and storage are, and the gateway's limits. Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = Field(DEFAULT_NAMESPACE, description="Ray namespace of the runtime's named actors")
    database_url: str | None = Field(
        None, description="PostgreSQL URL; default DATABASE_URL, else DTO_HOME's embedded server (reused)"
    )
    redis_url: str | None = Field(None, description="Redis URL; default REDIS_URL, else DTO_HOME's embedded server")
    redis_namespace: str = Field("dto", description="prefix of the gateway's Redis keys")
    rate_limit: int = Field(100, gt=0, description="requests allowed per API key per window")
    rate_window_s: float = Field(1.0, gt=0, description="rate-limit window in seconds")
    key_cache_s: float = Field(
        5.0, ge=0, description="how long a verified API key is trusted without a database lookup (revocation lag)"
    )
    max_body_bytes: int = Field(1 << 20, gt=0, description="largest request body accepted (413 above it)")
    auth_failures: int = Field(
        20, gt=0, description="failed authentications allowed per client address per window (429 past them)"
    )
    auth_failure_window_s: float = Field(60.0, gt=0, description="window of the failed-authentication count")
    token_ttl_s: int = Field(900, gt=0, le=86_400, description="lifetime of tokens from POST /v1/auth/token")
    actor_timeout_s: float = Field(10.0, gt=0, description="longest wait for one actor call")
    jwt_secret: str | None = Field(
        None, repr=False, min_length=MIN_JWT_SECRET,
        description="token signing secret (32 characters or more); default DTO_JWT_SECRET, else $DTO_HOME/jwt.key",
    )
    manual_strategy_id: str = Field("manual", description="strategy id of orders placed through the API")
