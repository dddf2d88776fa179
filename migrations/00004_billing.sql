-- +goose Up
-- Rate card versions. A version is never edited: a change is a new version
-- effective from a later date. spec holds the version as YAML.
CREATE TABLE rate_cards (
    id             bigserial   PRIMARY KEY,
    name           text        NOT NULL CHECK (name <> ''),
    version        integer     NOT NULL CHECK (version >= 1),
    effective_from timestamptz NOT NULL,
    cluster        text        NOT NULL DEFAULT '',
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    spec           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text        NOT NULL DEFAULT '',
    UNIQUE (name, version),
    UNIQUE (name, cluster, effective_from)
);

-- +goose StatementBegin
CREATE FUNCTION rate_cards_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rate card versions are read-only: create a new version instead'
        USING ERRCODE = 'check_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER rate_cards_no_change BEFORE UPDATE OR DELETE ON rate_cards
    FOR EACH ROW EXECUTE FUNCTION rate_cards_read_only();

-- Billing periods: non-overlapping, open until an admin closes them.
CREATE TABLE billing_periods (
    id        bigserial   PRIMARY KEY,
    name      text        NOT NULL UNIQUE,
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    status    text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at timestamptz,
    closed_by text        NOT NULL DEFAULT '',
    CHECK (ends_at > starts_at),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    EXCLUDE USING gist (tstzrange(starts_at, ends_at, '[)') WITH &&)
);

-- A job's charge (one row, or one per period under split attribution),
-- with its lines. Account and user are copied from the job for statements
-- and authorisation.
CREATE TABLE job_charges (
    job_row        bigint      NOT NULL REFERENCES jobs (id),
    portion_start  timestamptz NOT NULL,
    portion_end    timestamptz NOT NULL,
    period_id      bigint,     -- references billing_periods: checked per statement below
    cluster        text        NOT NULL,
    account        text        NOT NULL,
    username       text        NOT NULL,
    rate_card_id   bigint,     -- references rate_cards: checked per statement below
    currency       text        NOT NULL DEFAULT '',
    total_micros   bigint      NOT NULL,
    idle_micros    bigint      NOT NULL DEFAULT 0,
    efficiency_ppm bigint,
    not_charged    text        NOT NULL DEFAULT '',
    account_reason text        NOT NULL DEFAULT '',
    lines          json        NOT NULL DEFAULT '[]', -- arrays, see billing.Line

    charge_hash    text        NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_row, portion_start),
    CHECK (portion_end >= portion_start)
);
CREATE INDEX job_charges_period_account_idx ON job_charges (period_id, account);

-- Charges in a closed period are final: the database refuses to change
-- them. The same trigger checks that the period and rate card a charge
-- names exist (what a foreign key would do, but once per statement:
-- rating writes a million rows at a time). Statement-level triggers over
-- transition tables check a whole bulk write with one query.
-- +goose StatementBegin
CREATE FUNCTION job_charges_closed_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT p.id INTO closed FROM old_rows o JOIN billing_periods p ON p.id = o.period_id WHERE p.status = 'closed' LIMIT 1;
    END IF;
    IF closed IS NULL AND TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT p.id INTO closed FROM new_rows n JOIN billing_periods p ON p.id = n.period_id WHERE p.status = 'closed' LIMIT 1;
    END IF;
    IF closed IS NOT NULL THEN
        RAISE EXCEPTION 'billing period % is closed: its charges cannot change', closed
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF EXISTS (SELECT 1 FROM new_rows n WHERE n.period_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM billing_periods p WHERE p.id = n.period_id)) THEN
            RAISE EXCEPTION 'job_charges names a billing period that does not exist' USING ERRCODE = 'foreign_key_violation';
        END IF;
        IF EXISTS (SELECT 1 FROM new_rows n WHERE n.rate_card_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM rate_cards r WHERE r.id = n.rate_card_id)) THEN
            RAISE EXCEPTION 'job_charges names a rate card that does not exist' USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER job_charges_closed_insert AFTER INSERT ON job_charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER job_charges_closed_update AFTER UPDATE ON job_charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();
CREATE TRIGGER job_charges_closed_delete AFTER DELETE ON job_charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_charges_closed_guard();

-- A period with charges cannot be deleted (rate cards cannot be at all).
-- +goose StatementBegin
CREATE FUNCTION billing_periods_keep_charged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM job_charges WHERE period_id = OLD.id) THEN
        RAISE EXCEPTION 'billing period % has charges and cannot be deleted', OLD.name USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER billing_periods_keep BEFORE DELETE ON billing_periods
    FOR EACH ROW EXECUTE FUNCTION billing_periods_keep_charged();

-- +goose Down
DROP TRIGGER billing_periods_keep ON billing_periods;
DROP FUNCTION billing_periods_keep_charged();
DROP TABLE job_charges;
DROP FUNCTION job_charges_closed_guard();
DROP TABLE billing_periods;
DROP TABLE rate_cards;
DROP FUNCTION rate_cards_read_only();
