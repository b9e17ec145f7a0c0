-- Conveyor schema v1 (SQLite). Times are Unix epoch seconds (REAL).
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL DEFAULT 'default',
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    submitted_at    REAL NOT NULL,
    started_at      REAL,
    finished_at     REAL,
    error           TEXT,
    pending_tasks   INTEGER NOT NULL DEFAULT 0,
    callback_url    TEXT,
    webhook_events  TEXT,
    idempotency_key TEXT,
    request_hash    TEXT
);
CREATE INDEX jobs_submitted ON jobs (submitted_at DESC, id DESC);
CREATE INDEX jobs_state ON jobs (state);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE tasks (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    job_id           TEXT NOT NULL,
    parent_id        TEXT,
    identifier       TEXT NOT NULL,
    version          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    batch_key        TEXT,             -- tasks with equal kind+batch_key may run as one batch
    input            TEXT NOT NULL,
    state            TEXT NOT NULL,
    max_retries      INTEGER NOT NULL DEFAULT 0,
    optional         INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    lease_losses     INTEGER NOT NULL DEFAULT 0,
    remaining_deps   INTEGER NOT NULL DEFAULT 0,
    run_after        REAL NOT NULL DEFAULT 0,
    lease_expires_at REAL,
    worker_id        TEXT,
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    error            TEXT
);
CREATE INDEX tasks_job ON tasks (job_id, seq);
CREATE INDEX tasks_ready ON tasks (kind, seq) WHERE state = 'QUEUED' AND remaining_deps = 0;
CREATE INDEX tasks_batch ON tasks (kind, batch_key, seq)
    WHERE state = 'QUEUED' AND remaining_deps = 0 AND batch_key IS NOT NULL;
CREATE INDEX tasks_leased ON tasks (lease_expires_at) WHERE state = 'RUNNING';

CREATE TABLE task_deps (
    task_seq INTEGER NOT NULL,
    dep_seq  INTEGER NOT NULL,
    PRIMARY KEY (dep_seq, task_seq)
);
CREATE INDEX task_deps_task ON task_deps (task_seq);

-- Live progress of each task's current attempt; a new attempt replaces it.
CREATE TABLE progress (
    task_seq INTEGER NOT NULL,
    job_id   TEXT NOT NULL,
    label    TEXT NOT NULL,          -- '' is the unnamed indicator
    attempt  INTEGER NOT NULL,
    total    INTEGER NOT NULL,
    done     INTEGER NOT NULL,
    PRIMARY KEY (task_seq, label)
);
CREATE INDEX progress_job ON progress (job_id, label);

-- First-seen order of a job's progress labels.
CREATE TABLE job_labels (
    job_id TEXT NOT NULL,
    label  TEXT NOT NULL,
    pos    INTEGER NOT NULL,
    PRIMARY KEY (job_id, label)
);

CREATE TABLE results (
    job_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    blob_key     TEXT NOT NULL,
    task_id      TEXT,
    created_at   REAL NOT NULL,
    PRIMARY KEY (job_id, name)
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX events_job ON events (job_id, id);

-- Webhook outbox: written in the same transaction as the job state change it reports.
CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,   -- the stable webhook-id
    job_id          TEXT NOT NULL,
    tenant          TEXT NOT NULL,
    url             TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'PENDING',  -- PENDING, DELIVERED, FAILED
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    locked_until    REAL,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    delivered_at    REAL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX webhook_outbox_job ON webhook_outbox (job_id);
