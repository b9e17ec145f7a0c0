-- v4: an INSERT INTO events that appends no row (a claim's announce_started_jobs when the
-- claim started no job) no longer notifies conveyor_events: every API server's event hub
-- would otherwise wake for nothing on every claim. Mirrors sqlite/migrations/0004 (none).
CREATE OR REPLACE FUNCTION conveyor_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    SELECT MAX(id) INTO newest FROM new_events;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('conveyor_events', newest::text);
    END IF;
    RETURN NULL;
END $$;
