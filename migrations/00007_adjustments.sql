-- +goose Up
-- Credits (negative) and debits against an open period. Corrections found
-- after a close land in the next open period.
CREATE TABLE adjustments (
    id           bigserial   PRIMARY KEY,
    period_id    bigint      NOT NULL REFERENCES billing_periods (id),
    account      text        NOT NULL CHECK (account <> ''),
    username     text        NOT NULL DEFAULT '',
    job_row      bigint      REFERENCES jobs (id),
    amount_micros bigint     NOT NULL CHECK (amount_micros <> 0),
    reason       text        NOT NULL CHECK (length(trim(reason)) > 0),
    author       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX adjustments_period_idx ON adjustments (period_id, account);

-- +goose StatementBegin
CREATE FUNCTION adjustments_open_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.period_id ELSE NEW.period_id END;
BEGIN
    IF EXISTS (SELECT 1 FROM billing_periods WHERE id = pid AND status = 'closed')
       OR (TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM billing_periods WHERE id = OLD.period_id AND status = 'closed')) THEN
        RAISE EXCEPTION 'billing period % is closed: adjustments go to the next open period', pid
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER adjustments_open BEFORE INSERT OR UPDATE OR DELETE ON adjustments
    FOR EACH ROW EXECUTE FUNCTION adjustments_open_only();

-- What admins keep about each account, shown on statements and exports.
CREATE TABLE account_details (
    account       text        PRIMARY KEY,
    display_name  text        NOT NULL DEFAULT '',
    pi            text        NOT NULL DEFAULT '',
    contact_email text        NOT NULL DEFAULT '',
    cost_centre   text        NOT NULL DEFAULT '',
    po_number     text        NOT NULL DEFAULT '',
    active        boolean     NOT NULL DEFAULT true,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE account_details;
DROP TABLE adjustments;
DROP FUNCTION adjustments_open_only();
