-- +goose Up
-- What an archived month leaves behind for the figures that outlive its
-- jobs. `tally archive` detaches a month's pair of partitions (jobs
-- submitted in it and their charges); in the same transaction it keeps
-- here what the figures built from those rows added up to, so that no
-- figure of a closed period, and no day of the usage rollup, changes when
-- the rows go. Deleting a month from archived_months (a restore) deletes
-- its rows here with it.

-- The month's jobs as usage_daily groups them (by the day they ended):
-- refreshing a day of usage_daily adds these to what the attached jobs
-- give, so rebuilding any day after archiving gives the rollup it had.
CREATE TABLE usage_daily_archived (
    month        date   NOT NULL REFERENCES archived_months (month) ON DELETE CASCADE,
    day          date   NOT NULL,
    cluster      text   NOT NULL,
    username     text   NOT NULL,
    account      text   NOT NULL,
    partition    text   NOT NULL,
    qos          text   NOT NULL,
    state        text   NOT NULL,
    jobs         bigint NOT NULL,
    core_seconds bigint NOT NULL,
    gpu_seconds  bigint NOT NULL,
    cpu_time_us  bigint NOT NULL,
    total_micros bigint NOT NULL,
    idle_micros  bigint NOT NULL,
    currency     text   NOT NULL,
    PRIMARY KEY (day, cluster, username, account, partition, qos, state, month)
);
CREATE INDEX usage_daily_archived_month_idx ON usage_daily_archived (month);

-- The month's charged jobs per period, account, person, cluster,
-- partition and QOS (charges marked "not charged" left out, as every
-- figure leaves them out): what a closed period's breakdowns, a person's
-- statement hours, the account summary's hours and hour budgets read
-- from the charges joined to their jobs. A job has one charge per
-- period, so each job counts once in one row of a period.
CREATE TABLE archived_charge_usage (
    month                 date   NOT NULL REFERENCES archived_months (month) ON DELETE CASCADE,
    period_id             bigint NOT NULL REFERENCES billing_periods (id),
    account               text   NOT NULL,
    username              text   NOT NULL,
    cluster               text   NOT NULL,
    partition             text   NOT NULL,
    qos                   text   NOT NULL,
    jobs                  bigint NOT NULL,
    core_seconds          bigint NOT NULL, -- requested CPUs × elapsed
    gpu_seconds           bigint NOT NULL, -- requested GPUs × elapsed
    total_micros          bigint NOT NULL,
    alloc_cpu_seconds     bigint NOT NULL, -- allocated CPUs × the charge's portion (budgets in core-hours)
    alloc_gpu_seconds     bigint NOT NULL,
    alloc_billing_seconds bigint NOT NULL,
    PRIMARY KEY (period_id, account, username, cluster, partition, qos, month)
);
CREATE INDEX archived_charge_usage_month_idx ON archived_charge_usage (month);

-- An archived month is refused whether or not a table of its name is
-- there (tally archive --keep-tables leaves the detached tables under
-- their names), so a record of an archived month never meets "no
-- partition of relation jobs found for row" but this message.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ensure_month_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m      timestamp;
    last   timestamp;
    suffix text;
    made   integer := 0;
BEGIN
    IF lo IS NULL OR hi IS NULL THEN
        RETURN 0;
    END IF;
    m := date_trunc('month', lo AT TIME ZONE 'UTC');
    last := date_trunc('month', hi AT TIME ZONE 'UTC');
    WHILE m <= last LOOP
        suffix := to_char(m, 'YYYY_MM');
        IF EXISTS (SELECT 1 FROM archived_months a WHERE a.month = m::date) THEN
            RAISE EXCEPTION 'jobs submitted in % are archived: restore that month before writing to it', to_char(m, 'YYYY-MM')
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF to_regclass(format('public.%I', 'jobs_' || suffix)) IS NULL
           OR to_regclass(format('public.%I', 'job_charges_' || suffix)) IS NULL THEN
            -- Two ingests meeting a new month: the second waits, then finds it.
            PERFORM pg_advisory_xact_lock(hashtext('tally: month partitions'));
            IF EXISTS (SELECT 1 FROM archived_months a WHERE a.month = m::date) THEN
                RAISE EXCEPTION 'jobs submitted in % are archived: restore that month before writing to it', to_char(m, 'YYYY-MM')
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            IF to_regclass(format('public.%I', 'jobs_' || suffix)) IS NULL THEN
                EXECUTE format('CREATE TABLE public.%I (LIKE jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', 'jobs_' || suffix);
                EXECUTE format('ALTER TABLE jobs ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                    'jobs_' || suffix, m::text || '+00', (m + interval '1 month')::text || '+00');
                made := made + 1;
            END IF;
            IF to_regclass(format('public.%I', 'job_charges_' || suffix)) IS NULL THEN
                EXECUTE format('CREATE TABLE public.%I (LIKE job_charges INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', 'job_charges_' || suffix);
                EXECUTE format('ALTER TABLE job_charges ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                    'job_charges_' || suffix, m::text || '+00', (m + interval '1 month')::text || '+00');
            END IF;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ensure_month_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    m      timestamp;
    last   timestamp;
    suffix text;
    made   integer := 0;
BEGIN
    IF lo IS NULL OR hi IS NULL THEN
        RETURN 0;
    END IF;
    m := date_trunc('month', lo AT TIME ZONE 'UTC');
    last := date_trunc('month', hi AT TIME ZONE 'UTC');
    WHILE m <= last LOOP
        suffix := to_char(m, 'YYYY_MM');
        IF to_regclass(format('public.%I', 'jobs_' || suffix)) IS NULL
           OR to_regclass(format('public.%I', 'job_charges_' || suffix)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('tally: month partitions'));
            IF EXISTS (SELECT 1 FROM archived_months a WHERE a.month = m::date) THEN
                RAISE EXCEPTION 'jobs submitted in % are archived: restore that month before writing to it', to_char(m, 'YYYY-MM')
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            IF to_regclass(format('public.%I', 'jobs_' || suffix)) IS NULL THEN
                EXECUTE format('CREATE TABLE public.%I (LIKE jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', 'jobs_' || suffix);
                EXECUTE format('ALTER TABLE jobs ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                    'jobs_' || suffix, m::text || '+00', (m + interval '1 month')::text || '+00');
                made := made + 1;
            END IF;
            IF to_regclass(format('public.%I', 'job_charges_' || suffix)) IS NULL THEN
                EXECUTE format('CREATE TABLE public.%I (LIKE job_charges INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', 'job_charges_' || suffix);
                EXECUTE format('ALTER TABLE job_charges ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                    'job_charges_' || suffix, m::text || '+00', (m + interval '1 month')::text || '+00');
            END IF;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END $$;
-- +goose StatementEnd
DROP TABLE archived_charge_usage;
DROP TABLE usage_daily_archived;
