package tasks_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
)

// listener runs Store.Listen and hands its changes to the test.
type listener struct {
	t       *testing.T
	changes chan tasks.Change
	cancel  context.CancelFunc
	done    chan error
	stopped sync.Once
}

func startListen(t *testing.T, s *tasks.Store) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{t: t, changes: make(chan tasks.Change, 100), cancel: cancel, done: make(chan error, 1)}
	go func() {
		l.done <- s.Listen(ctx, nil, func(c tasks.Change) {
			select {
			case l.changes <- c:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(l.stop)
	return l
}

// next returns the next change, failing the test after a deadline.
func (l *listener) next(what string) tasks.Change {
	l.t.Helper()
	select {
	case c := <-l.changes:
		return c
	case <-time.After(30 * time.Second):
		l.t.Fatalf("no change for %s", what)
		return tasks.Change{}
	}
}

// expect waits for a change of task id, skipping others.
func (l *listener) expect(id int64, what string) tasks.Change {
	l.t.Helper()
	for {
		if c := l.next(what); c.ID == id {
			return c
		}
	}
}

// resync waits for Listen to be listening.
func (l *listener) resync(what string) {
	l.t.Helper()
	for {
		if c := l.next(what); c.Resync {
			return
		}
	}
}

// stop ends Listen and checks that it returns.
func (l *listener) stop() {
	l.stopped.Do(func() {
		l.cancel()
		select {
		case err := <-l.done:
			if !errors.Is(err, context.Canceled) {
				l.t.Errorf("Listen returned %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			l.t.Error("Listen did not return after its context ended")
		}
	})
}

func TestListen(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	l := startListen(t, s)
	if c := l.next("listening"); !c.Resync {
		t.Fatalf("first call %+v, want a Resync", c)
	}

	task := create(t, s, callback(t0))
	if c := l.next("create"); !sameChange(c, tasks.Change{ID: task.ID, Queue: "general", Status: tasks.Pending, WindowStart: t0}) {
		t.Errorf("create: %+v", c)
	}
	c, err := s.Claim(ctx, task.ID, "agent1", task.Version, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.next("claim"); !sameChange(got, tasks.Change{ID: task.ID, Queue: "general", Assignee: "agent1",
		Status: tasks.Claimed, WindowStart: t0, LeaseExpires: t0.Add(time.Minute)}) {
		t.Errorf("claim: %+v", got)
	}
	// A refused change announces nothing; the next one is the next change.
	if _, err := s.Cancel(ctx, task.ID, "agent1", task.Version, ""); !errors.Is(err, tasks.ErrConflict) {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, task.ID, "agent1", c.Version, ""); err != nil {
		t.Fatal(err)
	}
	if got := l.next("cancel"); got.ID != task.ID || got.Status != tasks.Cancelled {
		t.Errorf("cancel: %+v", got)
	}
	l.stop()
}

// sameChange compares two changes, times with Equal.
func sameChange(a, b tasks.Change) bool {
	if !a.WindowStart.Equal(b.WindowStart) || !a.LeaseExpires.Equal(b.LeaseExpires) {
		return false
	}
	a.WindowStart, a.LeaseExpires, b.WindowStart, b.LeaseExpires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// TestListenIdle: a quiet connection is pinged and keeps delivering.
func TestListenIdle(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tasks.SetListenIdle(s, time.Millisecond)
	l := startListen(t, s)
	l.resync("listening")
	for i := range 20 {
		task := create(t, s, callback(t0.Add(time.Duration(i)*slot)))
		if c := l.expect(task.ID, "create"); c.Status != tasks.Pending {
			t.Fatalf("change %+v", c)
		}
	}
}

// TestListenReconnect: PostgreSQL goes away and comes back; Listen
// reconnects by itself, says so with a Resync, and delivers again.
func TestListenReconnect(t *testing.T) {
	t.Parallel()
	db, u := newDB(t)
	writer := tasks.New(db.Pool())
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxy(t, pu.Host)
	viaProxy := open(t, proxy.URL(u))
	s := tasks.New(viaProxy.Pool())
	l := startListen(t, s)
	l.resync("listening")

	proxy.Cut()
	missed := create(t, writer, callback(t0)) // while Listen is away: lost, hence the Resync
	proxy.Restore()
	l.resync("listening again")
	task := create(t, writer, callback(t0))
	for {
		c := l.next("create after reconnect")
		if c.ID == missed.ID {
			continue // delivered only if the cut came after its commit
		}
		if c.ID != task.ID || c.Status != tasks.Pending {
			t.Fatalf("change %+v, want task %d", c, task.ID)
		}
		break
	}
}

func TestListenNeedsFunction(t *testing.T) {
	t.Parallel()
	s := tasks.New(nil)
	if err := s.Listen(context.Background(), nil, func(tasks.Change) {}); !errors.Is(err, tasks.ErrInvalid) {
		t.Errorf("Listen without a pool: %v", err)
	}
}
