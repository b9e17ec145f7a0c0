-- Named queries of the PostgreSQL engine: the same names as sqlite/queries.sql.
-- Parameters are psycopg's named placeholders; list parameters arrive as arrays (= ANY(...)).
-- Ids are uuid columns; the engine passes them as text and reads them back as text.
-- The hot paths (claim, heartbeat, commit) work on sets: one statement for N tasks, since
-- each statement is a round trip to the server. Statements that lock several task rows take
-- the locks in seq order (ORDER BY seq FOR UPDATE in a CTE), so two of them cannot deadlock.

-- name: insert_job
INSERT INTO jobs (id, tenant, name, state, submitted_at, pending_tasks, callback_url,
                  webhook_events, idempotency_key, request_hash)
VALUES (%(id)s, %(tenant)s, %(name)s, 'QUEUED', %(now)s, 1, %(callback_url)s,
        %(webhook_events)s, %(idempotency_key)s, %(request_hash)s);

-- name: find_idempotent_job
SELECT id, request_hash FROM jobs WHERE tenant = %(tenant)s AND idempotency_key = %(key)s;

-- name: insert_task
INSERT INTO tasks (id, job_id, parent_id, identifier, version, kind, batch_key, input, state,
                   max_retries, optional, remaining_deps, created_at)
VALUES (%(id)s, %(job_id)s, %(parent_id)s, %(identifier)s, %(version)s, %(kind)s,
        %(batch_key)s, %(input)s, %(state)s, %(max_retries)s, %(optional)s,
        %(remaining_deps)s, %(now)s);

-- name: insert_task_dep
-- By task ids, so the engine needs no seq back from insert_task (it sends both unread).
INSERT INTO task_deps (task_seq, dep_seq)
SELECT t.seq, d.seq FROM tasks t, tasks d WHERE t.id = %(task_id)s AND d.id = %(dep_id)s;

-- name: get_job
SELECT * FROM jobs WHERE id = %(id)s;

-- name: query_jobs
SELECT * FROM jobs
WHERE (%(states)s::text[] IS NULL OR state = ANY(%(states)s::text[]))
  AND (%(name)s::text IS NULL OR name = %(name)s::text)
  AND (%(since)s::float8 IS NULL OR submitted_at >= %(since)s::float8)
  AND (%(until)s::float8 IS NULL OR submitted_at < %(until)s::float8)
  AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s::text)
  AND (%(before_ts)s::float8 IS NULL
       OR (submitted_at, id) < (%(before_ts)s::float8, %(before_id)s::uuid))
ORDER BY submitted_at DESC, id DESC
LIMIT %(limit)s;

-- name: job_progress
SELECT l.label AS label, COALESCE(SUM(p.total), 0)::bigint AS total,
       COALESCE(SUM(p.done), 0)::bigint AS done
FROM job_labels l
LEFT JOIN progress p ON p.job_id = l.job_id AND p.label = l.label
WHERE l.job_id = %(job_id)s
GROUP BY l.label, l.pos
ORDER BY l.pos;

-- name: job_results
SELECT * FROM results WHERE job_id = %(job_id)s ORDER BY created_at, name;

-- name: insert_result
INSERT INTO results (job_id, name, content_type, size, blob_key, task_id, created_at)
VALUES (%(job_id)s, %(name)s, %(content_type)s, %(size)s, %(blob_key)s, %(task_id)s, %(now)s)
ON CONFLICT (job_id, name) DO UPDATE SET
    content_type = excluded.content_type, size = excluded.size,
    blob_key = excluded.blob_key, task_id = excluded.task_id, created_at = excluded.created_at;

-- name: upsert_cache_entry
INSERT INTO job_cache (job_id, key, size, value, blob_key, shared_key, task_id, attempt, created_at)
VALUES (%(job_id)s, %(key)s, %(size)s, %(value)s, %(blob_key)s, %(shared_key)s, %(task_id)s,
        %(attempt)s, %(now)s)
ON CONFLICT (job_id, key) DO UPDATE SET
    size = excluded.size, value = excluded.value, blob_key = excluded.blob_key,
    shared_key = excluded.shared_key, task_id = excluded.task_id,
    attempt = excluded.attempt, created_at = excluded.created_at;

-- name: get_cache_entry
SELECT key, size, value, blob_key, shared_key FROM job_cache
WHERE job_id = %(job_id)s AND key = %(key)s;

-- name: get_cache_entries
SELECT key, size, value, blob_key, shared_key FROM job_cache
WHERE job_id = %(job_id)s AND key = ANY(%(keys)s::text[]);

-- name: list_cache_keys
SELECT key FROM job_cache
WHERE job_id = %(job_id)s AND starts_with(key, %(prefix)s)
ORDER BY key;

-- name: list_tasks
SELECT * FROM tasks WHERE job_id = %(job_id)s ORDER BY seq;

-- name: list_task_deps
SELECT d.task_seq AS task_seq, t.id AS dep_id
FROM task_deps d JOIN tasks t ON t.seq = d.dep_seq
WHERE d.task_seq IN (SELECT seq FROM tasks WHERE job_id = %(job_id)s);

-- name: set_job_state
-- Returns the changed job (no row: its state was no longer from_state).
UPDATE jobs SET state = %(state)s::text, error = %(error)s,
    started_at = CASE WHEN %(state)s::text = 'STARTED' THEN COALESCE(started_at, %(now)s)
                      ELSE started_at END,
    finished_at = %(finished_at)s
WHERE id = %(id)s AND state = %(from_state)s
RETURNING *;

-- name: adjust_pending
-- Several jobs at once: ids[i] (distinct) changes by deltas[i]. Returns the updated job rows.
UPDATE jobs SET pending_tasks = pending_tasks + d.delta
FROM unnest(%(ids)s::uuid[], %(deltas)s::int[]) AS d(id, delta)
WHERE jobs.id = d.id
RETURNING jobs.*;

-- name: count_off_finished
-- The attempts (ids[i], attempts[i]) that this transaction just ended (moved to state at
-- now: fenced by attempt, an attempt ends once) leave their jobs' pending counts. Needs no
-- row of finish_attempts, so it goes out in the same round trip. Returns the updated jobs.
UPDATE jobs SET pending_tasks = pending_tasks - c.n
FROM (SELECT t.job_id, COUNT(*) AS n
      FROM unnest(%(ids)s::uuid[], %(attempts)s::int[]) AS f(id, attempt)
      JOIN tasks t ON t.id = f.id AND t.attempt = f.attempt
      WHERE t.state = %(state)s AND t.finished_at = %(now)s
      GROUP BY t.job_id) c
WHERE jobs.id = c.job_id
RETURNING jobs.*;

-- name: recount_pending
UPDATE jobs SET pending_tasks = (
    SELECT COUNT(*) FROM tasks WHERE job_id = %(id)s AND state IN ('QUEUED', 'RUNNING'))
WHERE id = %(id)s
RETURNING pending_tasks;

-- name: cancel_queued_tasks
-- Locks the job row first, like lock_jobs_of_tasks: job before its tasks, in every writer.
WITH job AS (SELECT id FROM jobs WHERE id = %(job_id)s FOR NO KEY UPDATE)
UPDATE tasks SET state = 'CANCELED', finished_at = %(now)s
WHERE job_id = (SELECT id FROM job) AND state = 'QUEUED';

-- name: requeue_job_tasks
-- Locks the job row first, like lock_jobs_of_tasks: job before its tasks, in every writer.
WITH job AS (SELECT id FROM jobs WHERE id = %(job_id)s FOR NO KEY UPDATE)
UPDATE tasks SET state = 'QUEUED', failures = 0, lease_losses = 0, error = NULL,
    run_after = 0, finished_at = NULL, worker_id = NULL, lease_expires_at = NULL
WHERE job_id = (SELECT id FROM job) AND state IN ('FAILED', 'CANCELED');

-- name: queue_position
-- No row when the job has no queued task (the store then answers None).
SELECT (SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.state = 'QUEUED' AND t.remaining_deps = 0 AND j.state IN ('QUEUED', 'STARTED')
          AND t.seq < mine.first) AS ahead
FROM (SELECT MIN(seq) AS first FROM tasks WHERE job_id = %(job_id)s AND state = 'QUEUED') mine
WHERE mine.first IS NOT NULL;

-- name: count_jobs_by_state
SELECT state, COUNT(*) AS n FROM jobs GROUP BY state;

-- name: claim_ready
-- One statement, one round trip: runnable tasks, oldest first (SKIP LOCKED: concurrent
-- claimers take different rows instead of queueing on one), then, when they do not fill the
-- limit, tasks whose lease expired. Each kind is read in order from its own end of
-- tasks_ready (kind, seq), so a claim reads about limit rows per kind however long the queue
-- is (one scan over all kinds reads and sorts every queued task). The price: while several
-- kinds are runnable at once, rows of one kind beyond the oldest limit overall stay locked
-- (skipped by other claimers) until this claim commits.
-- Of the long kinds (a subset of kinds) it takes one task at most, and nothing queued after
-- that one: a worker never sits on long tasks that another could start now.
-- An expired task that may be reclaimed gets a new attempt and a lease loss; one that lost
-- its lease max_lease_losses times already is only locked and returned unchanged, with
-- exhausted = true, for the engine to fail.
WITH candidates AS MATERIALIZED (
    SELECT r.seq, k.is_long FROM (
        SELECT kind, kind = ANY(%(long_kinds)s::text[]) FROM unnest(%(kinds)s::text[]) AS kind
    ) AS k(kind, is_long)
    CROSS JOIN LATERAL (
        SELECT t.seq FROM tasks t
        WHERE t.kind = k.kind AND t.state = 'QUEUED' AND t.remaining_deps = 0
          AND t.run_after <= %(now)s
          AND (SELECT j.state FROM jobs j WHERE j.id = t.job_id) IN ('QUEUED', 'STARTED')
        ORDER BY t.seq
        LIMIT CASE WHEN k.is_long THEN 1 ELSE %(limit)s END
        FOR UPDATE SKIP LOCKED
    ) r
), ready AS MATERIALIZED (
    SELECT seq FROM candidates
    WHERE seq <= COALESCE((SELECT min(seq) FROM candidates WHERE is_long), seq)
    ORDER BY seq
    LIMIT %(limit)s
), expired AS MATERIALIZED (
    SELECT seq FROM tasks
    WHERE state = 'RUNNING' AND lease_expires_at < %(now)s
      AND kind = ANY(%(kinds)s::text[])
    ORDER BY lease_expires_at
    LIMIT GREATEST(%(limit)s - (SELECT COUNT(*) FROM ready), 0)
    FOR UPDATE SKIP LOCKED
)
UPDATE tasks t SET
    attempt = t.attempt + CASE WHEN t.state = 'RUNNING'
                                    AND t.lease_losses >= %(max_lease_losses)s THEN 0 ELSE 1 END,
    lease_losses = t.lease_losses + CASE WHEN t.state = 'RUNNING'
                                    AND t.lease_losses < %(max_lease_losses)s THEN 1 ELSE 0 END,
    worker_id = CASE WHEN t.state = 'RUNNING' AND t.lease_losses >= %(max_lease_losses)s
                     THEN t.worker_id ELSE %(worker_id)s END,
    lease_expires_at = CASE WHEN t.state = 'RUNNING' AND t.lease_losses >= %(max_lease_losses)s
                            THEN t.lease_expires_at ELSE %(expires)s END,
    started_at = CASE WHEN t.state = 'RUNNING' AND t.lease_losses >= %(max_lease_losses)s
                      THEN t.started_at ELSE %(now)s END,
    state = 'RUNNING'
WHERE t.seq = ANY(ARRAY(SELECT seq FROM ready UNION ALL SELECT seq FROM expired))
RETURNING t.seq, t.id, t.job_id, t.identifier, t.version, t.batch_key, t.input, t.attempt,
          t.failures, t.max_retries, t.optional, t.lease_expires_at, t.lease_losses,
          t.lease_expires_at < %(now)s AS exhausted;

-- name: claim_batch
WITH picked AS (
    SELECT t.seq FROM tasks t
    WHERE t.state = 'QUEUED' AND t.remaining_deps = 0 AND t.run_after <= %(now)s
      AND t.kind = %(kind)s AND t.batch_key = %(batch_key)s
      AND (SELECT j.state FROM jobs j WHERE j.id = t.job_id) IN ('QUEUED', 'STARTED')
    ORDER BY t.seq
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
), claimed AS (
    UPDATE tasks t SET state = 'RUNNING', attempt = attempt + 1, worker_id = %(worker_id)s,
        lease_expires_at = %(expires)s, started_at = %(now)s
    FROM picked WHERE t.seq = picked.seq
    RETURNING t.seq, t.id, t.job_id, t.identifier, t.version, t.batch_key, t.input, t.attempt,
              t.failures, t.max_retries, t.optional, t.lease_expires_at
)
SELECT * FROM claimed ORDER BY seq;

-- name: start_claimed_jobs
-- The QUEUED jobs of the tasks a claim just leased to worker_id (their lease ends exactly at
-- expires) become STARTED (conditionally: racing claimers start a job once). A QUEUED job
-- has never started (a retried job that had goes straight back to STARTED), so the jobs
-- this statement starts are exactly those of the claim whose started_at is now:
-- announce_started_jobs and outbox_started_jobs find them that way, without this statement's
-- rows, so the whole claim is one round trip. All three read the claim's jobs first (the
-- MATERIALIZED claimed), from its tasks, never by scanning the jobs of a state.
WITH claimed AS MATERIALIZED (
    SELECT DISTINCT job_id FROM tasks
    WHERE state = 'RUNNING' AND lease_expires_at = %(expires)s AND worker_id = %(worker_id)s
)
UPDATE jobs SET state = 'STARTED', error = NULL, finished_at = NULL, started_at = %(now)s
FROM claimed
WHERE jobs.id = claimed.job_id AND jobs.state = 'QUEUED';

-- name: announce_started_jobs
-- The state event of each job start_claimed_jobs started. Run at commit like insert_event,
-- but it takes the event-log lock itself (the key is postgres.py's), and only when it has
-- a job to announce: a claim of tasks of running jobs does not queue behind event writers.
WITH claimed AS MATERIALIZED (
    SELECT DISTINCT job_id FROM tasks
    WHERE state = 'RUNNING' AND lease_expires_at = %(expires)s AND worker_id = %(worker_id)s
), started AS (
    SELECT j.id FROM claimed JOIN jobs j ON j.id = claimed.job_id
    WHERE j.state = 'STARTED' AND j.started_at = %(now)s
), turn AS (
    SELECT pg_advisory_xact_lock(7350212105846175043)::text AS locked
    FROM (SELECT 1 FROM started LIMIT 1) any_started
)
INSERT INTO events (job_id, type, data, created_at)
SELECT started.id, 'state', %(data)s, %(now)s
FROM started CROSS JOIN turn
ORDER BY started.id;

-- name: outbox_started_jobs
-- The job.started webhook of each job start_claimed_jobs started, for the jobs that asked
-- for that event (it is not among the default events). The payload is the one the engine
-- builds for every other state change (_domain._announce); timestamp comes formatted.
WITH claimed AS MATERIALIZED (
    SELECT DISTINCT job_id FROM tasks
    WHERE state = 'RUNNING' AND lease_expires_at = %(expires)s AND worker_id = %(worker_id)s
)
INSERT INTO webhook_outbox (id, job_id, tenant, url, event_type, payload, next_attempt_at,
                            created_at)
SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), j.id, j.tenant, j.callback_url,
       'job.started',
       json_build_object('type', 'job.started', 'timestamp', %(timestamp)s::text,
                         'data', json_build_object('job_id', j.id, 'name', j.name,
                                                   'state', 'STARTED'))::text,
       %(now)s, %(now)s
FROM claimed JOIN jobs j ON j.id = claimed.job_id
WHERE j.state = 'STARTED' AND j.started_at = %(now)s
  AND j.callback_url IS NOT NULL
  AND j.webhook_events::jsonb @> '["job.started"]'::jsonb
ORDER BY j.id;

-- name: delete_reclaimed_progress
-- Tasks a claim took back from a lost lease (a new attempt, leased to worker_id until
-- expires, lease_losses > 0): the progress their lost attempt flushed is discarded.
DELETE FROM progress
WHERE task_seq IN (SELECT seq FROM tasks
                   WHERE state = 'RUNNING' AND lease_expires_at = %(expires)s
                     AND worker_id = %(worker_id)s AND lease_losses > 0);

-- name: renew_leases
-- The leases (ids[i], attempts[i]) still held: renewed, and returned with their job's state.
WITH mine AS MATERIALIZED (
    SELECT t.seq FROM tasks t
    JOIN unnest(%(ids)s::uuid[], %(attempts)s::int[]) AS l(id, attempt)
      ON t.id = l.id AND t.attempt = l.attempt
    WHERE t.state = 'RUNNING'
    ORDER BY t.seq
    FOR UPDATE OF t
)
UPDATE tasks t SET lease_expires_at = %(expires)s
FROM mine WHERE t.seq = mine.seq
RETURNING t.id, t.attempt, t.seq, t.job_id,
          (SELECT j.state FROM jobs j WHERE j.id = t.job_id) AS job_state;

-- name: job_states_of_tasks
SELECT t.id AS id, j.state AS state FROM tasks t JOIN jobs j ON j.id = t.job_id
WHERE t.id = ANY(%(ids)s::uuid[]);

-- name: lock_jobs_of_tasks
-- Committing, failing or cancelling tasks locks their jobs first, in id order, before any task
-- row: every writer takes job locks in one order and touches a job's tasks only while holding
-- it, so concurrent commits (batches spanning jobs, fan-ins) cannot deadlock.
SELECT id, state FROM jobs
WHERE id IN (SELECT job_id FROM tasks WHERE id = ANY(%(ids)s::uuid[]))
ORDER BY id
FOR NO KEY UPDATE;

-- name: running_attempt
SELECT seq, job_id, failures, max_retries, optional FROM tasks
WHERE id = %(id)s AND attempt = %(attempt)s AND state = 'RUNNING';

-- name: finish_attempts
-- Ends the attempts (ids[i], attempts[i]) that still hold their lease; returns those, and
-- whether other tasks depend on them (release_dependents is only needed then).
WITH mine AS MATERIALIZED (
    SELECT t.seq FROM tasks t
    JOIN unnest(%(ids)s::uuid[], %(attempts)s::int[]) AS a(id, attempt)
      ON t.id = a.id AND t.attempt = a.attempt
    WHERE t.state = 'RUNNING'
    ORDER BY t.seq
    FOR UPDATE OF t
)
UPDATE tasks t SET state = %(state)s, finished_at = %(now)s, lease_expires_at = NULL,
    error = %(error)s
FROM mine WHERE t.seq = mine.seq
RETURNING t.seq, t.id, t.attempt, t.job_id, t.optional,
          EXISTS (SELECT 1 FROM task_deps d WHERE d.dep_seq = t.seq) AS has_dependents;

-- name: requeue_attempt
UPDATE tasks SET state = 'QUEUED', failures = failures + 1, run_after = %(run_after)s,
    lease_expires_at = NULL, worker_id = NULL, error = %(error)s
WHERE id = %(id)s AND attempt = %(attempt)s AND state = 'RUNNING'
RETURNING seq, job_id;

-- name: release_attempt
UPDATE tasks SET state = 'QUEUED', lease_expires_at = NULL, worker_id = NULL
WHERE id = %(id)s AND attempt = %(attempt)s AND state = 'RUNNING'
RETURNING seq;

-- name: fail_lease_losses
UPDATE tasks SET state = %(state)s, finished_at = %(now)s, lease_expires_at = NULL,
    error = %(error)s, lease_losses = lease_losses + 1
WHERE seq = %(seq)s AND attempt = %(attempt)s AND state = 'RUNNING'
  AND lease_losses >= %(max_lease_losses)s AND lease_expires_at < %(now)s
RETURNING seq, id, attempt, job_id, optional;

-- name: release_dependents
-- The tasks seqs finished: each dependent loses one remaining dependency per finished one.
UPDATE tasks t SET remaining_deps = t.remaining_deps - d.n
FROM (SELECT task_seq, COUNT(*) AS n FROM task_deps
      WHERE dep_seq = ANY(%(seqs)s::bigint[]) GROUP BY task_seq) d
WHERE t.seq = d.task_seq;

-- name: delete_task_progress
DELETE FROM progress WHERE task_seq = ANY(%(seqs)s::bigint[]);

-- name: upsert_progress_rows
-- Attempts' progress values in one statement: rows is a JSON array of
-- [seq, job_id, label, attempt, total, done], one (seq, label) each.
INSERT INTO progress (task_seq, job_id, label, attempt, total, done)
SELECT (r->>0)::bigint, (r->>1)::uuid, r->>2, (r->>3)::integer, (r->>4)::bigint,
       (r->>5)::bigint
FROM jsonb_array_elements(%(rows)s::jsonb) AS r
ON CONFLICT (task_seq, label) DO UPDATE SET
    attempt = excluded.attempt, total = excluded.total, done = excluded.done;

-- name: insert_labels
-- Progress labels, labels a JSON array of [job_id, label] in first-seen order: a new label
-- goes after its job's labels so far (positions only order them; gaps are harmless).
-- Inserted in (job, label) order, so two transactions adding the same labels cannot each
-- wait for the other.
INSERT INTO job_labels (job_id, label, pos)
SELECT n.job_id, n.label,
       (SELECT COUNT(*) FROM job_labels x WHERE x.job_id = n.job_id) + n.rank - 1
FROM (SELECT (e.v->>0)::uuid AS job_id, e.v->>1 AS label,
             row_number() OVER (PARTITION BY e.v->>0 ORDER BY e.ord) AS rank
      FROM jsonb_array_elements(%(labels)s::jsonb) WITH ORDINALITY AS e(v, ord)) n
ORDER BY n.job_id, n.label
ON CONFLICT (job_id, label) DO NOTHING;

-- name: insert_progress_events
-- One progress event for each job of job_ids, in that order. The engine runs this at commit
-- time, under the event-log advisory lock (postgres.py), like every event insert, so event
-- ids become visible in commit order. The progress is computed right here: this statement
-- sees every progress flush committed before it, and every later one computes after it, so
-- the last progress event of a job is always its exact progress, even when several machines
-- flush at once (READ COMMITTED would otherwise let two concurrent flushes each miss the
-- other's).
INSERT INTO events (job_id, type, data, created_at)
SELECT j.id, 'progress', (
           SELECT json_build_object('progress', COALESCE(json_agg(json_build_object(
                      'label', NULLIF(s.label, ''), 'total', s.total, 'done', s.done)
                  ORDER BY s.pos), '[]'::json))::text
           FROM (SELECT l.label, l.pos, COALESCE(SUM(p.total), 0) AS total,
                        COALESCE(SUM(p.done), 0) AS done
                 FROM job_labels l
                 LEFT JOIN progress p ON p.job_id = l.job_id AND p.label = l.label
                 WHERE l.job_id = j.id
                 GROUP BY l.label, l.pos) s),
       %(now)s::float8
FROM unnest(%(job_ids)s::uuid[]) WITH ORDINALITY AS j(id, ord)
ORDER BY j.ord;

-- name: insert_event
-- Any other event (state changes, tasks' published events); appended at commit time too.
INSERT INTO events (job_id, type, data, created_at)
VALUES (%(job_id)s::uuid, %(type)s::text, %(data)s::text, %(now)s::float8);

-- name: events_after
SELECT * FROM events WHERE job_id = %(job_id)s AND id > %(after_id)s ORDER BY id
LIMIT %(limit)s;

-- name: events_since
SELECT * FROM events WHERE id > %(after_id)s ORDER BY id LIMIT %(limit)s;

-- name: last_event_id
SELECT COALESCE(MAX(id), 0) AS id FROM events;

-- name: insert_outbox
INSERT INTO webhook_outbox (id, job_id, tenant, url, event_type, payload, next_attempt_at,
                            created_at)
VALUES (%(id)s, %(job_id)s, %(tenant)s, %(url)s, %(event_type)s, %(payload)s, %(now)s,
        %(now)s);

-- name: pending_work
-- Two probes, each on its partial index (tasks_ready, tasks_leased), instead of one OR that
-- would scan every task ever run.
SELECT (
    EXISTS (
        SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.state = 'QUEUED' AND t.remaining_deps = 0
          AND t.kind = ANY(%(kinds)s::text[]) AND j.state IN ('QUEUED', 'STARTED'))
    OR EXISTS (
        SELECT 1 FROM tasks t JOIN jobs j ON j.id = t.job_id
        WHERE t.state = 'RUNNING' AND j.state IN ('QUEUED', 'STARTED'))
) AS pending;
