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
    period_id      bigint      REFERENCES billing_periods (id),
    cluster        text        NOT NULL,
    account        text        NOT NULL,
    username       text        NOT NULL,
    rate_card_id   bigint      REFERENCES rate_cards (id),
    currency       text        NOT NULL DEFAULT '',
    total_micros   bigint      NOT NULL,
    idle_micros    bigint      NOT NULL DEFAULT 0,
    efficiency_ppm bigint,
    not_charged    text        NOT NULL DEFAULT '',
    account_reason text        NOT NULL DEFAULT '',
    lines          jsonb       NOT NULL DEFAULT '[]',
    charge_hash    text        NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_row, portion_start),
    CHECK (portion_end >= portion_start)
);
CREATE INDEX job_charges_period_account_idx ON job_charges (period_id, account);
CREATE INDEX job_charges_user_idx ON job_charges (username, portion_end DESC);
CREATE INDEX job_charges_account_idx ON job_charges (account, portion_end DESC);

-- Charges in a closed period are final: the database refuses to change them.
-- +goose StatementBegin
CREATE FUNCTION job_charges_closed_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid bigint;
BEGIN
    FOREACH pid IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.period_id END,
                               CASE WHEN TG_OP <> 'DELETE' THEN NEW.period_id END] LOOP
        IF pid IS NOT NULL AND EXISTS (SELECT 1 FROM billing_periods WHERE id = pid AND status = 'closed') THEN
            RAISE EXCEPTION 'billing period % is closed: its charges cannot change', pid
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER job_charges_closed BEFORE INSERT OR UPDATE OR DELETE ON job_charges
    FOR EACH ROW EXECUTE FUNCTION job_charges_closed_guard();

-- +goose Down
DROP TABLE job_charges;
DROP FUNCTION job_charges_closed_guard();
DROP TABLE billing_periods;
DROP TABLE rate_cards;
DROP FUNCTION rate_cards_read_only();
