-- Named queries of retention cleanup (store/_retention.py): the same names as
-- sqlite/retention.sql. The ids parameter is a list of job ids.

-- name: expired_jobs
-- SKIP LOCKED: a job someone is touching right now (a retry) is left for the next run.
SELECT id FROM jobs
WHERE finished_at < %(cutoff)s AND state IN ('COMPLETED', 'FAILED', 'CANCELED')
ORDER BY finished_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: delete_progress_of_jobs
DELETE FROM progress WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_labels_of_jobs
DELETE FROM job_labels WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_task_deps_of_jobs
DELETE FROM task_deps WHERE task_seq IN (
    SELECT seq FROM tasks WHERE job_id = ANY(%(ids)s::uuid[]));

-- name: delete_results_of_jobs
DELETE FROM results WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_cache_of_jobs
DELETE FROM job_cache WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_events_of_jobs
DELETE FROM events WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_outbox_of_jobs
DELETE FROM webhook_outbox WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_deliveries_of_jobs
DELETE FROM webhook_deliveries WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_tasks_of_jobs
DELETE FROM tasks WHERE job_id = ANY(%(ids)s::uuid[]);

-- name: delete_jobs
DELETE FROM jobs WHERE id = ANY(%(ids)s::uuid[]);

-- name: event_retention_boundary
-- The first id to keep: the oldest event at or after the cutoff (or past the newest event).
SELECT COALESCE(
    (SELECT id FROM events WHERE created_at >= %(cutoff)s ORDER BY id LIMIT 1),
    (SELECT COALESCE(MAX(id), 0) + 1 FROM events)) AS id;

-- name: delete_events_before
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE id < %(before)s ORDER BY id LIMIT %(limit)s);
