-- +goose Up
-- Days whose daily usage lost a job: an update that moved a job's end to
-- another day (or took it away) leaves the old day's rollup counting it.
-- Rating refreshes the days of the jobs it rated; it also takes these, so
-- the rollup never keeps a job on a day it no longer ended on.
CREATE TABLE usage_stale_days (
    day date NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION jobs_mark_stale_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_stale_days (day)
    SELECT DISTINCT (o.end_time AT TIME ZONE 'UTC')::date
    FROM old_jobs o JOIN new_jobs n ON n.id = o.id
    WHERE o.end_time IS NOT NULL
      AND (n.end_time IS NULL OR (n.end_time AT TIME ZONE 'UTC')::date <> (o.end_time AT TIME ZONE 'UTC')::date);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER jobs_mark_stale_days AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_mark_stale_days();

-- +goose Down
DROP TRIGGER jobs_mark_stale_days ON jobs;
DROP FUNCTION jobs_mark_stale_days();
DROP TABLE usage_stale_days;
