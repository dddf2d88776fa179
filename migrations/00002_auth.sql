-- +goose Up
-- Sign-in events: the audit trail admins read, and the record login
-- throttling counts, shared by every Tally replica.
CREATE TABLE auth_events (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    username  text        NOT NULL,
    address   text        NOT NULL,
    action    text        NOT NULL CHECK (action IN ('login', 'login_failed', 'login_throttled', 'logout')),
    detail    text        NOT NULL DEFAULT ''
);
CREATE INDEX auth_events_failed_user_idx ON auth_events (lower(username), at) WHERE action = 'login_failed';
CREATE INDEX auth_events_failed_addr_idx ON auth_events (address, at) WHERE action = 'login_failed';
CREATE INDEX auth_events_at_idx ON auth_events (at DESC);

-- The audit trail is append-only: no updates, no deletes except by age.
-- +goose StatementBegin
CREATE FUNCTION auth_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'auth_events is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER auth_events_no_update BEFORE UPDATE ON auth_events
    FOR EACH ROW EXECUTE FUNCTION auth_events_append_only();

-- Who coordinates which Slurm account (from Slurm's associations; ingest
-- keeps it current). Read at login to grant the coordinator role.
CREATE TABLE slurm_coordinators (
    cluster  text NOT NULL,
    account  text NOT NULL,
    username text NOT NULL,
    PRIMARY KEY (cluster, account, username)
);
CREATE INDEX slurm_coordinators_user_idx ON slurm_coordinators (username);

-- +goose Down
DROP TABLE slurm_coordinators;
DROP TABLE auth_events;
DROP FUNCTION auth_events_append_only();
