-- +goose Up
-- Personal API tokens (issue 21). Only the SHA-256 of a token is kept: the
-- token itself is shown once, at creation, and a copy of this table (a
-- backup, a reporting role's SELECT) admits nobody. Roles are not stored:
-- they are worked out again from Slurm's associations and Unix groups when
-- the token is used, as for a session.
CREATE TABLE api_tokens (
    id             bigserial   PRIMARY KEY,
    username       text        NOT NULL CHECK (username <> '' AND length(username) <= 256),
    slurm_user     text        NOT NULL CHECK (slurm_user <> '' AND length(slurm_user) <= 256),
    name           text        NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 100),
    token_sha256   bytea       NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    -- Read-only is the only kind there is; the column says so, so a wider
    -- kind is a migration and a decision, not a stray value.
    scope          text        NOT NULL DEFAULT 'read' CHECK (scope IN ('read')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
    revoked_at     timestamptz CHECK (revoked_at IS NULL OR revoked_at >= created_at),
    revoked_by     text        CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)),
    last_used_at   timestamptz,
    last_used_from text        NOT NULL DEFAULT '' CHECK (length(last_used_from) <= 64)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (slurm_user, created_at DESC);

-- A token's identity never changes, and a revoked token stays revoked:
-- only its last use and, once, its revocation may be written.
-- +goose StatementBegin
CREATE FUNCTION api_tokens_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.username <> OLD.username OR NEW.slurm_user <> OLD.slurm_user OR NEW.name <> OLD.name
       OR NEW.token_sha256 <> OLD.token_sha256 OR NEW.scope <> OLD.scope OR NEW.created_at <> OLD.created_at
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN
        RAISE EXCEPTION 'api_tokens: only last use and revocation may change';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revoked_by IS DISTINCT FROM OLD.revoked_by) THEN
        RAISE EXCEPTION 'api_tokens: a revoked token stays revoked';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER api_tokens_guard BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_guard();

-- +goose Down
DROP TABLE api_tokens;
DROP FUNCTION api_tokens_guard();
