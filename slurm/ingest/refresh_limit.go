package ingest

import (
	"fmt"
	"sync"
	"time"
)

// RefreshLimitError says why a person's own refresh was not started.
type RefreshLimitError struct {
	Wait time.Duration // how long until one may start (0: the service is busy)
}

func (e *RefreshLimitError) Error() string {
	if e.Wait > 0 {
		return fmt.Sprintf("refreshed moments ago: the next refresh can start in %s", e.Wait.Round(time.Second))
	}
	return "too many refreshes are running: the next scheduled ingest brings the records"
}

// refreshLimiter bounds what people can make slurmrestd do: each sign-in
// and each "refresh" press asked it for seven days of records, without
// limit. Now one person gets one refresh per gap, and only so many run at
// once across everyone.
type refreshLimiter struct {
	mu      sync.Mutex
	last    map[string]time.Time
	running int
	gap     time.Duration
	max     int
}

func newRefreshLimiter(gap time.Duration, max int) *refreshLimiter {
	return &refreshLimiter{last: map[string]time.Time{}, gap: gap, max: max}
}

// start reserves a refresh for user at now, or says why not; done
// releases it.
func (l *refreshLimiter) start(user string, now time.Time) (done func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[user]; ok && now.Sub(t) < l.gap {
		return nil, &RefreshLimitError{Wait: l.gap - now.Sub(t)}
	}
	if l.running >= l.max {
		return nil, &RefreshLimitError{}
	}
	// Forget those whose gap has passed, so the map holds at most the
	// people of the last gap.
	for u, t := range l.last {
		if now.Sub(t) >= l.gap {
			delete(l.last, u)
		}
	}
	l.last[user] = now
	l.running++
	return func() {
		l.mu.Lock()
		l.running--
		l.mu.Unlock()
	}, nil
}
