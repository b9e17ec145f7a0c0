-- v5: the job cache's index, and its small values themselves, live in the database. A
-- successful attempt's cache writes commit with its completion (fenced by its attempt, so
-- a worker that lost its lease changes nothing); a value up to the inline limit is stored
-- in its row, a bigger one in a blob of the attempt that wrote it (blob_key). shared_key
-- names a result blob that the writing attempt saved with the same bytes: a hint for
-- sharing that blob again, checked against the bytes before use. Entries written before v5
-- are blobs at jobs/<id>/cache/<key> with no row; readers still find them there.
-- Mirrors sqlite/migrations/0005.
CREATE TABLE job_cache (
    job_id     uuid NOT NULL,
    key        text NOT NULL,
    size       bigint NOT NULL,
    value      bytea,
    blob_key   text,
    shared_key text,
    task_id    uuid NOT NULL,
    attempt    integer NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (job_id, key),
    CHECK ((value IS NULL) <> (blob_key IS NULL))
);
