-- +goose Up
-- /metrics reads ingest freshness on every scrape: these partial indexes
-- keep that a handful of index probes however many runs accumulate.
-- The predicates repeat jobstore.GoodWindow word for word, so the planner
-- can match them.
CREATE INDEX ingest_runs_good_finished_idx ON ingest_runs (finished_at)
    WHERE source <> 'none' AND NOT dry_run AND trigger <> 'login';
CREATE INDEX ingest_runs_good_until_idx ON ingest_runs (window_end)
    WHERE source <> 'none' AND NOT dry_run AND trigger <> 'login';
CREATE INDEX ingest_runs_good_rest_idx ON ingest_runs (id)
    WHERE source <> 'none' AND NOT dry_run AND trigger <> 'login' AND source = 'rest';
CREATE INDEX ingest_runs_good_fallback_idx ON ingest_runs (id)
    WHERE source <> 'none' AND NOT dry_run AND trigger <> 'login' AND fallback_reason <> '';
CREATE INDEX ingest_runs_failed_idx ON ingest_runs (started_at)
    WHERE source = 'none' AND trigger <> 'login';
CREATE INDEX ingest_runs_rejected_idx ON ingest_runs (jobs_rejected)
    WHERE jobs_rejected > 0;
-- The same figures for one cluster of several.
CREATE INDEX ingest_runs_cluster_finished_idx ON ingest_runs (cluster, finished_at)
    WHERE source <> 'none' AND NOT dry_run AND trigger <> 'login';
CREATE INDEX ingest_runs_cluster_until_idx ON ingest_runs (cluster, window_end)
    WHERE source <> 'none' AND NOT dry_run AND trigger <> 'login';
CREATE INDEX ingest_runs_cluster_failed_idx ON ingest_runs (cluster, started_at)
    WHERE source = 'none' AND trigger <> 'login';

-- A sign-in attempt is recorded before PAM is asked, under a lock per user
-- name and per address, so that parallel attempts cannot all pass the
-- throttle's count before any failure is written.
ALTER TABLE auth_events DROP CONSTRAINT auth_events_action_check;
ALTER TABLE auth_events ADD CONSTRAINT auth_events_action_check
    CHECK (action IN ('login', 'login_failed', 'login_throttled', 'logout', 'login_attempt'));
CREATE INDEX auth_events_attempt_user_idx ON auth_events (lower(username), at) WHERE action = 'login_attempt';
CREATE INDEX auth_events_attempt_addr_idx ON auth_events (address, at) WHERE action = 'login_attempt';
CREATE INDEX auth_events_login_user_idx ON auth_events (lower(username), at) WHERE action = 'login';

-- +goose Down
DROP INDEX auth_events_login_user_idx;
DROP INDEX auth_events_attempt_addr_idx;
DROP INDEX auth_events_attempt_user_idx;
ALTER TABLE auth_events DROP CONSTRAINT auth_events_action_check;
ALTER TABLE auth_events ADD CONSTRAINT auth_events_action_check
    CHECK (action IN ('login', 'login_failed', 'login_throttled', 'logout'));
DROP INDEX ingest_runs_cluster_failed_idx;
DROP INDEX ingest_runs_cluster_until_idx;
DROP INDEX ingest_runs_cluster_finished_idx;
DROP INDEX ingest_runs_rejected_idx;
DROP INDEX ingest_runs_failed_idx;
DROP INDEX ingest_runs_good_fallback_idx;
DROP INDEX ingest_runs_good_rest_idx;
DROP INDEX ingest_runs_good_until_idx;
DROP INDEX ingest_runs_good_finished_idx;
