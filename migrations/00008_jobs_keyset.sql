-- +goose Up
-- Job lists are sorted newest first with running jobs (no end yet) last,
-- and paged by position (end_time, id): these indexes hold exactly that
-- order, so a page is an index range scan whatever its depth.
DROP INDEX jobs_user_end_idx;
DROP INDEX jobs_account_end_idx;
CREATE INDEX jobs_user_end_idx    ON jobs (username, end_time DESC NULLS LAST, id DESC);
CREATE INDEX jobs_account_end_idx ON jobs (account, end_time DESC NULLS LAST, id DESC);

-- +goose Down
DROP INDEX jobs_user_end_idx;
DROP INDEX jobs_account_end_idx;
CREATE INDEX jobs_user_end_idx    ON jobs (username, end_time DESC);
CREATE INDEX jobs_account_end_idx ON jobs (account, end_time DESC);
