-- +goose Up
-- What admins and finance did: rate changes, previews, closes,
-- adjustments, exports, ingest requests. Append-only in the database.
CREATE TABLE admin_events (
    id     bigserial   PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text        NOT NULL,
    action text        NOT NULL,
    detail text        NOT NULL DEFAULT ''
);
CREATE INDEX admin_events_at_idx ON admin_events (at DESC);
CREATE TRIGGER admin_events_append_only BEFORE UPDATE OR DELETE ON admin_events
    FOR EACH ROW EXECUTE FUNCTION auth_events_append_only();
CREATE TRIGGER auth_events_no_delete BEFORE DELETE ON auth_events
    FOR EACH ROW EXECUTE FUNCTION auth_events_append_only();

-- +goose Down
DROP TRIGGER auth_events_no_delete ON auth_events;
DROP TABLE admin_events;
