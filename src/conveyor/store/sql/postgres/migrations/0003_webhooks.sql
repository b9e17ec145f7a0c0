-- v3: the webhook delivery log (one row per delivery attempt of an outbox message), and the
-- outbox columns the dispatcher needs to lease messages and restart their retry budget.
-- Mirrors sqlite/migrations/0003_webhooks.sql.
CREATE TABLE webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  text NOT NULL,         -- webhook_outbox.id, the stable webhook-id
    job_id      uuid NOT NULL,
    event_type  text NOT NULL,
    attempt     integer NOT NULL,      -- webhook_outbox.attempts when this attempt was claimed
    url         text NOT NULL,
    status      text NOT NULL,         -- DELIVERED, RETRYING (another attempt follows), FAILED
    status_code integer,
    error       text,
    duration_ms double precision,
    created_at  double precision NOT NULL
);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id, id);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id, id);

-- Which dispatcher holds the lease (locked_until) of a message, for operators.
ALTER TABLE webhook_outbox ADD COLUMN locked_by text;
-- attempts made before the current retry series: a redelivery sets it to attempts, so the
-- message gets a fresh retry budget while attempts stays monotonic (it fences stale writers).
ALTER TABLE webhook_outbox ADD COLUMN attempts_base integer NOT NULL DEFAULT 0;
