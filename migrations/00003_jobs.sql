-- +goose Up
-- One row per job accounting record; each requeued attempt is its own row,
-- told apart by its submit time. Steps ride along as JSON: they are always
-- read with their job and never queried alone.
CREATE TABLE jobs (
    id                 bigserial   PRIMARY KEY,
    cluster            text        NOT NULL,
    job_id             bigint      NOT NULL CHECK (job_id > 0),
    submit_time        timestamptz NOT NULL,
    array_job_id       bigint      NOT NULL DEFAULT 0,
    array_task_id      bigint,
    het_job_id         bigint      NOT NULL DEFAULT 0,
    het_offset         bigint,
    name               text        NOT NULL DEFAULT '',
    username           text        NOT NULL,
    account            text        NOT NULL DEFAULT '',
    partition          text        NOT NULL DEFAULT '',
    qos                text        NOT NULL DEFAULT '',
    state              text        NOT NULL,
    reason             text        NOT NULL DEFAULT '',
    exit_code          integer,
    exit_signal        integer     NOT NULL DEFAULT 0,
    eligible_time      timestamptz,
    start_time         timestamptz,
    end_time           timestamptz,
    elapsed_seconds    bigint      NOT NULL CHECK (elapsed_seconds >= 0),
    time_limit_minutes bigint,
    suspended_seconds  bigint      NOT NULL DEFAULT 0 CHECK (suspended_seconds >= 0),
    cpu_time_us        bigint      NOT NULL DEFAULT 0 CHECK (cpu_time_us >= 0),
    req_cpu            bigint      NOT NULL DEFAULT 0 CHECK (req_cpu >= 0),
    req_mem_mib        bigint      NOT NULL DEFAULT 0 CHECK (req_mem_mib >= 0),
    req_nodes          bigint      NOT NULL DEFAULT 0 CHECK (req_nodes >= 0),
    req_billing        bigint      NOT NULL DEFAULT 0 CHECK (req_billing >= 0),
    req_gpu            bigint      NOT NULL DEFAULT 0 CHECK (req_gpu >= 0),
    req_gpu_types      jsonb       NOT NULL DEFAULT '{}',
    alloc_cpu          bigint      NOT NULL DEFAULT 0 CHECK (alloc_cpu >= 0),
    alloc_mem_mib      bigint      NOT NULL DEFAULT 0 CHECK (alloc_mem_mib >= 0),
    alloc_nodes        bigint      NOT NULL DEFAULT 0 CHECK (alloc_nodes >= 0),
    alloc_billing      bigint      NOT NULL DEFAULT 0 CHECK (alloc_billing >= 0),
    alloc_gpu          bigint      NOT NULL DEFAULT 0 CHECK (alloc_gpu >= 0),
    alloc_gpu_types    jsonb       NOT NULL DEFAULT '{}',
    alloc_energy_j     bigint      NOT NULL DEFAULT 0,
    node_list          text        NOT NULL DEFAULT '',
    step_count         integer     NOT NULL DEFAULT 0,
    steps              jsonb       NOT NULL DEFAULT '[]',
    content_hash       text        NOT NULL,
    source             text        NOT NULL CHECK (source IN ('rest', 'sacct', 'demo')),
    first_seen         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_identity UNIQUE (cluster, job_id, submit_time),
    CHECK (end_time IS NULL OR start_time IS NULL OR end_time >= start_time)
);
CREATE INDEX jobs_user_end_idx    ON jobs (username, end_time DESC);
CREATE INDEX jobs_account_end_idx ON jobs (account, end_time DESC);
CREATE INDEX jobs_running_idx     ON jobs (cluster, submit_time) WHERE end_time IS NULL;

-- One row per ingested window: what served it, why, and what changed.
CREATE TABLE ingest_runs (
    id              bigserial   PRIMARY KEY,
    cluster         text        NOT NULL DEFAULT '',
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    source          text        NOT NULL CHECK (source IN ('rest', 'sacct', 'none')),
    fallback_reason text        NOT NULL DEFAULT '',
    trigger         text        NOT NULL CHECK (trigger IN ('schedule', 'cli', 'manual', 'login', 'test')),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    jobs_new        integer     NOT NULL DEFAULT 0,
    jobs_changed    integer     NOT NULL DEFAULT 0,
    jobs_unchanged  integer     NOT NULL DEFAULT 0,
    jobs_rejected   integer     NOT NULL DEFAULT 0,
    dry_run         boolean     NOT NULL DEFAULT false,
    error           text        NOT NULL DEFAULT '',
    CHECK (window_end > window_start),
    CHECK (finished_at >= started_at)
);
CREATE INDEX ingest_runs_started_idx ON ingest_runs (started_at DESC);

-- Lines or records that could not be read, kept with the reason.
CREATE TABLE ingest_rejects (
    id      bigserial PRIMARY KEY,
    run_id  bigint    NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
    source  text      NOT NULL,
    line_no integer   NOT NULL,
    raw     text      NOT NULL,
    error   text      NOT NULL
);
CREATE INDEX ingest_rejects_run_idx ON ingest_rejects (run_id);

-- Which users may charge which accounts (Slurm associations).
CREATE TABLE slurm_associations (
    cluster    text    NOT NULL,
    account    text    NOT NULL,
    username   text    NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    PRIMARY KEY (cluster, account, username)
);
CREATE INDEX slurm_associations_user_idx ON slurm_associations (username);

-- +goose Down
DROP TABLE slurm_associations;
DROP TABLE ingest_rejects;
DROP TABLE ingest_runs;
DROP TABLE jobs;
