-- v2: tenants and API keys (HTTP API). Keys are stored hashed; the secret is shown once.
-- Mirrors sqlite/migrations/0002_api.sql.
CREATE TABLE tenants (
    name           text PRIMARY KEY,
    webhook_secret text NOT NULL,      -- whsec_... (Standard Webhooks), per tenant
    created_at     double precision NOT NULL
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    tenant       text NOT NULL,
    key_hash     text NOT NULL UNIQUE,
    prefix       text NOT NULL,        -- first characters, to recognise a key in listings
    created_at   double precision NOT NULL,
    revoked_at   double precision,
    last_used_at double precision
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- Job listings of one tenant, newest first (GET /jobs), and recent runs of a job name (ETA).
CREATE INDEX jobs_tenant_submitted ON jobs (tenant, submitted_at DESC, id DESC);
CREATE INDEX jobs_name_submitted ON jobs (name, submitted_at DESC);
