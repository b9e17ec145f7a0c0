-- Named queries of the webhook outbox and delivery log (store/_outbox.py): the same names as
-- sqlite/webhooks.sql, with FOR UPDATE SKIP LOCKED in the claim.

-- name: webhook_claim
-- Lease due messages. A message waits while an older message of the same job is still PENDING,
-- so a receiver sees a job's events in order (job.started before job.completed). Bumping
-- attempts makes it the fencing token of this attempt. SKIP LOCKED: concurrent dispatchers
-- take different messages instead of queueing on the same rows.
WITH due AS (
    SELECT o.id FROM webhook_outbox o
    WHERE o.status = 'PENDING' AND o.next_attempt_at <= %(now)s
      AND (o.locked_until IS NULL OR o.locked_until < %(now)s)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_outbox e
          WHERE e.job_id = o.job_id AND e.status = 'PENDING'
            AND (e.created_at < o.created_at OR (e.created_at = o.created_at AND e.id < o.id)))
    ORDER BY o.next_attempt_at, o.created_at, o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE webhook_outbox w
SET attempts = w.attempts + 1, locked_until = %(locked_until)s, locked_by = %(worker_id)s
FROM due WHERE w.id = due.id
RETURNING w.*;

-- name: webhook_finish_attempt
-- Fenced by attempts: a dispatcher whose lease was taken over writes nothing here.
UPDATE webhook_outbox
SET status = %(status)s,
    next_attempt_at = COALESCE(%(next_attempt_at)s::float8, next_attempt_at),
    locked_until = NULL, locked_by = NULL, last_error = %(error)s,
    delivered_at = COALESCE(%(delivered_at)s::float8, delivered_at)
WHERE id = %(id)s AND attempts = %(attempt)s AND status = 'PENDING'
RETURNING id;

-- name: webhook_insert_delivery
INSERT INTO webhook_deliveries (message_id, job_id, event_type, attempt, url, status,
                                status_code, error, duration_ms, created_at)
VALUES (%(message_id)s, %(job_id)s, %(event_type)s, %(attempt)s, %(url)s, %(status)s,
        %(status_code)s, %(error)s, %(duration_ms)s, %(now)s);

-- name: webhook_list_deliveries
SELECT * FROM webhook_deliveries WHERE job_id = %(job_id)s ORDER BY id LIMIT %(limit)s;

-- name: webhook_get_delivery
SELECT * FROM webhook_deliveries WHERE id = %(id)s AND job_id = %(job_id)s;

-- name: webhook_list_messages
SELECT * FROM webhook_outbox WHERE job_id = %(job_id)s ORDER BY created_at, id;

-- name: webhook_get_message
SELECT * FROM webhook_outbox WHERE id = %(id)s;

-- name: webhook_redeliver
-- Due now with a fresh retry budget; refused (no row) while an attempt holds the lease.
UPDATE webhook_outbox
SET status = 'PENDING', next_attempt_at = %(now)s, attempts_base = attempts
WHERE id = %(id)s AND (locked_until IS NULL OR locked_until < %(now)s)
RETURNING *;

-- name: webhook_tenant_secret
SELECT webhook_secret FROM tenants WHERE name = %(tenant)s;

-- name: webhook_ensure_tenant
INSERT INTO tenants (name, webhook_secret, created_at) VALUES (%(tenant)s, %(secret)s, %(now)s)
ON CONFLICT (name) DO NOTHING;
