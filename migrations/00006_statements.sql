-- +goose Up
-- Account statements: the snapshot a period's close takes. Numbered
-- without gaps within a period, hashed over their canonical lines, and
-- never changed afterwards.
CREATE TABLE statements (
    id           bigserial   PRIMARY KEY,
    period_id    bigint      NOT NULL REFERENCES billing_periods (id),
    number       text        NOT NULL UNIQUE,
    account      text        NOT NULL,
    currency     text        NOT NULL,
    jobs         integer     NOT NULL,
    total_micros bigint      NOT NULL,
    sha256       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (period_id, account)
);

CREATE TABLE statement_lines (
    statement_id bigint NOT NULL REFERENCES statements (id),
    component    text   NOT NULL,
    jobs         integer NOT NULL,
    exact_micros bigint NOT NULL,
    amount_micros bigint NOT NULL,
    PRIMARY KEY (statement_id, component)
);

-- Per-user totals frozen with the period.
CREATE TABLE statement_users (
    period_id     bigint  NOT NULL REFERENCES billing_periods (id),
    account       text    NOT NULL,
    username      text    NOT NULL,
    jobs          integer NOT NULL,
    exact_micros  bigint  NOT NULL,
    PRIMARY KEY (period_id, account, username)
);

-- Each preview's per-account totals, to show what changed since the last.
CREATE TABLE period_previews (
    id        bigserial   PRIMARY KEY,
    period_id bigint      NOT NULL REFERENCES billing_periods (id),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    totals    jsonb       NOT NULL
);
CREATE INDEX period_previews_idx ON period_previews (period_id, id DESC);

-- +goose StatementBegin
CREATE FUNCTION statements_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows belong to a closed period and cannot change', TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER statements_no_change BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION statements_immutable();
CREATE TRIGGER statement_lines_no_change BEFORE UPDATE OR DELETE ON statement_lines
    FOR EACH ROW EXECUTE FUNCTION statements_immutable();
CREATE TRIGGER statement_users_no_change BEFORE UPDATE OR DELETE ON statement_users
    FOR EACH ROW EXECUTE FUNCTION statements_immutable();

-- A closed period stays closed.
-- +goose StatementBegin
CREATE FUNCTION billing_periods_stay_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'closed' THEN
        RAISE EXCEPTION 'billing period % is closed', OLD.name USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER billing_periods_closed BEFORE UPDATE OR DELETE ON billing_periods
    FOR EACH ROW EXECUTE FUNCTION billing_periods_stay_closed();

-- +goose Down
DROP TRIGGER billing_periods_closed ON billing_periods;
DROP FUNCTION billing_periods_stay_closed();
DROP TABLE period_previews;
DROP TABLE statement_users;
DROP TABLE statement_lines;
DROP TABLE statements;
DROP FUNCTION statements_immutable();
