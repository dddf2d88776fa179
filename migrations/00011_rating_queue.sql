-- +goose Up
-- Jobs written since they were last rated. Every write to jobs queues the
-- rows it touched (statement triggers, so no writer can forget); rating
-- after an ingest takes the queue and rates only those jobs, instead of
-- every job of the open periods each time. Duplicates are allowed: a
-- unique key would make ingest wait for a rating run holding the row.
CREATE TABLE jobs_unrated (
    job_row bigint NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION jobs_queue_for_rating() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_unrated (job_row) SELECT id FROM written_jobs;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER jobs_queue_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS written_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_queue_for_rating();
CREATE TRIGGER jobs_queue_updated AFTER UPDATE ON jobs
    REFERENCING NEW TABLE AS written_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_queue_for_rating();

-- What the last full rating ran under (rate cards, periods, options): rating
-- only the queued jobs is right only while that is unchanged.
CREATE TABLE rating_state (
    only_row    boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    fingerprint text        NOT NULL,
    rated_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE rating_state;
DROP TRIGGER jobs_queue_updated ON jobs;
DROP TRIGGER jobs_queue_inserted ON jobs;
DROP FUNCTION jobs_queue_for_rating();
DROP TABLE jobs_unrated;
