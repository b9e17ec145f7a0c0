-- Named queries of retention cleanup (store/_retention.py). The PostgreSQL dialect defines
-- the same names. :ids is a JSON array of job ids.

-- name: expired_jobs
SELECT id FROM jobs
WHERE finished_at < :cutoff AND state IN ('COMPLETED', 'FAILED', 'CANCELED')
ORDER BY finished_at
LIMIT :limit;

-- name: delete_progress_of_jobs
DELETE FROM progress WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_labels_of_jobs
DELETE FROM job_labels WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_task_deps_of_jobs
DELETE FROM task_deps WHERE task_seq IN (
    SELECT seq FROM tasks WHERE job_id IN (SELECT value FROM json_each(:ids)));

-- name: delete_results_of_jobs
DELETE FROM results WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_cache_of_jobs
DELETE FROM job_cache WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_events_of_jobs
DELETE FROM events WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_outbox_of_jobs
DELETE FROM webhook_outbox WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_deliveries_of_jobs
DELETE FROM webhook_deliveries WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_tasks_of_jobs
DELETE FROM tasks WHERE job_id IN (SELECT value FROM json_each(:ids));

-- name: delete_jobs
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: event_retention_boundary
-- The first id to keep: the oldest event at or after the cutoff (or past the newest event).
SELECT COALESCE(
    (SELECT id FROM events WHERE created_at >= :cutoff ORDER BY id LIMIT 1),
    (SELECT COALESCE(MAX(id), 0) + 1 FROM events)) AS id;

-- name: delete_events_before
DELETE FROM events WHERE id IN (SELECT id FROM events WHERE id < :before ORDER BY id LIMIT :limit);
