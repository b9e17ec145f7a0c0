-- Conveyor schema v1 (PostgreSQL). Mirrors sqlite/migrations/0001_init.sql column for column.
-- Times are Unix epoch seconds (double precision); ids are uuid (read back as text by the
-- engine, so rows look the same as SQLite's); JSON documents are text, parsed by the engine.
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    tenant          text NOT NULL DEFAULT 'default',
    name            text NOT NULL,
    state           text NOT NULL,
    submitted_at    double precision NOT NULL,
    started_at      double precision,
    finished_at     double precision,
    error           text,
    pending_tasks   integer NOT NULL DEFAULT 0,
    callback_url    text,
    webhook_events  text,
    idempotency_key text,
    request_hash    text
);
CREATE INDEX jobs_submitted ON jobs (submitted_at DESC, id DESC);
CREATE INDEX jobs_state ON jobs (state);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Retention cleanup finds finished jobs by age without scanning live ones.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE tasks (
    seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               uuid NOT NULL UNIQUE,
    job_id           uuid NOT NULL,
    parent_id        uuid,
    identifier       text NOT NULL,
    version          text NOT NULL,
    kind             text NOT NULL,
    batch_key        text,             -- tasks with equal kind+batch_key may run as one batch
    input            text NOT NULL,
    state            text NOT NULL,
    max_retries      integer NOT NULL DEFAULT 0,
    optional         boolean NOT NULL DEFAULT false,
    attempt          integer NOT NULL DEFAULT 0,
    failures         integer NOT NULL DEFAULT 0,
    lease_losses     integer NOT NULL DEFAULT 0,
    remaining_deps   integer NOT NULL DEFAULT 0,
    run_after        double precision NOT NULL DEFAULT 0,
    lease_expires_at double precision,
    worker_id        text,
    created_at       double precision NOT NULL,
    started_at       double precision,
    finished_at      double precision,
    error            text
);
CREATE INDEX tasks_job ON tasks (job_id, seq);
CREATE INDEX tasks_ready ON tasks (kind, seq) WHERE state = 'QUEUED' AND remaining_deps = 0;
CREATE INDEX tasks_batch ON tasks (kind, batch_key, seq)
    WHERE state = 'QUEUED' AND remaining_deps = 0 AND batch_key IS NOT NULL;
CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE state = 'RUNNING';

CREATE TABLE task_deps (
    task_seq bigint NOT NULL,
    dep_seq  bigint NOT NULL,
    PRIMARY KEY (dep_seq, task_seq)
);
CREATE INDEX task_deps_task ON task_deps (task_seq);

-- Live progress of each task's current attempt; a new attempt replaces it.
CREATE TABLE progress (
    task_seq bigint NOT NULL,
    job_id   uuid NOT NULL,
    label    text NOT NULL,          -- '' is the unnamed indicator
    attempt  integer NOT NULL,
    total    bigint NOT NULL,
    done     bigint NOT NULL,
    PRIMARY KEY (task_seq, label)
);
CREATE INDEX progress_job ON progress (job_id, label);

-- First-seen order of a job's progress labels.
CREATE TABLE job_labels (
    job_id uuid NOT NULL,
    label  text NOT NULL,
    pos    integer NOT NULL,
    PRIMARY KEY (job_id, label)
);

CREATE TABLE results (
    job_id       uuid NOT NULL,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    blob_key     text NOT NULL,
    task_id      uuid,
    created_at   double precision NOT NULL,
    PRIMARY KEY (job_id, name)
);

-- Event ids become visible in commit order: writers insert their events last in the
-- transaction, under a transaction-level advisory lock (queries.sql: lock_event_log), so a
-- reader tailing by id never skips an id that commits later.
CREATE TABLE events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     uuid NOT NULL,
    type       text NOT NULL,
    data       text NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX events_job ON events (job_id, id);

-- Webhook outbox: written in the same transaction as the job state change it reports.
CREATE TABLE webhook_outbox (
    id              text PRIMARY KEY,   -- the stable webhook-id
    job_id          uuid NOT NULL,
    tenant          text NOT NULL,
    url             text NOT NULL,
    event_type      text NOT NULL,
    payload         text NOT NULL,
    status          text NOT NULL DEFAULT 'PENDING',  -- PENDING, DELIVERED, FAILED
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    locked_until    double precision,
    last_error      text,
    created_at      double precision NOT NULL,
    delivered_at    double precision
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX webhook_outbox_job ON webhook_outbox (job_id);

-- Wake-up hints (LISTEN/NOTIFY). Listeners only learn "look again"; polling stays the
-- fallback, so a lost notification delays nothing by more than the poll interval.
-- conveyor_tasks: a task became runnable (payload: its kind).
CREATE FUNCTION conveyor_notify_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('conveyor_tasks', NEW.kind);
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_runnable_insert AFTER INSERT ON tasks FOR EACH ROW
    WHEN (NEW.state = 'QUEUED' AND NEW.remaining_deps = 0)
    EXECUTE FUNCTION conveyor_notify_task();
CREATE TRIGGER tasks_runnable_update AFTER UPDATE OF state, remaining_deps ON tasks FOR EACH ROW
    WHEN (NEW.state = 'QUEUED' AND NEW.remaining_deps = 0
          AND (OLD.state <> 'QUEUED' OR OLD.remaining_deps <> 0))
    EXECUTE FUNCTION conveyor_notify_task();

-- conveyor_events: new events were appended (payload: the newest id of the statement).
CREATE FUNCTION conveyor_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('conveyor_events', (SELECT MAX(id)::text FROM new_events));
    RETURN NULL;
END $$;
CREATE TRIGGER events_appended AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT
    EXECUTE FUNCTION conveyor_notify_events();
