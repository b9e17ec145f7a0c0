-- v3: the webhook delivery log (one row per delivery attempt of an outbox message), and the
-- outbox columns the dispatcher needs to lease messages and restart their retry budget.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL,         -- webhook_outbox.id, the stable webhook-id
    job_id      TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,      -- webhook_outbox.attempts when this attempt was claimed
    url         TEXT NOT NULL,
    status      TEXT NOT NULL,         -- DELIVERED, RETRYING (another attempt follows), FAILED
    status_code INTEGER,
    error       TEXT,
    duration_ms REAL,
    created_at  REAL NOT NULL
);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, id);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id, id);

-- Which dispatcher holds the lease (locked_until) of a message, for operators.
ALTER TABLE webhook_outbox ADD COLUMN locked_by TEXT;
-- attempts made before the current retry series: a redelivery sets it to attempts, so the
-- message gets a fresh retry budget while attempts stays monotonic (it fences stale writers).
ALTER TABLE webhook_outbox ADD COLUMN attempts_base INTEGER NOT NULL DEFAULT 0;
