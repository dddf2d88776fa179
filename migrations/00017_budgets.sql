-- +goose Up
-- Budgets: what an account (or one person in it: a cap) may spend over a
-- range of whole billing periods, in money or in use (unit-seconds).
CREATE TABLE budgets (
    id            bigserial   PRIMARY KEY,
    account       text        NOT NULL CHECK (account <> ''),
    username      text        NOT NULL DEFAULT '',
    unit          text        NOT NULL CHECK (unit IN ('money', 'core-hours', 'gpu-hours', 'billing-hours')),
    amount        bigint      NOT NULL CHECK (amount > 0),
    currency      text        NOT NULL DEFAULT '',
    starts        timestamptz NOT NULL,
    ends          timestamptz NOT NULL,
    thresholds    integer[]   NOT NULL DEFAULT '{50,80,100}',
    runs_out_days integer     NOT NULL DEFAULT 0 CHECK (runs_out_days BETWEEN 0 AND 3660),
    enforce       boolean     NOT NULL DEFAULT false,
    note          text        NOT NULL DEFAULT '',
    updated_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends > starts),
    CHECK (unit <> 'money' OR currency <> ''),
    -- Ranges begin and end where billing periods do: the first of a month.
    CHECK (starts = date_trunc('month', starts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
    CHECK (ends = date_trunc('month', ends AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
);
CREATE INDEX budgets_account_idx ON budgets (account, username, starts);
-- The forecast reads an account's charges of the last fortnight.
CREATE INDEX job_charges_account_end_idx ON job_charges (account, portion_end);

-- Two budgets of one unit for the same account (or person) may not
-- overlap: which would a job count against?
-- +goose StatementBegin
CREATE FUNCTION budgets_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM budgets b WHERE b.id <> NEW.id AND b.account = NEW.account
               AND b.username = NEW.username AND b.unit = NEW.unit
               AND b.starts < NEW.ends AND NEW.starts < b.ends) THEN
        RAISE EXCEPTION 'budget for % % overlaps another of the same unit', NEW.account, NEW.username
            USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER budgets_no_overlap BEFORE INSERT OR UPDATE ON budgets
    FOR EACH ROW EXECUTE FUNCTION budgets_no_overlap();

-- An alert is recorded once per budget, kind, threshold and budget amount
-- (a top-up re-arms its thresholds) in the transaction that sees it
-- crossed; sending comes after and is retried until it succeeds, so a
-- restart between the two loses nothing and sends nothing twice. Its text,
-- recipients and webhook payload are fixed at crossing: what was true
-- then is what is sent, however late.
CREATE TABLE budget_alerts (
    id              bigserial   PRIMARY KEY,
    budget_id       bigint      NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('threshold', 'runs_out')),
    threshold       integer     NOT NULL DEFAULT 0,
    budget_amount   bigint      NOT NULL,
    account         text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    -- Email goes to these ('{}': no email); the webhook when webhook.
    recipients      text[]      NOT NULL DEFAULT '{}',
    webhook         boolean     NOT NULL DEFAULT false,
    payload         jsonb       NOT NULL DEFAULT '{}',
    -- Why the alert is recorded but not sent (a higher threshold was
    -- reached in the same check and says it all); '' when it is sent.
    skipped         text        NOT NULL DEFAULT '',
    crossed_at      timestamptz NOT NULL DEFAULT now(),
    email_sent_at   timestamptz,
    webhook_sent_at timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT '',
    UNIQUE (budget_id, kind, threshold, budget_amount)
);
CREATE INDEX budget_alerts_pending_idx ON budget_alerts (next_attempt_at)
    WHERE skipped = '' AND ((email_sent_at IS NULL AND cardinality(recipients) > 0) OR (webhook AND webhook_sent_at IS NULL));

-- What Slurm runs now (slurmctld's live list, read with the service token
-- on the ingest schedule): the accruing cost of budgets. Replaced whole
-- per cluster on each refresh.
CREATE TABLE live_jobs (
    cluster            text        NOT NULL,
    job_id             bigint      NOT NULL,
    username           text        NOT NULL,
    account            text        NOT NULL DEFAULT '',
    partition          text        NOT NULL DEFAULT '',
    qos                text        NOT NULL DEFAULT '',
    state              text        NOT NULL,
    submit_time        timestamptz,
    start_time         timestamptz,
    time_limit_minutes bigint,
    req_cpu            bigint      NOT NULL DEFAULT 0,
    req_mem_mib        bigint      NOT NULL DEFAULT 0,
    req_nodes          bigint      NOT NULL DEFAULT 0,
    req_gpu            bigint      NOT NULL DEFAULT 0,
    req_gpu_types      jsonb       NOT NULL DEFAULT '{}',
    req_billing        bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (cluster, job_id)
);
CREATE INDEX live_jobs_account_idx ON live_jobs (account);
CREATE INDEX live_jobs_user_idx ON live_jobs (username);
CREATE TABLE live_jobs_refresh (
    cluster      text        PRIMARY KEY,
    refreshed_at timestamptz NOT NULL,
    jobs         integer     NOT NULL DEFAULT 0,
    error        text        NOT NULL DEFAULT ''
);

-- Holds Tally placed on accounts in Slurm when their budget ran out, so
-- that it lifts only its own holds, restoring the limit it replaced
-- (previous: GrpSubmitJobs before the hold, '' for none). A dry run
-- records what it would have done and changes nothing in Slurm.
CREATE TABLE budget_holds (
    id         bigserial   PRIMARY KEY,
    budget_id  bigint      REFERENCES budgets (id) ON DELETE SET NULL,
    cluster    text        NOT NULL,
    account    text        NOT NULL,
    held_at    timestamptz NOT NULL DEFAULT now(),
    lifted_at  timestamptz,
    how        text        NOT NULL,
    previous   text        NOT NULL DEFAULT '',
    reason     text        NOT NULL DEFAULT '',
    dry_run    boolean     NOT NULL DEFAULT false,
    CHECK (lifted_at IS NULL OR lifted_at >= held_at)
);
CREATE UNIQUE INDEX budget_holds_active_idx ON budget_holds (cluster, account, dry_run) WHERE lifted_at IS NULL;
CREATE INDEX budget_holds_account_idx ON budget_holds (account, held_at);

-- +goose Down
DROP TABLE budget_holds;
DROP TABLE live_jobs_refresh;
DROP TABLE live_jobs;
DROP TABLE budget_alerts;
DROP INDEX job_charges_account_end_idx;
DROP TABLE budgets;
DROP FUNCTION budgets_no_overlap();
