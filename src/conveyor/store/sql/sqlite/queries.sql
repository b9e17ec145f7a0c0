-- Named queries of the SQLite engine. Parameters are :named; list parameters arrive as JSON
-- arrays (read with json_each). The PostgreSQL dialect defines the same names.
-- Parallel lists (ids[i] with attempts[i]) pair up by position through json_extract of the
-- second list at json_each's key: json_extract parses its argument once per statement, while
-- joining a second json_each on the key scans that list again for each element (pairing
-- 64 attempts took 0.43 ms that way, 0.09 ms this way).

-- name: insert_job
INSERT INTO jobs (id, tenant, name, state, submitted_at, pending_tasks, callback_url,
                  webhook_events, idempotency_key, request_hash)
VALUES (:id, :tenant, :name, 'QUEUED', :now, 1, :callback_url, :webhook_events,
        :idempotency_key, :request_hash);

-- name: find_idempotent_job
SELECT id, request_hash FROM jobs WHERE tenant = :tenant AND idempotency_key = :key;

-- name: insert_task
INSERT INTO tasks (id, job_id, parent_id, identifier, version, kind, batch_key, input, state,
                   max_retries, optional, remaining_deps, created_at)
VALUES (:id, :job_id, :parent_id, :identifier, :version, :kind, :batch_key, :input, :state,
        :max_retries, :optional, :remaining_deps, :now);

-- name: insert_task_dep
INSERT INTO task_deps (task_seq, dep_seq)
SELECT t.seq, d.seq FROM tasks t, tasks d WHERE t.id = :task_id AND d.id = :dep_id;

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: query_jobs
SELECT * FROM jobs
WHERE (:states IS NULL OR state IN (SELECT value FROM json_each(:states)))
  AND (:name IS NULL OR name = :name)
  AND (:since IS NULL OR submitted_at >= :since)
  AND (:until IS NULL OR submitted_at < :until)
  AND (:tenant IS NULL OR tenant = :tenant)
  AND (:before_ts IS NULL OR (submitted_at, id) < (:before_ts, :before_id))
ORDER BY submitted_at DESC, id DESC
LIMIT :limit;

-- name: job_progress
SELECT l.label AS label, COALESCE(SUM(p.total), 0) AS total, COALESCE(SUM(p.done), 0) AS done
FROM job_labels l
LEFT JOIN progress p ON p.job_id = l.job_id AND p.label = l.label
WHERE l.job_id = :job_id
GROUP BY l.label, l.pos
ORDER BY l.pos;

-- name: job_results
SELECT * FROM results WHERE job_id = :job_id ORDER BY created_at, name;

-- name: insert_result
INSERT INTO results (job_id, name, content_type, size, blob_key, task_id, created_at)
VALUES (:job_id, :name, :content_type, :size, :blob_key, :task_id, :now)
ON CONFLICT (job_id, name) DO UPDATE SET
    content_type = excluded.content_type, size = excluded.size,
    blob_key = excluded.blob_key, task_id = excluded.task_id, created_at = excluded.created_at;

-- name: upsert_cache_entry
INSERT INTO job_cache (job_id, key, size, value, blob_key, shared_key, task_id, attempt, created_at)
VALUES (:job_id, :key, :size, :value, :blob_key, :shared_key, :task_id, :attempt, :now)
ON CONFLICT (job_id, key) DO UPDATE SET
    size = excluded.size, value = excluded.value, blob_key = excluded.blob_key,
    shared_key = excluded.shared_key, task_id = excluded.task_id,
    attempt = excluded.attempt, created_at = excluded.created_at;

-- name: get_cache_entry
SELECT key, size, value, blob_key, shared_key FROM job_cache
WHERE job_id = :job_id AND key = :key;

-- name: get_cache_entries
SELECT key, size, value, blob_key, shared_key FROM job_cache
WHERE job_id = :job_id AND key IN (SELECT value FROM json_each(:keys));

-- name: list_cache_keys
SELECT key FROM job_cache
WHERE job_id = :job_id AND substr(key, 1, length(:prefix)) = :prefix
ORDER BY key;

-- name: list_tasks
SELECT * FROM tasks WHERE job_id = :job_id ORDER BY seq;

-- name: list_task_deps
SELECT d.task_seq AS task_seq, t.id AS dep_id
FROM task_deps d JOIN tasks t ON t.seq = d.dep_seq
WHERE d.task_seq IN (SELECT seq FROM tasks WHERE job_id = :job_id);

-- name: set_job_state
UPDATE jobs SET state = :state, error = :error,
    started_at = CASE WHEN :state = 'STARTED' THEN COALESCE(started_at, :now) ELSE started_at END,
    finished_at = :finished_at
WHERE id = :id AND state = :from_state
RETURNING *;

-- name: adjust_pending
-- Several jobs at once: ids[i] (distinct) changes by deltas[i]. Returns the updated job rows.
UPDATE jobs SET pending_tasks = pending_tasks + d.delta
FROM (SELECT i.value AS id, json_extract(:deltas, '$[' || i.key || ']') AS delta
      FROM json_each(:ids) i) AS d
WHERE jobs.id = d.id
RETURNING *;

-- name: count_off_finished
-- The attempts (ids[i], attempts[i]) that this transaction just ended (moved to state at
-- now) leave their jobs' pending counts (see the postgres dialect). Returns the updated jobs.
-- Counted once per job, not once per task of each job (which read the attempt lists again
-- for every task of every job).
UPDATE jobs SET pending_tasks = pending_tasks - c.n
FROM (SELECT t.job_id AS job_id, COUNT(*) AS n
      FROM json_each(:ids) i
      JOIN tasks t ON t.id = i.value AND t.attempt = json_extract(:attempts, '$[' || i.key || ']')
      WHERE t.state = :state AND t.finished_at = :now
      GROUP BY t.job_id) AS c
WHERE jobs.id = c.job_id
RETURNING *;

-- name: recount_pending
UPDATE jobs SET pending_tasks = (
    SELECT COUNT(*) FROM tasks WHERE job_id = :id AND state IN ('QUEUED', 'RUNNING'))
WHERE id = :id
RETURNING pending_tasks;

-- name: cancel_queued_tasks
UPDATE tasks SET state = 'CANCELED', finished_at = :now
WHERE job_id = :job_id AND state = 'QUEUED';

-- name: requeue_job_tasks
UPDATE tasks SET state = 'QUEUED', failures = 0, lease_losses = 0, error = NULL,
    run_after = 0, finished_at = NULL, worker_id = NULL, lease_expires_at = NULL
WHERE job_id = :job_id AND state IN ('FAILED', 'CANCELED');

-- name: queue_position
-- No row when the job has no queued task (the store then answers None).
SELECT (SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.state = 'QUEUED' AND t.remaining_deps = 0 AND j.state IN ('QUEUED', 'STARTED')
          AND t.seq < mine.first) AS ahead
FROM (SELECT MIN(seq) AS first FROM tasks WHERE job_id = :job_id AND state = 'QUEUED') mine
WHERE mine.first IS NOT NULL;

-- name: count_jobs_by_state
SELECT state, COUNT(*) AS n FROM jobs GROUP BY state;

-- name: claim_ready
-- Runnable tasks, oldest first, each kind read in order from its end of tasks_ready; then,
-- when they do not fill the limit, tasks whose lease expired: one statement (see the postgres
-- dialect). Of the long kinds (a subset of kinds) it takes one task at most, and nothing
-- queued after that one. It reads up to limit rows of a long kind too: LIMIT cannot depend
-- on the kind here, and SQLite locks no rows.
-- An expired task that lost its lease max_lease_losses times already is returned unchanged,
-- with exhausted = 1.
WITH candidates AS MATERIALIZED (
    SELECT r.seq, k.value IN (SELECT value FROM json_each(:long_kinds)) AS is_long
    FROM json_each(:kinds) k
    JOIN tasks r ON r.seq IN (
        SELECT t.seq FROM tasks t
        WHERE t.kind = k.value AND t.state = 'QUEUED' AND t.remaining_deps = 0
          AND t.run_after <= :now
          AND (SELECT j.state FROM jobs j WHERE j.id = t.job_id) IN ('QUEUED', 'STARTED')
        ORDER BY t.seq
        LIMIT :limit)
), ready AS MATERIALIZED (
    SELECT seq FROM candidates
    WHERE seq <= coalesce((SELECT min(seq) FROM candidates WHERE is_long = 1), seq)
    ORDER BY seq
    LIMIT :limit
), expired AS MATERIALIZED (
    SELECT seq FROM tasks
    WHERE state = 'RUNNING' AND lease_expires_at < :now
      AND kind IN (SELECT value FROM json_each(:kinds))
    ORDER BY lease_expires_at
    LIMIT max(:limit - (SELECT COUNT(*) FROM ready), 0)
)
UPDATE tasks SET
    attempt = attempt + CASE WHEN state = 'RUNNING' AND lease_losses >= :max_lease_losses
                             THEN 0 ELSE 1 END,
    lease_losses = lease_losses + CASE WHEN state = 'RUNNING'
                                       AND lease_losses < :max_lease_losses THEN 1 ELSE 0 END,
    worker_id = CASE WHEN state = 'RUNNING' AND lease_losses >= :max_lease_losses
                     THEN worker_id ELSE :worker_id END,
    lease_expires_at = CASE WHEN state = 'RUNNING' AND lease_losses >= :max_lease_losses
                            THEN lease_expires_at ELSE :expires END,
    started_at = CASE WHEN state = 'RUNNING' AND lease_losses >= :max_lease_losses
                      THEN started_at ELSE :now END,
    state = 'RUNNING'
WHERE seq IN (SELECT seq FROM ready UNION ALL SELECT seq FROM expired)
RETURNING seq, id, job_id, identifier, version, batch_key, input, attempt, failures, max_retries,
          optional, lease_expires_at, lease_losses, lease_expires_at < :now AS exhausted;

-- name: claim_batch
UPDATE tasks SET state = 'RUNNING', attempt = attempt + 1, worker_id = :worker_id,
    lease_expires_at = :expires, started_at = :now
WHERE seq IN (
    SELECT t.seq FROM tasks t JOIN jobs j ON j.id = t.job_id
    WHERE t.state = 'QUEUED' AND t.remaining_deps = 0 AND t.run_after <= :now
      AND t.kind = :kind AND t.batch_key = :batch_key
      AND j.state IN ('QUEUED', 'STARTED')
    ORDER BY t.seq
    LIMIT :limit)
RETURNING seq, id, job_id, identifier, version, batch_key, input, attempt, failures, max_retries,
          optional, lease_expires_at;

-- name: start_claimed_jobs
-- The QUEUED jobs of the tasks a claim just leased to worker_id (their lease ends exactly at
-- expires) become STARTED. The statements below find them as the claim's jobs whose
-- started_at is now (see the postgres dialect). The unary + keeps SQLite from reading every
-- job of that state through jobs_state: these go from the claimed tasks to their jobs.
UPDATE jobs SET state = 'STARTED', error = NULL, finished_at = NULL, started_at = :now
WHERE id IN (SELECT job_id FROM tasks
             WHERE state = 'RUNNING' AND lease_expires_at = :expires
               AND worker_id = :worker_id)
  AND +state = 'QUEUED';

-- name: announce_started_jobs
-- The state event of each job start_claimed_jobs started.
INSERT INTO events (job_id, type, data, created_at)
SELECT j.id, 'state', :data, :now FROM jobs j
WHERE +j.state = 'STARTED' AND j.started_at = :now
  AND j.id IN (SELECT job_id FROM tasks
               WHERE state = 'RUNNING' AND lease_expires_at = :expires
                 AND worker_id = :worker_id)
ORDER BY j.id;

-- name: outbox_started_jobs
-- The job.started webhook of each job start_claimed_jobs started that asked for it.
INSERT INTO webhook_outbox (id, job_id, tenant, url, event_type, payload, next_attempt_at,
                            created_at)
SELECT 'msg_' || lower(hex(randomblob(16))), j.id, j.tenant, j.callback_url, 'job.started',
       json_object('type', 'job.started', 'timestamp', :timestamp,
                   'data', json_object('job_id', j.id, 'name', j.name, 'state', 'STARTED')),
       :now, :now
FROM jobs j
WHERE +j.state = 'STARTED' AND j.started_at = :now
  AND j.id IN (SELECT job_id FROM tasks
               WHERE state = 'RUNNING' AND lease_expires_at = :expires
                 AND worker_id = :worker_id)
  AND j.callback_url IS NOT NULL
  AND EXISTS (SELECT 1 FROM json_each(j.webhook_events) WHERE value = 'job.started')
ORDER BY j.id;

-- name: delete_reclaimed_progress
-- Tasks a claim took back from a lost lease: their lost attempt's progress is discarded.
DELETE FROM progress
WHERE task_seq IN (SELECT seq FROM tasks
                   WHERE state = 'RUNNING' AND lease_expires_at = :expires
                     AND worker_id = :worker_id AND lease_losses > 0);

-- name: renew_leases
-- The leases (ids[i], attempts[i]) still held: renewed, and returned with their job's state.
-- The unary + matters: without it SQLite 3.40 reads the whole jobs table for each returned
-- row (a scan in RETURNING's correlated subquery) instead of looking the job up by id.
UPDATE tasks SET lease_expires_at = :expires
WHERE seq IN (
    SELECT t.seq FROM json_each(:ids) i
    JOIN tasks t ON t.id = i.value AND t.attempt = json_extract(:attempts, '$[' || i.key || ']')
    WHERE t.state = 'RUNNING')
RETURNING id, attempt, seq, job_id,
          (SELECT j.state FROM jobs j WHERE j.id = +tasks.job_id) AS job_state;

-- name: job_states_of_tasks
SELECT t.id AS id, j.state AS state FROM tasks t JOIN jobs j ON j.id = t.job_id
WHERE t.id IN (SELECT value FROM json_each(:ids));

-- name: lock_jobs_of_tasks
-- A plain read here: SQLite write transactions already take turns (PostgreSQL locks the rows).
SELECT id, state FROM jobs
WHERE id IN (SELECT job_id FROM tasks WHERE id IN (SELECT value FROM json_each(:ids)))
ORDER BY id;

-- name: running_attempt
SELECT seq, job_id, failures, max_retries, optional FROM tasks
WHERE id = :id AND attempt = :attempt AND state = 'RUNNING';

-- name: finish_attempts
-- Ends the attempts (ids[i], attempts[i]) that still hold their lease; returns those, and
-- whether other tasks depend on them (release_dependents is only needed then).
UPDATE tasks SET state = :state, finished_at = :now, lease_expires_at = NULL, error = :error
WHERE seq IN (
    SELECT t.seq FROM json_each(:ids) i
    JOIN tasks t ON t.id = i.value AND t.attempt = json_extract(:attempts, '$[' || i.key || ']')
    WHERE t.state = 'RUNNING')
RETURNING seq, id, attempt, job_id, optional,
          EXISTS (SELECT 1 FROM task_deps d WHERE d.dep_seq = tasks.seq) AS has_dependents;

-- name: requeue_attempt
UPDATE tasks SET state = 'QUEUED', failures = failures + 1, run_after = :run_after,
    lease_expires_at = NULL, worker_id = NULL, error = :error
WHERE id = :id AND attempt = :attempt AND state = 'RUNNING'
RETURNING seq, job_id;

-- name: release_attempt
UPDATE tasks SET state = 'QUEUED', lease_expires_at = NULL, worker_id = NULL
WHERE id = :id AND attempt = :attempt AND state = 'RUNNING'
RETURNING seq;

-- name: fail_lease_losses
UPDATE tasks SET state = :state, finished_at = :now, lease_expires_at = NULL, error = :error,
    lease_losses = lease_losses + 1
WHERE seq = :seq AND attempt = :attempt AND state = 'RUNNING'
  AND lease_losses >= :max_lease_losses AND lease_expires_at < :now
RETURNING seq, id, attempt, job_id, optional;

-- name: release_dependents
-- The tasks seqs finished: each dependent loses one remaining dependency per finished one.
UPDATE tasks SET remaining_deps = remaining_deps - (
    SELECT COUNT(*) FROM task_deps d
    WHERE d.task_seq = tasks.seq AND d.dep_seq IN (SELECT value FROM json_each(:seqs)))
WHERE seq IN (SELECT task_seq FROM task_deps
              WHERE dep_seq IN (SELECT value FROM json_each(:seqs)));

-- name: delete_task_progress
DELETE FROM progress WHERE task_seq IN (SELECT value FROM json_each(:seqs));

-- name: upsert_progress_rows
-- Attempts' progress values in one statement: rows is a JSON array of
-- [seq, job_id, label, attempt, total, done], one (seq, label) each. (WHERE true: SQLite's
-- parser needs it between a SELECT and ON CONFLICT.)
INSERT INTO progress (task_seq, job_id, label, attempt, total, done)
SELECT json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'),
       json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]'),
       json_extract(r.value, '$[4]'), json_extract(r.value, '$[5]')
FROM json_each(:rows) r
WHERE true
ON CONFLICT (task_seq, label) DO UPDATE SET
    attempt = excluded.attempt, total = excluded.total, done = excluded.done;

-- name: insert_labels
-- Progress labels, labels a JSON array of [job_id, label] in first-seen order: a new label
-- goes after its job's labels so far (positions only order them; gaps are harmless).
INSERT INTO job_labels (job_id, label, pos)
SELECT json_extract(e.value, '$[0]'), json_extract(e.value, '$[1]'),
       (SELECT COUNT(*) FROM job_labels x WHERE x.job_id = json_extract(e.value, '$[0]'))
       + row_number() OVER (PARTITION BY json_extract(e.value, '$[0]') ORDER BY e.key) - 1
FROM json_each(:labels) e
WHERE true
ON CONFLICT (job_id, label) DO NOTHING;

-- name: insert_progress_events
-- One progress event for each job of job_ids, in that order, with the job's progress as of
-- this statement (see the postgres dialect).
INSERT INTO events (job_id, type, data, created_at)
SELECT j.value, 'progress', (
           SELECT json_object('progress', json_group_array(json_object(
                      'label', NULLIF(s.label, ''), 'total', s.total, 'done', s.done)))
           FROM (SELECT l.label, l.pos, COALESCE(SUM(p.total), 0) AS total,
                        COALESCE(SUM(p.done), 0) AS done
                 FROM job_labels l
                 LEFT JOIN progress p ON p.job_id = l.job_id AND p.label = l.label
                 WHERE l.job_id = j.value
                 GROUP BY l.label, l.pos
                 ORDER BY l.pos) s),
       :now
FROM json_each(:job_ids) j
ORDER BY j.key;

-- name: insert_event
-- Any other event (state changes, tasks' published events).
INSERT INTO events (job_id, type, data, created_at) VALUES (:job_id, :type, :data, :now);

-- name: events_after
SELECT * FROM events WHERE job_id = :job_id AND id > :after_id ORDER BY id LIMIT :limit;

-- name: events_since
SELECT * FROM events WHERE id > :after_id ORDER BY id LIMIT :limit;

-- name: last_event_id
SELECT COALESCE(MAX(id), 0) AS id FROM events;

-- name: insert_outbox
INSERT INTO webhook_outbox (id, job_id, tenant, url, event_type, payload, next_attempt_at,
                            created_at)
VALUES (:id, :job_id, :tenant, :url, :event_type, :payload, :now, :now);

-- name: pending_work
SELECT EXISTS (
    SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
    WHERE j.state IN ('QUEUED', 'STARTED')
      AND ((t.state = 'QUEUED' AND t.remaining_deps = 0
            AND t.kind IN (SELECT value FROM json_each(:kinds)))
           OR t.state = 'RUNNING')
) AS pending;
