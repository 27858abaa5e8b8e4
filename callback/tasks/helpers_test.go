package tasks_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
)

// t0 is the tests' "now": Monday 23 November 2026, 09:00 UTC.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const slot = 15 * time.Minute

// newDB returns a freshly migrated database of the test's own, and its URL.
func newDB(t testing.TB) (*store.DB, string) {
	t.Helper()
	u := pgtest.URL(t, "tasks")
	db := open(t, u)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, u
}

func open(t testing.TB, u string) *store.DB {
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

func newStore(t *testing.T) (*tasks.Store, *store.DB) {
	t.Helper()
	db, _ := newDB(t)
	return tasks.New(db.Pool()), db
}

// callback is a valid pool callback of queue "general" in the slot starting
// at start.
func callback(start time.Time) tasks.NewTask {
	return tasks.NewTask{
		Kind: tasks.KindQueueCallback, Queue: "general", Number: "+31612345678", CallerName: "J. de Vries",
		WindowStart: start, WindowEnd: start.Add(slot), Actor: "caller",
	}
}

func create(t *testing.T, s *tasks.Store, n tasks.NewTask) tasks.Task {
	t.Helper()
	task, created, err := s.Create(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatalf("Create(%+v): not created", n)
	}
	return task
}

func get(t *testing.T, s *tasks.Store, id int64) tasks.Task {
	t.Helper()
	task, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func count(t testing.TB, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func ids(ts []tasks.Task) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// sameTask compares two tasks, times with Equal.
func sameTask(a, b tasks.Task) bool {
	ta := []time.Time{a.WindowStart, a.WindowEnd, a.LeaseExpires, a.CreatedAt, a.UpdatedAt, a.CompletedAt}
	tb := []time.Time{b.WindowStart, b.WindowEnd, b.LeaseExpires, b.CreatedAt, b.UpdatedAt, b.CompletedAt}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.WindowStart, a.WindowEnd, a.LeaseExpires, a.CreatedAt, a.UpdatedAt, a.CompletedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.WindowStart, b.WindowEnd, b.LeaseExpires, b.CreatedAt, b.UpdatedAt, b.CompletedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func mustSame(t *testing.T, what string, got, want tasks.Task) {
	t.Helper()
	if !sameTask(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

func show(t tasks.Task) string { return fmt.Sprintf("%+v", t) }
