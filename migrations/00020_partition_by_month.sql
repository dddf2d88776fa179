-- +goose Up
-- jobs and job_charges partitioned by the month a job was submitted.
-- A job and every charge of it share one month's pair of partitions,
-- keyed by the job's submit time (job_charges.job_submit), so a closed
-- month can be detached and archived whole, and a charge finds its job in
-- one partition. Months are ranges in UTC.
--
-- The conversion copies the old tables into the new ones in this
-- migration's transaction: every row or none. Indexes, constraints and
-- triggers are built after the copy, so the copy does not maintain them
-- row by row and the closed-period guard does not refuse the closed
-- periods' existing charges.

-- ensure_month_partitions makes the partitions of every month from lo's
-- to hi's that are missing, for both tables, and returns how many months
-- it made. Ingest calls it for the months of a window before writing it,
-- and Tally calls it for the months ahead; a month that was archived is
-- refused with a clear error instead of being filled a second time.
-- A partition is made as a table of its own and then attached: ATTACH
-- takes a SHARE UPDATE EXCLUSIVE lock on the parent where CREATE TABLE
-- ... PARTITION OF takes ACCESS EXCLUSIVE, which would queue every page's
-- read behind a running rating (and rating's own second read behind it).
-- +goose StatementBegin
CREATE FUNCTION ensure_month_partitions(lo timestamptz, hi timestamptz) RETURNS integer
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
        -- An archived month is refused whether or not a table of its name
        -- is there (tally archive --keep-tables leaves the detached tables
        -- under their names), so a record of an archived month never meets
        -- "no partition of relation jobs found for row" but this message.
        IF EXISTS (SELECT 1 FROM archived_months a WHERE a.month = m::date) THEN
            RAISE EXCEPTION 'jobs submitted in % are archived: restore that month before writing to it', to_char(m, 'YYYY-MM')
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF to_regclass(format('public.%I', 'jobs_' || suffix)) IS NULL
           OR to_regclass(format('public.%I', 'job_charges_' || suffix)) IS NULL THEN
            -- Two ingests meeting a new month: the second waits, then finds it.
            PERFORM pg_advisory_xact_lock(hashtext('tally: month partitions'));
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

-- Months detached and archived by `tally archive`: what was written where,
-- with the counts and checksums the archive was verified against.
CREATE TABLE archived_months (
    month          date        PRIMARY KEY CHECK (extract(day FROM month) = 1),
    jobs           bigint      NOT NULL CHECK (jobs >= 0),
    charges        bigint      NOT NULL CHECK (charges >= 0),
    jobs_file      text        NOT NULL,
    jobs_sha256    text        NOT NULL,
    charges_file   text        NOT NULL,
    charges_sha256 text        NOT NULL,
    fingerprint    text        NOT NULL,
    archived_by    text        NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE adjustments DROP CONSTRAINT adjustments_job_row_fkey;
ALTER TABLE job_charges DROP CONSTRAINT job_charges_job_row_fkey;
ALTER TABLE jobs RENAME TO jobs_unpartitioned;
ALTER TABLE job_charges RENAME TO job_charges_unpartitioned;
ALTER SEQUENCE jobs_id_seq OWNED BY NONE;

CREATE TABLE jobs (LIKE jobs_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (submit_time);
CREATE TABLE job_charges (LIKE job_charges_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    job_submit timestamptz NOT NULL)
    PARTITION BY RANGE (job_submit);

SELECT ensure_month_partitions(coalesce(min(submit_time), now()), greatest(max(submit_time), now() + interval '2 months'))
FROM jobs_unpartitioned;

INSERT INTO jobs SELECT * FROM jobs_unpartitioned;
INSERT INTO job_charges SELECT c.*, j.submit_time FROM job_charges_unpartitioned c JOIN jobs_unpartitioned j ON j.id = c.job_row;

-- +goose StatementBegin
DO $$
DECLARE
    old_jobs bigint; new_jobs bigint; old_charges bigint; new_charges bigint;
BEGIN
    SELECT count(*) INTO old_jobs FROM jobs_unpartitioned;
    SELECT count(*) INTO new_jobs FROM jobs;
    SELECT count(*) INTO old_charges FROM job_charges_unpartitioned;
    SELECT count(*) INTO new_charges FROM job_charges;
    IF old_jobs <> new_jobs OR old_charges <> new_charges THEN
        RAISE EXCEPTION 'partitioning would lose rows: jobs % -> %, charges % -> %', old_jobs, new_jobs, old_charges, new_charges;
    END IF;
END $$;
-- +goose StatementEnd

DROP TABLE job_charges_unpartitioned;
DROP TABLE jobs_unpartitioned;
ALTER SEQUENCE jobs_id_seq OWNED BY jobs.id;

ALTER TABLE jobs ADD CONSTRAINT jobs_pkey PRIMARY KEY (id, submit_time);
ALTER TABLE jobs ADD CONSTRAINT jobs_identity UNIQUE (cluster, job_id, submit_time);
CREATE INDEX jobs_user_end_idx    ON jobs (username, end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_account_end_idx ON jobs (account, end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_end_idx         ON jobs (end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_running_idx     ON jobs (cluster, submit_time) WHERE end_time IS NULL;
CREATE INDEX jobs_array_task_idx  ON jobs (array_job_id, array_task_id) WHERE array_job_id <> 0;

ALTER TABLE job_charges ADD CONSTRAINT job_charges_pkey PRIMARY KEY (job_row, job_submit, portion_start);
CREATE INDEX job_charges_period_account_idx ON job_charges (period_id, account);
CREATE INDEX job_charges_period_user_idx    ON job_charges (period_id, username);
CREATE INDEX job_charges_account_end_idx    ON job_charges (account, portion_end);

CREATE TRIGGER jobs_queue_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS written_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_queue_for_rating();
CREATE TRIGGER jobs_queue_updated AFTER UPDATE ON jobs
    REFERENCING NEW TABLE AS written_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_queue_for_rating();
CREATE TRIGGER jobs_mark_stale_days AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_mark_stale_days();

CREATE TRIGGER job_charges_closed_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER job_charges_closed_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER job_charges_closed_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER charge_sums_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_truncate AFTER TRUNCATE ON job_charges
    FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_truncate();

-- A charge's job must exist. A foreign key to the partitioned jobs table
-- checks each row with its own lookup: it made rating 10^7 jobs take 18
-- minutes instead of under 3 (and a 345,000-row insert 25 s instead of
-- 3 s). As for periods and rate cards (migration 00004), statement-level
-- triggers check a whole bulk write with one anti-join instead. Jobs are
-- never deleted by Tally; a deletion of jobs with charges is refused too
-- (archiving detaches partitions, which fires no trigger).
-- +goose StatementBegin
CREATE FUNCTION job_charges_job_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.job_row INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = n.job_row AND j.submit_time = n.job_submit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'job_charges names job row % that does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION jobs_keep_charged() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    charged bigint;
BEGIN
    SELECT o.id INTO charged FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM job_charges c WHERE c.job_row = o.id AND c.job_submit = o.submit_time) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'job row % has charges and cannot be deleted', charged
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER job_charges_job_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_job_exists();
CREATE TRIGGER job_charges_job_update AFTER UPDATE ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_job_exists();
CREATE TRIGGER jobs_keep_charged AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_keep_charged();

-- An adjustment's job must exist when the adjustment is written (a foreign
-- key to a partitioned table would need the job's submit time too, and
-- would keep an archived month from being detached).
-- +goose StatementBegin
CREATE FUNCTION adjustments_job_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.job_row IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = NEW.job_row) THEN
        RAISE EXCEPTION 'adjustment names job row % that does not exist', NEW.job_row
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER adjustments_job_exists BEFORE INSERT OR UPDATE OF job_row ON adjustments
    FOR EACH ROW EXECUTE FUNCTION adjustments_job_exists();

ANALYZE jobs;
ANALYZE job_charges;

-- +goose Down
DROP TRIGGER jobs_keep_charged ON jobs;
DROP TRIGGER job_charges_job_update ON job_charges;
DROP TRIGGER job_charges_job_insert ON job_charges;
DROP FUNCTION jobs_keep_charged();
DROP FUNCTION job_charges_job_exists();
DROP TRIGGER adjustments_job_exists ON adjustments;
DROP FUNCTION adjustments_job_exists();
ALTER TABLE jobs RENAME TO jobs_partitioned;
ALTER TABLE job_charges RENAME TO job_charges_partitioned;
ALTER SEQUENCE jobs_id_seq OWNED BY NONE;
CREATE TABLE jobs (LIKE jobs_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE job_charges (LIKE job_charges_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE job_charges DROP COLUMN job_submit;
INSERT INTO jobs SELECT * FROM jobs_partitioned;
INSERT INTO job_charges SELECT job_row, portion_start, portion_end, period_id, cluster, account, username, rate_card_id,
    currency, total_micros, idle_micros, efficiency_ppm, not_charged, account_reason, lines, charge_hash, computed_at
FROM job_charges_partitioned;
DROP TABLE job_charges_partitioned;
DROP TABLE jobs_partitioned;
ALTER SEQUENCE jobs_id_seq OWNED BY jobs.id;
ALTER TABLE jobs ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);
ALTER TABLE jobs ADD CONSTRAINT jobs_identity UNIQUE (cluster, job_id, submit_time);
CREATE INDEX jobs_user_end_idx    ON jobs (username, end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_account_end_idx ON jobs (account, end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_end_idx         ON jobs (end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_running_idx     ON jobs (cluster, submit_time) WHERE end_time IS NULL;
CREATE INDEX jobs_array_task_idx  ON jobs (array_job_id, array_task_id) WHERE array_job_id <> 0;
ALTER TABLE job_charges ADD CONSTRAINT job_charges_pkey PRIMARY KEY (job_row, portion_start);
ALTER TABLE job_charges ADD CONSTRAINT job_charges_job_row_fkey FOREIGN KEY (job_row) REFERENCES jobs (id);
ALTER TABLE adjustments ADD CONSTRAINT adjustments_job_row_fkey FOREIGN KEY (job_row) REFERENCES jobs (id);
CREATE INDEX job_charges_period_account_idx ON job_charges (period_id, account);
CREATE INDEX job_charges_period_user_idx    ON job_charges (period_id, username);
CREATE INDEX job_charges_account_end_idx    ON job_charges (account, portion_end);
CREATE TRIGGER jobs_queue_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS written_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_queue_for_rating();
CREATE TRIGGER jobs_queue_updated AFTER UPDATE ON jobs
    REFERENCING NEW TABLE AS written_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_queue_for_rating();
CREATE TRIGGER jobs_mark_stale_days AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION jobs_mark_stale_days();
CREATE TRIGGER job_charges_closed_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER job_charges_closed_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER job_charges_closed_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER charge_sums_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_truncate AFTER TRUNCATE ON job_charges
    FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_truncate();
DROP TABLE archived_months;
DROP FUNCTION ensure_month_partitions(timestamptz, timestamptz);
