-- v4: PostgreSQL's conveyor_events notification now skips statements that append no event
-- (postgres/migrations/0004). SQLite has no notifications: nothing changes here; the
-- version keeps both dialects' schema histories in step.
SELECT 1;
