-- The live runtime's schema. Money, prices and quantities are NUMERIC (exact, read back as Decimal).

-- The append-only journal: every event the runtime decides on or receives, in order.
CREATE TABLE events (
    seq     BIGSERIAL PRIMARY KEY,
    ts      TIMESTAMPTZ NOT NULL DEFAULT now(),
    stream  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    key     TEXT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    -- An idempotency key is stored once per stream; NULL keys never collide (NULLs are distinct).
    CONSTRAINT events_stream_key UNIQUE (stream, key)
);
CREATE INDEX events_stream_seq ON events (stream, seq);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation', HINT = 'append a correcting event instead';
END;
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
-- TRUNCATE skips row triggers, so it needs its own statement trigger.
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- The latest state of each order, keyed by our own client order id (idempotent upserts).
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    strategy_id     TEXT NOT NULL,
    instrument_id   TEXT NOT NULL,
    broker          TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type      TEXT NOT NULL,
    quantity        NUMERIC NOT NULL CHECK (quantity > 0),
    limit_price     NUMERIC NULL,
    stop_price      NUMERIC NULL,
    status          TEXT NOT NULL,
    filled_qty      NUMERIC NOT NULL DEFAULT 0 CHECK (filled_qty >= 0),
    avg_price       NUMERIC NULL,
    venue_order_id  TEXT NULL,
    data            JSONB NOT NULL DEFAULT '{}',
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_strategy ON orders (strategy_id, created_at);
CREATE INDEX orders_instrument ON orders (instrument_id, created_at);

-- One row per venue trade: the fill id is unique, so replayed execution reports are stored once.
-- No foreign key to orders: a fill may be reconciled before (or without) its order row.
CREATE TABLE fills (
    fill_id         TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    instrument_id   TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity        NUMERIC NOT NULL CHECK (quantity > 0),
    price           NUMERIC NOT NULL,
    commission      NUMERIC NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL,
    ts              TIMESTAMPTZ NOT NULL,
    data            JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX fills_ts ON fills (ts);
CREATE INDEX fills_order ON fills (client_order_id, ts);

CREATE TABLE positions (
    account_id    TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    quantity      NUMERIC NOT NULL,
    avg_price     NUMERIC NOT NULL,
    realized_pnl  NUMERIC NOT NULL DEFAULT 0,
    data          JSONB NOT NULL DEFAULT '{}',
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, instrument_id)
);

CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    broker     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    cash       NUMERIC NOT NULL,
    data       JSONB NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE strategies (
    strategy_id TEXT PRIMARY KEY,
    import_path TEXT NOT NULL,
    config      JSONB NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    user_id    TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- API keys are stored as a hash only; the prefix is the public part used to find the row.
CREATE TABLE api_keys (
    key_id       TEXT PRIMARY KEY DEFAULT gen_random_uuid()::text,
    user_id      TEXT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    prefix       TEXT NOT NULL UNIQUE,
    key_hash     TEXT NOT NULL,
    scopes       TEXT[] NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ NULL,
    last_used_at TIMESTAMPTZ NULL
);

-- Broker secrets, encrypted by the caller before they get here: this table only ever sees ciphertext.
CREATE TABLE broker_credentials (
    broker     TEXT NOT NULL,
    name       TEXT NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (broker, name)
);
