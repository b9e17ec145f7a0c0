-- v3: the webhook delivery log (one row per delivery attempt of an outbox message).
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL,         -- webhook_outbox.id, the stable webhook-id
    job_id      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    url         TEXT NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms REAL,
    created_at  REAL NOT NULL
);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, id);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id, id);
