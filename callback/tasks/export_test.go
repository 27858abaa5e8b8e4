package tasks

import (
	"context"
	"time"
)

// SetListenIdle sets how long Listen waits on a quiet connection before it
// pings it, so tests can exercise that path.
func SetListenIdle(s *Store, d time.Duration) { s.listenIdle = d }

// The dispatcher's queries, for the tests of their plans.
const (
	ClaimDueSQL = claimDueSQL
	NextDueSQL  = nextDueSQL
)

// NextDue exposes the dispatcher's look at its queues.
func NextDue(ctx context.Context, s *Store, queues []string, now time.Time) (map[string]bool, time.Time, error) {
	return s.nextDue(ctx, queues, now)
}

const ExpireLeasesSQL = expireLeasesSQL
