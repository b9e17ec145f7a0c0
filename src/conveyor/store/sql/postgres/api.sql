-- Named queries of the HTTP API (tenants, API keys, job timing for ETAs and metrics): the
-- same names as sqlite/api.sql.

-- name: insert_tenant
INSERT INTO tenants (name, webhook_secret, created_at) VALUES (%(name)s, %(secret)s, %(now)s)
ON CONFLICT (name) DO NOTHING;

-- name: get_tenant
SELECT name, webhook_secret, created_at FROM tenants WHERE name = %(name)s;

-- name: insert_api_key
INSERT INTO api_keys (id, tenant, key_hash, prefix, created_at)
VALUES (%(id)s, %(tenant)s, %(key_hash)s, %(prefix)s, %(now)s);

-- name: find_api_key
SELECT id, tenant, last_used_at FROM api_keys
WHERE key_hash = %(key_hash)s AND revoked_at IS NULL;

-- name: touch_api_key
UPDATE api_keys SET last_used_at = %(now)s
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(stale)s);

-- name: list_api_keys
SELECT * FROM api_keys
WHERE (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
  AND (%(include_revoked)s::int = 1 OR revoked_at IS NULL)
ORDER BY created_at, id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = %(now)s
WHERE (id = %(id)s OR key_hash = %(key_hash)s) AND revoked_at IS NULL
RETURNING *;

-- name: get_api_key
SELECT * FROM api_keys WHERE id = %(id)s OR key_hash = %(key_hash)s;

-- name: count_active_api_keys
SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL;

-- name: avg_task_seconds
SELECT AVG(seconds) AS seconds FROM (
    SELECT finished_at - started_at AS seconds FROM tasks
    WHERE state = 'COMPUTED' AND started_at IS NOT NULL AND finished_at IS NOT NULL
    ORDER BY seq DESC LIMIT %(limit)s) recent;

-- name: avg_job_seconds
SELECT AVG(seconds) AS seconds FROM (
    SELECT finished_at - started_at AS seconds FROM jobs
    WHERE name = %(name)s AND state = 'COMPLETED' AND started_at IS NOT NULL
      AND finished_at IS NOT NULL
    ORDER BY submitted_at DESC LIMIT %(limit)s) recent;

-- name: busy_workers
SELECT COUNT(DISTINCT worker_id) AS n FROM tasks WHERE state = 'RUNNING';

-- name: recent_task_durations
SELECT identifier, finished_at - started_at AS seconds FROM tasks
WHERE state = 'COMPUTED' AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY seq DESC LIMIT %(limit)s;

-- name: job_submitted_at
SELECT submitted_at FROM jobs WHERE id = %(id)s;
