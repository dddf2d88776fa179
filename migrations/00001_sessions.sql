-- +goose Up
-- Server-side sessions for alexedwards/scs (pgxstore). The data blob holds
-- the user's identity and Slurm token; it never leaves the server.
CREATE TABLE sessions (
    token  text        PRIMARY KEY,
    data   bytea       NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
