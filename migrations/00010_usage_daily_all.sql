-- +goose Up
-- The whole cluster's daily usage without the person: what admin and
-- finance pages read, a few dozen rows a day however many people there are.
-- Refreshed with usage_daily.
CREATE TABLE usage_daily_all (
    day          date   NOT NULL,
    cluster      text   NOT NULL,
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
    PRIMARY KEY (day, cluster, account, partition, qos, state)
);

INSERT INTO usage_daily_all
SELECT day, cluster, account, partition, qos, state, sum(jobs), sum(core_seconds), sum(gpu_seconds), sum(cpu_time_us),
       sum(total_micros), sum(idle_micros), max(currency)
FROM usage_daily GROUP BY 1, 2, 3, 4, 5, 6;

-- +goose Down
DROP TABLE usage_daily_all;
