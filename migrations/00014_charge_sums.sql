-- +goose Up
-- Every statement figure adds up charges per period, account, person and
-- component. charge_sums keeps those sums, maintained by triggers in the
-- same transaction as every write to job_charges, so it cannot disagree
-- with the charges; pages read a few rows instead of expanding every
-- charge's lines. Component '' holds the count of charged jobs. Charges
-- marked "not charged" and portions in no period count nowhere.
CREATE TABLE charge_sums (
    period_id    bigint NOT NULL,
    account      text   NOT NULL,
    username     text   NOT NULL,
    component    text   NOT NULL,
    currency     text   NOT NULL,
    jobs         bigint NOT NULL,
    exact_micros bigint NOT NULL,
    PRIMARY KEY (period_id, account, username, component, currency)
);
CREATE INDEX charge_sums_user_idx ON charge_sums (username, period_id);

-- The statement that adds to charge_sums what the charges src selects
-- contribute, each with a sign (+1 written, -1 removed): per component,
-- the charges with a line of it and their amounts; per group, the charges.
-- +goose StatementBegin
CREATE FUNCTION charge_sums_sql(src text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($q$
    WITH live AS (
        SELECT sign, period_id, account, username, currency, lines, job_row, portion_start FROM (%s) c
        WHERE period_id IS NOT NULL AND not_charged = ''),
    per AS (
        SELECT sign, period_id, account, username, currency, l->>0 AS component, job_row, portion_start, sum((l->>7)::bigint) AS exact
        FROM live, json_array_elements(live.lines) l GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),
    d AS (
        SELECT period_id, account, username, component, currency, sum(sign) AS jobs, sum(sign * exact) AS exact FROM per GROUP BY 1, 2, 3, 4, 5
        UNION ALL
        SELECT period_id, account, username, '', currency, sum(sign), 0 FROM live GROUP BY 1, 2, 3, 5)
    INSERT INTO charge_sums AS s (period_id, account, username, component, currency, jobs, exact_micros)
    SELECT period_id, account, username, component, currency, sum(jobs), sum(exact) FROM d GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (period_id, account, username, component, currency)
    DO UPDATE SET jobs = s.jobs + EXCLUDED.jobs, exact_micros = s.exact_micros + EXCLUDED.exact_micros
    $q$, src)
$$;
-- +goose StatementEnd

-- Transition tables are visible to the trigger function's own queries
-- (EXECUTE included), so the function runs the statement itself.
-- +goose StatementBegin
CREATE FUNCTION charge_sums_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE charge_sums_sql(CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM old_rows'
        ELSE 'SELECT -1 AS sign, * FROM old_rows UNION ALL SELECT 1, * FROM new_rows' END);
    DELETE FROM charge_sums WHERE jobs = 0 AND exact_micros = 0;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER charge_sums_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();
CREATE TRIGGER charge_sums_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_maintain();

-- Emptying job_charges (tests and benchmarks do) empties the sums.
-- +goose StatementBegin
CREATE FUNCTION charge_sums_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE charge_sums;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER charge_sums_truncate AFTER TRUNCATE ON job_charges FOR EACH STATEMENT EXECUTE FUNCTION charge_sums_truncate();

-- +goose StatementBegin
DO $$ BEGIN EXECUTE charge_sums_sql('SELECT 1 AS sign, * FROM job_charges'); END $$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER charge_sums_truncate ON job_charges;
DROP FUNCTION charge_sums_truncate();
DROP TRIGGER charge_sums_delete ON job_charges;
DROP TRIGGER charge_sums_update ON job_charges;
DROP TRIGGER charge_sums_insert ON job_charges;
DROP FUNCTION charge_sums_maintain();
DROP FUNCTION charge_sums_sql(text);
DROP TABLE charge_sums;
