package ingest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Records no real job could have are held back as rejects with their
// reason, never stored or charged; odd but possible ones (an unknown TRES,
// a partition no rate card prices) are stored, and the period preview
// flags what it cannot rate.
func TestAbsurdValuesBecomeRejects(t *testing.T) {
	base := fmt.Sprintf(jobRecordJSON(), 1)
	edit := func(id int, pairs ...string) string {
		s := strings.Replace(base, `"job_id":1,`, fmt.Sprintf(`"job_id":%d,`, id), 1)
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				t.Fatalf("record has no %s", pairs[i])
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		return s
	}
	records := []struct {
		json   string
		reason string // "" for stored
	}{
		{edit(1), ""},
		{edit(2, `"elapsed":3600,"eligible"`, `"elapsed":-5,"eligible"`), "negative elapsed time"},
		{edit(3, `"end":1795480778,"start":1795477178`, `"end":1795470000,"start":1795477178`), "before it starts"},
		{edit(4, `"requested":[{"type":"cpu","name":null,"id":1,"count":4}`, `"requested":[{"type":"cpu","name":null,"id":1,"count":1000000}`), "1000000 requested CPUs"},
		{edit(5, `"user":"alice"`, `"user":""`), "no user"},
		{edit(6, `"account":"physics"`, `"account":""`), "no account"},
		{edit(7, `{"type":"billing","name":null,"id":5,"count":4}],`, `{"type":"billing","name":null,"id":5,"count":4},{"type":"fs/lustre","name":null,"id":9,"count":77}],`), ""},
		{edit(8, `"partition":"cpu"`, `"partition":"no-such-partition"`), ""},
		{edit(9, `"elapsed":3600,"eligible"`, `"elapsed":9223372036854,"eligible"`), "over five years"},
		{edit(10, `"requested":[{"type":"cpu","name":null,"id":1,"count":4},{"type":"mem","name":null,"id":2,"count":8192}`,
			`"requested":[{"type":"cpu","name":null,"id":1,"count":4},{"type":"mem","name":null,"id":2,"count":-8192}`), "negative requested TRES"},
	}
	srv := fakeRestd(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"meta":{},"errors":[],"jobs":[`)
		for i, rec := range records {
			if i > 0 {
				io.WriteString(w, ",")
			}
			io.WriteString(w, rec.json)
		}
		io.WriteString(w, `]}`)
	})
	in, store := restIngester(t, srv.URL, &fakeCreds{}, 0)
	sum, err := in.Run(context.Background(), window[0], window[1], Options{Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.New != 3 || sum.Counts.Rejected != 7 {
		t.Errorf("counts %+v, want 3 new and 7 rejected", sum.Counts)
	}
	ctx := context.Background()
	for _, rec := range records {
		var id int
		fmt.Sscanf(rec.json[strings.Index(rec.json, `"job_id":`)+len(`"job_id":`):], "%d", &id)
		var stored int
		store.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE job_id = $1`, id).Scan(&stored)
		var reason string
		store.Pool().QueryRow(ctx, `SELECT coalesce(max(error), '') FROM ingest_rejects WHERE raw LIKE $1`, fmt.Sprintf("job %d %%", id)).Scan(&reason)
		switch {
		case rec.reason == "" && (stored != 1 || reason != ""):
			t.Errorf("job %d: stored %d, reject %q; want stored", id, stored, reason)
		case rec.reason != "" && (stored != 0 || !strings.Contains(reason, rec.reason)):
			t.Errorf("job %d: stored %d, reject %q; want a reject saying %q", id, stored, reason, rec.reason)
		}
	}
}
