package web

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"callmon/callback/tasks"
)

func TestBroker(t *testing.T) {
	b := newBroker(slog.New(slog.DiscardHandler))
	general, unsubscribe := b.subscribe(func(c tasks.Change) bool { return c.Queue == "general" })
	all, _ := b.subscribe(func(tasks.Change) bool { return true })

	// run: the Resync of the first LISTEN tells every subscriber to re-read,
	// and marks the broker listening; changes go to the subscribers that
	// accept them, in order.
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan func(tasks.Change))
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.run(ctx, func(ctx context.Context, fn func(tasks.Change)) error {
			fn(tasks.Change{Resync: true})
			listening <- fn
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	fn := <-listening
	<-b.listening
	if changes, lost := general.take(); !lost || changes != nil {
		t.Errorf("after the first LISTEN: %v, lost %v; want lost", changes, lost)
	}
	all.take()
	fn(tasks.Change{ID: 1, Queue: "general"})
	fn(tasks.Change{ID: 2, Queue: "licences"})
	<-general.wake
	if changes, lost := general.take(); lost || len(changes) != 1 || changes[0].ID != 1 {
		t.Errorf("general got %v, lost %v", changes, lost)
	}
	if changes, _ := all.take(); len(changes) != 2 || changes[0].ID != 1 || changes[1].ID != 2 {
		t.Errorf("all got %v", changes)
	}
	cancel()
	<-done

	// A subscriber that falls behind is told to re-read instead: publish
	// never blocks.
	for i := range maxPending + 10 {
		b.publish(tasks.Change{ID: int64(i), Queue: "general"})
	}
	if changes, lost := general.take(); !lost || changes != nil {
		t.Errorf("after an overflow: %d changes, lost %v", len(changes), lost)
	}

	unsubscribe()
	if b.count() != 1 {
		t.Errorf("%d subscribers, want 1", b.count())
	}
	b.close()
	b.close()
	select {
	case <-all.done:
	default:
		t.Error("close did not end a subscription")
	}
	late, _ := b.subscribe(func(tasks.Change) bool { return true })
	select {
	case <-late.done:
	default:
		t.Error("a subscription after close is not ended")
	}
	b.publish(tasks.Change{ID: 9}) // no subscribers, no panic
}

func TestBrokerListenFails(t *testing.T) {
	b := newBroker(slog.New(slog.DiscardHandler))
	// Listen refuses (misconfiguration): run returns, and says so in the log.
	b.run(context.Background(), func(context.Context, func(tasks.Change)) error { return errors.New("no pool") })
	select {
	case <-b.listening:
		t.Error("listening after a failed Listen")
	default:
	}
}
