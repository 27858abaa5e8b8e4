package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

// newDB returns a freshly migrated database of the test's own, and its URL.
func newDB(t *testing.T) (*store.DB, string) {
	t.Helper()
	u := pgtest.URL(t, "store")
	db := open(t, u)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, u
}

func open(t *testing.T, u string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// hostPort is the host:port of a postgres:// URL.
func hostPort(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// eventually waits for cond, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-poll.C:
		}
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func count(t *testing.T, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// answered returns a valid answered call record.
func answered(id string, entry time.Time, waitMS int64) store.CallRecord {
	return store.CallRecord{
		ChannelID: id, Queue: "general", Kind: store.KindQueue, CallerNumber: "0612345678",
		Entry: entry, Answered: entry.Add(time.Duration(waitMS) * time.Millisecond),
		Ended:  entry.Add(time.Duration(waitMS)*time.Millisecond + 2*time.Minute),
		WaitMS: waitMS, Outcome: store.OutcomeAnswered, WithinThreshold: waitMS <= 30000, ThresholdMS: 30000,
		Agent: "agent1",
	}
}

func records(prefix string, n int) []store.CallRecord {
	base := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	out := make([]store.CallRecord, n)
	for i := range out {
		out[i] = answered(fmt.Sprintf("%s-%04d", prefix, i), base.Add(time.Duration(i)*time.Second), int64(i*1000))
	}
	return out
}
