-- +goose Up
-- Usage and charges per day, person, account, partition, QOS and state: what the
-- dashboard, account pages and charts read, so that a page costs a few
-- dozen rows whatever the number of jobs behind it. Derived data: rating
-- refreshes the days it changed; `tally rate --refresh-usage` rebuilds it.
CREATE TABLE usage_daily (
    day          date   NOT NULL,
    cluster      text   NOT NULL,
    username     text   NOT NULL,
    account      text   NOT NULL,
    partition    text   NOT NULL,
    qos          text   NOT NULL,
    state        text   NOT NULL,
    jobs         bigint NOT NULL,
    core_seconds bigint NOT NULL, -- requested CPUs × elapsed
    gpu_seconds  bigint NOT NULL,
    cpu_time_us  bigint NOT NULL,
    total_micros bigint NOT NULL,
    idle_micros  bigint NOT NULL,
    currency     text   NOT NULL,
    PRIMARY KEY (day, cluster, username, account, partition, qos, state)
);
CREATE INDEX usage_daily_user_idx    ON usage_daily (username, day);
CREATE INDEX usage_daily_account_idx ON usage_daily (account, day);
-- Refreshing a range of days finds its jobs by end time; the whole
-- cluster's job list (admins) reads them newest first.
CREATE INDEX jobs_end_idx ON jobs (end_time DESC NULLS LAST, id DESC);

INSERT INTO usage_daily
SELECT (j.end_time AT TIME ZONE 'UTC')::date, j.cluster, j.username, j.account, j.partition, j.qos, j.state, count(*),
       sum(j.req_cpu * j.elapsed_seconds), sum(j.req_gpu * j.elapsed_seconds), sum(j.cpu_time_us),
       coalesce(sum(c.total), 0), coalesce(sum(c.idle), 0), coalesce(max(c.currency), '')
FROM jobs j
LEFT JOIN LATERAL (SELECT sum(total_micros) AS total, sum(idle_micros) AS idle, max(currency) AS currency
                   FROM job_charges WHERE job_row = j.id) c ON true
WHERE j.end_time IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- +goose Down
DROP INDEX jobs_end_idx;
DROP TABLE usage_daily;
