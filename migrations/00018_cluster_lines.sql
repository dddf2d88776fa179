-- +goose Up
-- Statements have a line per cluster and component (issue 20): what each
-- cluster cost an account is on its statement, rounded once per line, and
-- the lines add up to one total.
--
-- charge_sums gains the cluster its charges ran on. The sums are made
-- again from the charges, so the rows kept until now get their cluster;
-- the charges themselves are not touched.
ALTER TABLE charge_sums ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE charge_sums DROP CONSTRAINT charge_sums_pkey;
TRUNCATE charge_sums;
ALTER TABLE charge_sums ADD PRIMARY KEY (period_id, account, username, cluster, component, currency);
ALTER TABLE charge_sums ALTER COLUMN cluster DROP DEFAULT;

-- As in 00014, with the cluster carried through every grouping.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION charge_sums_sql(src text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($q$
    WITH live AS (
        SELECT sign, period_id, account, username, cluster, currency, lines, job_row, portion_start FROM (%s) c
        WHERE period_id IS NOT NULL AND not_charged = ''),
    per AS (
        SELECT sign, period_id, account, username, cluster, currency, l->>0 AS component, job_row, portion_start, sum((l->>7)::bigint) AS exact
        FROM live, json_array_elements(live.lines) l GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9),
    d AS (
        SELECT period_id, account, username, cluster, component, currency, sum(sign) AS jobs, sum(sign * exact) AS exact FROM per GROUP BY 1, 2, 3, 4, 5, 6
        UNION ALL
        SELECT period_id, account, username, cluster, '', currency, sum(sign), 0 FROM live GROUP BY 1, 2, 3, 4, 6)
    INSERT INTO charge_sums AS s (period_id, account, username, cluster, component, currency, jobs, exact_micros)
    SELECT period_id, account, username, cluster, component, currency, sum(jobs), sum(exact) FROM d GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (period_id, account, username, cluster, component, currency)
    DO UPDATE SET jobs = s.jobs + EXCLUDED.jobs, exact_micros = s.exact_micros + EXCLUDED.exact_micros
    $q$, src)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$ BEGIN EXECUTE charge_sums_sql('SELECT 1 AS sign, * FROM job_charges'); END $$;
-- +goose StatementEnd

-- Issued lines keep their cluster. Lines issued before keep '' (they
-- were per component across clusters, and their hash covers them so).
-- Adding a column with a default rewrites nothing and fires no trigger,
-- so the issued statements stay exactly as they were.
ALTER TABLE statement_lines ADD COLUMN cluster text NOT NULL DEFAULT '';
ALTER TABLE statement_lines DROP CONSTRAINT statement_lines_pkey;
ALTER TABLE statement_lines ADD PRIMARY KEY (statement_id, cluster, component);

-- Hash version 3 covers each line's cluster.
ALTER TABLE statements DROP CONSTRAINT statements_hash_version_check;
ALTER TABLE statements ADD CONSTRAINT statements_hash_version_check CHECK (hash_version IN (1, 2, 3));

-- +goose Down
-- Statements issued with per-cluster lines cannot be told in the old
-- schema (their lines would collide, and the old code cannot verify a
-- version 3 hash); issued statements are never deleted, so refuse.
-- +goose StatementBegin
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM statements WHERE hash_version = 3) THEN
        RAISE EXCEPTION 'statements were issued with lines per cluster (hash version 3): the schema cannot go back before 00018';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE statements DROP CONSTRAINT statements_hash_version_check;
ALTER TABLE statements ADD CONSTRAINT statements_hash_version_check CHECK (hash_version IN (1, 2));
ALTER TABLE statement_lines DROP CONSTRAINT statement_lines_pkey;
ALTER TABLE statement_lines ADD PRIMARY KEY (statement_id, component);
ALTER TABLE statement_lines DROP COLUMN cluster;

-- The 00014 builder, and the sums made again without clusters.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION charge_sums_sql(src text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
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
TRUNCATE charge_sums;
ALTER TABLE charge_sums DROP CONSTRAINT charge_sums_pkey;
ALTER TABLE charge_sums DROP COLUMN cluster;
ALTER TABLE charge_sums ADD PRIMARY KEY (period_id, account, username, component, currency);
-- +goose StatementBegin
DO $$ BEGIN EXECUTE charge_sums_sql('SELECT 1 AS sign, * FROM job_charges'); END $$;
-- +goose StatementEnd
