package tasks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/tasks"
)

// TestCreateTx: a task created in the caller's transaction exists, with its
// history and its notification, exactly when that transaction commits.
func TestCreateTx(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	l := startListen(t, s)
	l.resync("listening")

	// Rolled back: nothing is left, and nothing is announced.
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := callback(t0)
	n.SourceKey = "chan-1"
	gone, created, err := s.CreateTx(ctx, tx, n)
	if err != nil || !created || gone.ID == 0 || gone.Version != 1 {
		t.Fatalf("CreateTx = %+v, %v, %v", gone, created, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, gone.ID); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("rolled-back task: %v, want ErrNotFound", err)
	}
	if n := count(t, db, "SELECT count(*) FROM task_events"); n != 0 {
		t.Errorf("rolled-back task left %d events", n)
	}

	// Committed together with the caller's own statement. The first
	// notification is this task's: the rolled-back one was never sent.
	var kept tasks.Task
	err = pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		var err error
		if kept, created, err = s.CreateTx(ctx, tx, n); err != nil || !created {
			return errors.Join(err, errors.New("not created"))
		}
		// The same key again in the same transaction: the same task.
		again, created, err := s.CreateTx(ctx, tx, n)
		if err != nil || created || again.ID != kept.ID {
			t.Errorf("CreateTx again in the transaction = %+v, %v, %v", again, created, err)
		}
		_, err = tx.Exec(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.next("the committed task"); c.ID != kept.ID || c.Status != tasks.Pending {
		t.Errorf("first change %+v, want task %d", c, kept.ID)
	}
	mustSame(t, "Get", get(t, s, kept.ID), kept)
	events, err := s.History(ctx, kept.ID)
	if err != nil || len(events) != 1 || events[0].Action != tasks.ActionCreated {
		t.Errorf("History = %+v, %v", events, err)
	}

	// The key exists: a later transaction gets the task, creating nothing.
	err = pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		got, created, err := s.CreateTx(ctx, tx, n)
		if err != nil || created || got.ID != kept.ID {
			t.Errorf("CreateTx of an existing key = %+v, %v, %v", got, created, err)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Invalid input is refused before any statement runs.
	err = pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		bad := callback(t0)
		bad.Number = "0612345678"
		if _, _, err := s.CreateTx(ctx, tx, bad); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("CreateTx(national number) = %v, want ErrInvalid", err)
		}
		_, err := tx.Exec(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		t.Errorf("the transaction is unusable after invalid input: %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM tasks"); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}
}

// TestVoicemailWithoutNumber: a caller who withheld their number still gets
// their message to the employee; nobody ever dials such a task.
func TestVoicemailWithoutNumber(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	ctx := context.Background()
	n := callback(t0.Add(-time.Hour))
	n.Kind, n.Queue, n.Number, n.Assignee = tasks.KindVoicemail, "direct", "", "anna"
	vm := create(t, s, n)
	if vm.Number != "" || vm.Kind != tasks.KindVoicemail {
		t.Errorf("voicemail task %+v", vm)
	}
	mustSame(t, "Get", get(t, s, vm.ID), vm)
	list, err := s.List(ctx, tasks.Filter{Assignee: "anna"})
	if err != nil || len(list) != 1 || list[0].ID != vm.ID {
		t.Errorf("List = %v, %v", ids(list), err)
	}

	withNumber := callback(t0.Add(-time.Hour))
	withNumber.Kind, withNumber.Queue, withNumber.Assignee = tasks.KindVoicemail, "direct", "anna"
	dialable := create(t, s, withNumber)
	got, err := s.ClaimDue(ctx, "direct", "node1", 10, time.Minute, t0)
	if err != nil || len(got) != 1 || got[0].ID != dialable.ID {
		t.Errorf("ClaimDue = %v, %v; want only task %d", ids(got), err, dialable.ID)
	}

	// Only a voicemail may lack a number, whoever writes the row.
	for _, kind := range []tasks.Kind{tasks.KindQueueCallback, tasks.KindAgreedByAgent} {
		n := callback(t0)
		n.Kind, n.Number = kind, ""
		if _, _, err := s.Create(ctx, n); !errors.Is(err, tasks.ErrInvalid) {
			t.Errorf("%s without a number: %v, want ErrInvalid", kind, err)
		}
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO tasks (kind, queue, window_start, window_end)
		VALUES ('queue_callback', 'q', now(), now() + interval '1 hour')`); err == nil {
		t.Error("the table accepts a callback without a number")
	}
}
