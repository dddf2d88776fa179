package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Personal API tokens look like "tly_" and 52 base32 letters and digits
// (256 random bits). The prefix lets secret scanners (and people) tell a
// Tally token from any other string; the table keeps only its SHA-256.
const (
	apiTokenPrefix = "tly_"
	apiTokenChars  = 52 // base32 of 32 bytes, without padding
	// maxActiveTokens bounds how many live tokens one person may hold.
	maxActiveTokens = 20
	// tokenUseInterval is how often a token's last use is written: at
	// most once a minute per token (and when its address changes), not
	// once per request.
	tokenUseInterval = time.Minute
)

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newAPIToken makes a token and the hash the table keeps of it.
func newAPIToken() (token string, hash [32]byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", hash, err
	}
	token = apiTokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b))
	return token, sha256.Sum256([]byte(token)), nil
}

// apiTokenHash is the hash a presented token is looked up by; ok is false
// for anything that is not shaped like a Tally token (no query is made).
func apiTokenHash(token string) (hash [32]byte, ok bool) {
	rest, found := strings.CutPrefix(token, apiTokenPrefix)
	if !found || len(rest) != apiTokenChars {
		return hash, false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return hash, false
		}
	}
	return sha256.Sum256([]byte(token)), true
}

// apiToken is one personal API token as Tally keeps it: everything but
// the token itself.
type apiToken struct {
	ID           int64
	User         string // who signed in and made it
	SlurmUser    string // whose usage it reads
	Name         string
	Scope        string // "read", the only kind
	CreatedAt    time.Time
	ExpiresAt    *time.Time
	RevokedAt    *time.Time
	RevokedBy    string
	LastUsedAt   *time.Time
	LastUsedFrom string
}

// state is active, expired or revoked.
func (t apiToken) state(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// errNoToken is a token id that is not there, or not the viewer's.
var errNoToken = errors.New("no such API token")

// tokenStore keeps personal API tokens.
type tokenStore interface {
	// CreateToken stores a new token's hash; it refuses a person's
	// (maxActiveTokens+1)th live token.
	CreateToken(ctx context.Context, t apiToken, hash [32]byte) (apiToken, error)
	// TokenByHash finds a token, live or not; errNoToken when none has hash.
	TokenByHash(ctx context.Context, hash [32]byte) (apiToken, error)
	// Tokens lists slurmUser's tokens, newest first, or everyone's for "".
	Tokens(ctx context.Context, slurmUser string) ([]apiToken, error)
	// RevokeToken revokes token id, which must be slurmUser's unless
	// slurmUser is "" (an admin); errNoToken otherwise. Revoking a revoked
	// token changes nothing.
	RevokeToken(ctx context.Context, id int64, slurmUser, by string) (apiToken, error)
	// TokenUsed records a use from an address.
	TokenUsed(ctx context.Context, id int64, from string) error
}

// pgTokenStore is tokenStore on PostgreSQL (migration 00016).
type pgTokenStore struct{ pool *pgxpool.Pool }

const tokenColumns = `id, username, slurm_user, name, scope, created_at, expires_at, revoked_at, coalesce(revoked_by, ''), last_used_at, last_used_from`

func scanToken(row pgx.Row) (apiToken, error) {
	var t apiToken
	err := row.Scan(&t.ID, &t.User, &t.SlurmUser, &t.Name, &t.Scope, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.RevokedBy,
		&t.LastUsedAt, &t.LastUsedFrom)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, errNoToken
	}
	return t, err
}

// tooManyTokens is refused with a message the person can act on.
type tooManyTokens struct{}

func (tooManyTokens) Error() string {
	return fmt.Sprintf("You hold %d live tokens, the most Tally allows: revoke one you no longer use first.", maxActiveTokens)
}

func (s pgTokenStore) CreateToken(ctx context.Context, t apiToken, hash [32]byte) (apiToken, error) {
	var out apiToken
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One person's creations in a row, so the count below holds.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('tally-api-tokens:' || $1, 0))`, t.SlurmUser); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_tokens
			WHERE slurm_user = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`, t.SlurmUser).Scan(&live); err != nil {
			return err
		}
		if live >= maxActiveTokens {
			return tooManyTokens{}
		}
		var err error
		out, err = scanToken(tx.QueryRow(ctx, `INSERT INTO api_tokens (username, slurm_user, name, token_sha256, scope, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tokenColumns, t.User, t.SlurmUser, t.Name, hash[:], t.Scope, t.ExpiresAt))
		return err
	})
	if err != nil {
		var many tooManyTokens
		if errors.As(err, &many) {
			return out, many
		}
		return out, fmt.Errorf("creating an API token: %w", err)
	}
	return out, nil
}

func (s pgTokenStore) TokenByHash(ctx context.Context, hash [32]byte) (apiToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE token_sha256 = $1`, hash[:]))
	if err != nil && !errors.Is(err, errNoToken) {
		return t, fmt.Errorf("reading an API token: %w", err)
	}
	return t, err
}

func (s pgTokenStore) Tokens(ctx context.Context, slurmUser string) ([]apiToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE $1 = '' OR slurm_user = $1
		ORDER BY created_at DESC, id DESC LIMIT 1000`, slurmUser)
	if err != nil {
		return nil, fmt.Errorf("listing API tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apiToken, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("listing API tokens: %w", err)
	}
	return out, nil
}

func (s pgTokenStore) RevokeToken(ctx context.Context, id int64, slurmUser, by string) (apiToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()), revoked_by = coalesce(revoked_by, $3)
		WHERE id = $1 AND ($2 = '' OR slurm_user = $2) RETURNING `+tokenColumns, id, slurmUser, by))
	if err != nil && !errors.Is(err, errNoToken) {
		return t, fmt.Errorf("revoking API token %d: %w", id, err)
	}
	return t, err
}

func (s pgTokenStore) TokenUsed(ctx context.Context, id int64, from string) error {
	if len(from) > 64 {
		from = from[:64]
	}
	if _, err := s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now(), last_used_from = $2 WHERE id = $1`, id, from); err != nil {
		return fmt.Errorf("recording the use of API token %d: %w", id, err)
	}
	return nil
}
