-- +goose Up
-- The account page and the coordinator's dashboard list a period's
-- wasteful jobs (billing.Waste: charged at least 10 currency units while
-- using under a fifth of the CPU time they held). Asking that of every job
-- of an account, each job's charges summed, was 38 % of the database's
-- time in the soak at 200 people. wasteful_jobs holds the keys of the jobs
-- the rule flags today, kept by triggers in the same transaction as every
-- write to job_charges (as charge_sums is), so it cannot disagree with
-- the charges; the lists read their candidates from it and still check
-- the rule, and show the figures, from the charges themselves.

-- The rule, as billing.WasteRule.Wasteful has it (TestWasteRuleInSQL
-- holds the two together): a job's largest efficiency and its charges
-- summed.
-- +goose StatementBegin
CREATE FUNCTION wasteful(efficiency_ppm bigint, total_micros numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT efficiency_ppm IS NOT NULL AND efficiency_ppm >= 0 AND efficiency_ppm < 200000 AND total_micros >= 10000000
$$;
-- +goose StatementEnd

CREATE TABLE wasteful_jobs (
    job_row    bigint      NOT NULL,
    job_submit timestamptz NOT NULL,
    PRIMARY KEY (job_row, job_submit)
);

-- After a write, the jobs whose verdict may have changed are judged
-- again from all their charges: those a written charge (new_rows) could
-- make wasteful (its efficiency under the bound, or unknown: either way it
-- adds to the sum without holding the job back), those a removed charge (old_rows) held back (its efficiency at or
-- over the bound), and those listed now. Every other job keeps its verdict:
-- a charge over the bound keeps a job out whatever else it has.
-- +goose StatementBegin
CREATE FUNCTION wasteful_jobs_sql(cand text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($q$
    WITH cand AS (%s),
    keys AS (SELECT DISTINCT job_row, job_submit FROM cand),
    verdict AS (
        SELECT k.job_row, k.job_submit, coalesce(wasteful(max(jc.efficiency_ppm), sum(jc.total_micros)), false) AS wasteful
        FROM keys k LEFT JOIN job_charges jc ON jc.job_row = k.job_row AND jc.job_submit = k.job_submit
        GROUP BY k.job_row, k.job_submit),
    cleared AS (
        DELETE FROM wasteful_jobs w USING verdict v
        WHERE w.job_row = v.job_row AND w.job_submit = v.job_submit AND NOT v.wasteful)
    INSERT INTO wasteful_jobs (job_row, job_submit)
    SELECT job_row, job_submit FROM verdict WHERE wasteful
    ON CONFLICT DO NOTHING
    $q$, cand)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION wasteful_jobs_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    written text := 'SELECT job_row, job_submit FROM new_rows WHERE efficiency_ppm IS NULL OR efficiency_ppm < 200000
        UNION ALL SELECT n.job_row, n.job_submit FROM new_rows n JOIN wasteful_jobs w USING (job_row, job_submit)';
    removed text := 'SELECT job_row, job_submit FROM old_rows WHERE NOT (efficiency_ppm >= 0 AND efficiency_ppm < 200000)
        UNION ALL SELECT o.job_row, o.job_submit FROM old_rows o JOIN wasteful_jobs w USING (job_row, job_submit)';
BEGIN
    EXECUTE wasteful_jobs_sql(CASE TG_OP
        WHEN 'INSERT' THEN written
        WHEN 'DELETE' THEN removed
        ELSE written || ' UNION ALL ' || removed END);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER wasteful_jobs_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wasteful_jobs_maintain();
CREATE TRIGGER wasteful_jobs_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wasteful_jobs_maintain();
CREATE TRIGGER wasteful_jobs_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wasteful_jobs_maintain();

-- +goose StatementBegin
CREATE FUNCTION wasteful_jobs_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE wasteful_jobs;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER wasteful_jobs_truncate AFTER TRUNCATE ON job_charges FOR EACH STATEMENT EXECUTE FUNCTION wasteful_jobs_truncate();

INSERT INTO wasteful_jobs (job_row, job_submit)
SELECT job_row, job_submit FROM job_charges GROUP BY 1, 2 HAVING wasteful(max(efficiency_ppm), sum(total_micros));
ANALYZE wasteful_jobs;

-- +goose Down
DROP TRIGGER wasteful_jobs_truncate ON job_charges;
DROP TRIGGER wasteful_jobs_delete ON job_charges;
DROP TRIGGER wasteful_jobs_update ON job_charges;
DROP TRIGGER wasteful_jobs_insert ON job_charges;
DROP FUNCTION wasteful_jobs_truncate();
DROP FUNCTION wasteful_jobs_maintain();
DROP FUNCTION wasteful_jobs_sql(text);
DROP TABLE wasteful_jobs;
DROP FUNCTION wasteful(bigint, numeric);
