-- Named queries of the webhook outbox and delivery log (store/_outbox.py). Portable SQL: the
-- PostgreSQL dialect defines the same names (adding FOR UPDATE SKIP LOCKED to the claim).

-- name: webhook_claim
-- Lease due messages. A message waits while an older message of the same job is still PENDING,
-- so a receiver sees a job's events in order (job.started before job.completed). Bumping
-- attempts makes it the fencing token of this attempt.
UPDATE webhook_outbox
SET attempts = attempts + 1, locked_until = :locked_until, locked_by = :worker_id
WHERE id IN (
    SELECT o.id FROM webhook_outbox o
    WHERE o.status = 'PENDING' AND o.next_attempt_at <= :now
      AND (o.locked_until IS NULL OR o.locked_until < :now)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_outbox e
          WHERE e.job_id = o.job_id AND e.status = 'PENDING'
            AND (e.created_at < o.created_at OR (e.created_at = o.created_at AND e.id < o.id)))
    ORDER BY o.next_attempt_at, o.created_at, o.id
    LIMIT :limit)
RETURNING *;

-- name: webhook_finish_attempt
-- Fenced by attempts: a dispatcher whose lease was taken over writes nothing here.
UPDATE webhook_outbox
SET status = :status, next_attempt_at = COALESCE(:next_attempt_at, next_attempt_at),
    locked_until = NULL, locked_by = NULL, last_error = :error,
    delivered_at = COALESCE(:delivered_at, delivered_at)
WHERE id = :id AND attempts = :attempt AND status = 'PENDING'
RETURNING id;

-- name: webhook_insert_delivery
INSERT INTO webhook_deliveries (message_id, job_id, event_type, attempt, url, status,
                                status_code, error, duration_ms, created_at)
VALUES (:message_id, :job_id, :event_type, :attempt, :url, :status, :status_code, :error,
        :duration_ms, :now);

-- name: webhook_list_deliveries
SELECT * FROM webhook_deliveries WHERE job_id = :job_id ORDER BY id LIMIT :limit;

-- name: webhook_get_delivery
SELECT * FROM webhook_deliveries WHERE id = :id AND job_id = :job_id;

-- name: webhook_list_messages
SELECT * FROM webhook_outbox WHERE job_id = :job_id ORDER BY created_at, id;

-- name: webhook_get_message
SELECT * FROM webhook_outbox WHERE id = :id;

-- name: webhook_redeliver
-- Due now with a fresh retry budget; refused (no row) while an attempt holds the lease.
UPDATE webhook_outbox
SET status = 'PENDING', next_attempt_at = :now, attempts_base = attempts
WHERE id = :id AND (locked_until IS NULL OR locked_until < :now)
RETURNING *;

-- name: webhook_tenant_secret
SELECT webhook_secret FROM tenants WHERE name = :tenant;

-- name: webhook_ensure_tenant
INSERT INTO tenants (name, webhook_secret, created_at) VALUES (:tenant, :secret, :now)
ON CONFLICT (name) DO NOTHING;
