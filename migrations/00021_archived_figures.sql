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

-- +goose Down
DROP TABLE archived_charge_usage;
DROP TABLE usage_daily_archived;
