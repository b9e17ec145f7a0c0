-- v2: tenants and API keys (HTTP API). Keys are stored hashed; the secret is shown once.
CREATE TABLE tenants (
    name           TEXT PRIMARY KEY,
    webhook_secret TEXT NOT NULL,      -- whsec_... (Standard Webhooks), per tenant
    created_at     REAL NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,        -- first characters, to recognise a key in listings
    created_at   REAL NOT NULL,
    revoked_at   REAL,
    last_used_at REAL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- Job listings of one tenant, newest first (GET /jobs), and recent runs of a job name (ETA).
CREATE INDEX jobs_tenant_submitted ON jobs (tenant, submitted_at DESC, id DESC);
CREATE INDEX jobs_name_submitted ON jobs (name, submitted_at DESC);
