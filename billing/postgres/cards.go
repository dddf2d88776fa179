// Package postgres keeps billing's rate cards, periods and charges in
// PostgreSQL.
package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-hpc/tally/billing"
)

// CardStore keeps rate card versions (read-only once stored) and gives
// the rounding policy their currencies imply.
type CardStore struct {
	pool *pgxpool.Pool

	// Versions are read-only once stored, so the parsed cards stay valid
	// until a version is added: every page asks for them (the rounding
	// policy), and parsing YAML each time would cost more than the page.
	// The cache is checked against the table (count and newest id of
	// the versions) on every call: one small query instead of the parse.
	mu     sync.Mutex
	parsed billing.Cards
	key    string
}

// cardSnapshotKey marks a context whose Cards calls share one read.
type cardSnapshotKey struct{}

type cardSnapshot struct {
	mu    sync.Mutex
	cards billing.Cards
	read  bool
}

// WithCardSnapshot returns a context in which every Cards call after the
// first returns what the first read. A page asks for the cards (the
// rounding policy, the currency, the prices) five times on average, each
// a round trip to check the cache; under it one page also sees one set of
// cards, never a version added half-way through. For reads only: a
// request that stores a card must not run under it.
func WithCardSnapshot(ctx context.Context) context.Context {
	return context.WithValue(ctx, cardSnapshotKey{}, &cardSnapshot{})
}

// Cards loads every stored rate card version. Callers must not change
// the cards: they are shared.
func (s *CardStore) Cards(ctx context.Context) (billing.Cards, error) {
	snap, ok := ctx.Value(cardSnapshotKey{}).(*cardSnapshot)
	if !ok {
		return s.cards(ctx)
	}
	snap.mu.Lock()
	defer snap.mu.Unlock()
	if snap.read {
		return snap.cards, nil
	}
	cards, err := s.cards(ctx)
	if err == nil {
		snap.cards, snap.read = cards, true
	}
	return cards, err
}

func (s *CardStore) cards(ctx context.Context) (_ billing.Cards, err error) {
	defer annotate(&err, "reading rate cards")
	var key string
	if err := s.pool.QueryRow(ctx, `SELECT count(*) || '/' || coalesce(max(id), 0) FROM rate_cards`).Scan(&key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.key == key && s.parsed != nil {
		defer s.mu.Unlock()
		return s.parsed, nil
	}
	s.mu.Unlock()
	cards, err := s.parse(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.parsed, s.key = cards, key
	s.mu.Unlock()
	return cards, nil
}

func (s *CardStore) parse(ctx context.Context) (billing.Cards, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, spec FROM rate_cards ORDER BY name, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out billing.Cards
	for rows.Next() {
		var id int64
		var spec string
		if err := rows.Scan(&id, &spec); err != nil {
			return nil, err
		}
		cs, err := billing.ParseRateFile(strings.NewReader(spec), nil)
		if err != nil || len(cs) != 1 {
			return nil, fmt.Errorf("stored rate card %d does not parse: %v", id, err)
		}
		cs[0].ID = id
		out = append(out, cs[0])
	}
	return out, rows.Err()
}

// KnownAccount reports whether Slurm knows an account: its associations
// (when synced) or any job name it. Estimates and adjustments refuse
// others rather than price or credit a typo.
func (s *CardStore) KnownAccount(ctx context.Context, account string) (known bool, err error) {
	defer annotate(&err, "looking up account %s", account)
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM slurm_associations WHERE account = $1)
		OR EXISTS (SELECT 1 FROM jobs WHERE account = $1)`, account).Scan(&known)
	return known, err
}

// KnownPartitions lists the partitions jobs have run in and those stored
// rate cards already price, to catch typos in rate files: a new version of
// a card may keep prices for a partition no job has used yet.
func (s *CardStore) KnownPartitions(ctx context.Context) (_ []string, err error) {
	defer annotate(&err, "listing partitions")
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT partition FROM jobs WHERE partition <> '' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	cards, err := s.Cards(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range cards {
		for name := range c.Partitions {
			parts = append(parts, name)
		}
	}
	slices.Sort(parts)
	return slices.Compact(parts), nil
}

// ImportResult says what an import did with each version.
type ImportResult struct {
	Added     []string
	Unchanged []string
}

// Import stores the versions of a parsed rate file. A version already
// stored with the same content is left alone; one stored with different
// content is refused, since versions are read-only.
func (s *CardStore) Import(ctx context.Context, cards billing.Cards, by string) (_ ImportResult, err error) {
	defer annotate(&err, "importing rate cards")
	var res ImportResult
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, c := range cards {
			spec, err := billing.MarshalVersion(c)
			if err != nil {
				return err
			}
			label := fmt.Sprintf("%s v%d", c.Name, c.Version)
			var existing string
			err = tx.QueryRow(ctx, `SELECT spec FROM rate_cards WHERE name = $1 AND version = $2`, c.Name, c.Version).Scan(&existing)
			switch {
			case err == nil && bytes.Equal([]byte(existing), spec):
				res.Unchanged = append(res.Unchanged, label)
				continue
			case err == nil:
				return billing.Conflictf("%s is already stored with other prices; versions are read-only: add version %d instead", label, c.Version+1)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			// One currency per sum: an account's statement adds the
			// charges of every cluster its jobs ran on, and period totals
			// add every account, so every card, whatever its cluster,
			// bills in one currency.
			var other string
			err = tx.QueryRow(ctx, `SELECT currency FROM rate_cards WHERE currency <> $1 LIMIT 1`, c.Currency).Scan(&other)
			switch {
			case err == nil:
				return billing.Conflictf("%s bills in %s, but stored cards bill in %s: Tally never adds amounts of two currencies", label, c.Currency, other)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			var latest *int
			if err := tx.QueryRow(ctx, `SELECT max(version) FROM rate_cards WHERE name = $1 AND effective_from >= $2`, c.Name, c.EffectiveFrom).Scan(&latest); err != nil {
				return err
			}
			if latest != nil && *latest > c.Version {
				return billing.Conflictf("%s starts %s, not after version %d: versions must start in order", label,
					c.EffectiveFrom.Format("2006-01-02T15:04Z"), *latest)
			}
			_, err = tx.Exec(ctx, `INSERT INTO rate_cards (name, version, effective_from, cluster, currency, spec, created_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.Name, c.Version, c.EffectiveFrom, c.Cluster, c.Currency, string(spec), by)
			if err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "23505" {
					return billing.Conflictf("%s: another version of %s already starts at %s", label, c.Name, c.EffectiveFrom.Format("2006-01-02T15:04Z"))
				}
				return err
			}
			res.Added = append(res.Added, label)
		}
		return nil
	})
	return res, err
}

// AddVersion stores the next version of a card from the YAML an admin
// edited: it must be numbered one above the newest and start after it.
func (s *CardStore) AddVersion(ctx context.Context, yamlText, by string) (_ *billing.RateCard, err error) {
	defer annotate(&err, "adding a rate card version")
	parts, err := s.KnownPartitions(ctx)
	if err != nil {
		return nil, err
	}
	cards, err := billing.ParseRateFile(strings.NewReader(yamlText), parts)
	if err != nil {
		return nil, err
	}
	if len(cards) != 1 {
		return nil, billing.Invalidf("give exactly one version (found %d)", len(cards))
	}
	c := cards[0]
	var maxV *int
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM rate_cards WHERE name = $1`, c.Name).Scan(&maxV); err != nil {
		return nil, err
	}
	want := 1
	if maxV != nil {
		want = *maxV + 1
	}
	if c.Version != want {
		return nil, billing.Invalidf("the next version of %s is %d, not %d", c.Name, want, c.Version)
	}
	if _, err := s.Import(ctx, cards, by); err != nil {
		return nil, err
	}
	return c, nil
}
