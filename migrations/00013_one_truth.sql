-- +goose Up
-- Statements freeze the account details they print (display name, PI,
-- cost centre, PO number) and say which canonical text their hash covers:
-- version 1 (issued before this migration) the lines, version 2 also the
-- details and the job count.
ALTER TABLE statements
    ADD COLUMN display_name text    NOT NULL DEFAULT '',
    ADD COLUMN pi           text    NOT NULL DEFAULT '',
    ADD COLUMN cost_centre  text    NOT NULL DEFAULT '',
    ADD COLUMN po_number    text    NOT NULL DEFAULT '',
    ADD COLUMN hash_version integer NOT NULL DEFAULT 1 CHECK (hash_version IN (1, 2));

-- A person's statements read their charges by period.
CREATE INDEX job_charges_period_user_idx ON job_charges (period_id, username);

-- The closed-period guard takes a share lock on the periods a write names
-- before it reads their state: a write racing a close waits for the close
-- to commit and then sees the period closed, instead of slipping a charge
-- in beside the statements (the close holds the row FOR UPDATE).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION job_charges_closed_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM 1 FROM billing_periods p WHERE p.id IN (SELECT period_id FROM old_rows) ORDER BY p.id FOR SHARE;
        SELECT p.id INTO closed FROM old_rows o JOIN billing_periods p ON p.id = o.period_id WHERE p.status = 'closed' LIMIT 1;
    END IF;
    IF closed IS NULL AND TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM 1 FROM billing_periods p WHERE p.id IN (SELECT period_id FROM new_rows) ORDER BY p.id FOR SHARE;
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION adjustments_open_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pid bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.period_id ELSE NEW.period_id END;
BEGIN
    PERFORM 1 FROM billing_periods WHERE id = pid OR (TG_OP = 'UPDATE' AND id = OLD.period_id) ORDER BY id FOR SHARE;
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

-- +goose Down
DROP INDEX job_charges_period_user_idx;
ALTER TABLE statements DROP COLUMN display_name, DROP COLUMN pi, DROP COLUMN cost_centre, DROP COLUMN po_number, DROP COLUMN hash_version;
