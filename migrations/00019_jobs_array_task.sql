-- +goose Up
-- Array tasks are found by Slurm's name for them, 55387_3: the receipt at
-- /jobs/{cluster}/55387_3, adjustments and the job list's search. Without
-- this an admin's lookup reads the whole jobs table (0.7 s at 300,000
-- rows). Partial: only array tasks are in it, so other jobs' ingest does
-- not maintain it; queries repeat its condition so that a prepared
-- statement's generic plan can use it too.
CREATE INDEX jobs_array_task_idx ON jobs (array_job_id, array_task_id) WHERE array_job_id <> 0;

-- +goose Down
DROP INDEX jobs_array_task_idx;
