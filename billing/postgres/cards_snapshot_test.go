package postgres

import (
	"context"
	"testing"

	"github.com/tally-hpc/tally/internal/pgtest"
)

// Under WithCardSnapshot the cards are read once: a version stored
// meanwhile shows from the next snapshot (the next page), not half-way
// through this one; without a snapshot every call sees it at once.
func TestCardSnapshot(t *testing.T) {
	s := New(pgtest.New(t))
	ctx := context.Background()
	if err := importCard(t, s, "standard", "USD", "2"); err != nil {
		t.Fatal(err)
	}
	page := WithCardSnapshot(ctx)
	first, err := s.Cards(page)
	if err != nil || len(first) == 0 {
		t.Fatalf("first read: %d cards, %v", len(first), err)
	}
	if err := importCard(t, s, "gpu-nodes", "USD", "2"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Cards(page); len(again) != len(first) {
		t.Errorf("the same page read %d cards the second time, want the %d of its first read", len(again), len(first))
	}
	now, _ := s.Cards(ctx)
	if len(now) <= len(first) {
		t.Errorf("outside a snapshot: %d cards, want the new ones beside the first %d", len(now), len(first))
	}
	if next, _ := s.Cards(WithCardSnapshot(ctx)); len(next) != len(now) {
		t.Errorf("the next page: %d cards, want %d", len(next), len(now))
	}
}
