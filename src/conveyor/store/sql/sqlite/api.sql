-- Named queries of the HTTP API (tenants, API keys, job timing for ETAs and metrics).
-- Portable SQL: the PostgreSQL dialect defines the same names.

-- name: insert_tenant
INSERT INTO tenants (name, webhook_secret, created_at) VALUES (:name, :secret, :now)
ON CONFLICT (name) DO NOTHING;

-- name: get_tenant
SELECT name, webhook_secret, created_at FROM tenants WHERE name = :name;

-- name: insert_api_key
INSERT INTO api_keys (id, tenant, key_hash, prefix, created_at)
VALUES (:id, :tenant, :key_hash, :prefix, :now);

-- name: find_api_key
SELECT id, tenant, last_used_at FROM api_keys WHERE key_hash = :key_hash AND revoked_at IS NULL;

-- name: touch_api_key
UPDATE api_keys SET last_used_at = :now
WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :stale);

-- name: list_api_keys
SELECT * FROM api_keys
WHERE (:tenant IS NULL OR tenant = :tenant) AND (:include_revoked = 1 OR revoked_at IS NULL)
ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now
WHERE (id = :id OR key_hash = :key_hash) AND revoked_at IS NULL
RETURNING *;

-- name: get_api_key
SELECT * FROM api_keys WHERE id = :id OR key_hash = :key_hash;

-- name: count_active_api_keys
SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL;

-- name: avg_task_seconds
SELECT AVG(seconds) AS seconds FROM (
    SELECT finished_at - started_at AS seconds FROM tasks
    WHERE state = 'COMPUTED' AND started_at IS NOT NULL AND finished_at IS NOT NULL
    ORDER BY seq DESC LIMIT :limit) recent;

-- name: avg_job_seconds
SELECT AVG(seconds) AS seconds FROM (
    SELECT finished_at - started_at AS seconds FROM jobs
    WHERE name = :name AND state = 'COMPLETED' AND started_at IS NOT NULL
      AND finished_at IS NOT NULL
    ORDER BY submitted_at DESC LIMIT :limit) recent;

-- name: busy_workers
SELECT COUNT(DISTINCT worker_id) AS n FROM tasks WHERE state = 'RUNNING';

-- name: recent_task_durations
SELECT identifier, finished_at - started_at AS seconds FROM tasks
WHERE state = 'COMPUTED' AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY seq DESC LIMIT :limit;

-- name: job_submitted_at
SELECT submitted_at FROM jobs WHERE id = :id;
