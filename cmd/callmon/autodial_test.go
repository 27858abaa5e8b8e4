package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/callback/tasks"
)

// TestAutoDialReachesTheCustomer: with auto_dial, a callback task whose
// window has started is dialled at the next tick — an agent rings, hears
// the announcement, the customer is dialled through the outbound endpoint
// and answers — and the task is done, the attempt recorded by the
// dispatcher.
func TestAutoDialReachesTheCustomer(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_autodial")
	s := newSite(t, dbURL)
	s.cfg.Queues[0].AutoDial = true
	s.cfg.ARI.OutboundEndpoint = "PJSIP/{number}@pstn"
	s.fake.AddEndpoint("PJSIP/+31612345678@pstn", "online", aritest.Behaviour{AnswerAfter: 3 * time.Second})
	s.start()
	s.eventually("the active process's dispatcher", func() bool { return s.d.dispatcher() != nil })
	ts := tasks.New(s.d.store.db.Pool())
	// The task's changes, to wait for it to be done.
	changes := make(chan tasks.Change, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ts.Listen(ctx, nil, func(c tasks.Change) { changes <- c })
	if c := <-changes; !c.Resync {
		t.Fatalf("first change %+v, want the resync", c)
	}
	// Due a second from now: not at the tick Start ran, but at the next.
	from := s.clk.Now().Add(time.Second)
	task, _, err := ts.Create(context.Background(), tasks.NewTask{Kind: tasks.KindQueueCallback, Queue: "general",
		Number: "+31612345678", WindowStart: from, WindowEnd: from.Add(15 * time.Minute), Actor: "caller"})
	if err != nil {
		t.Fatal(err)
	}
	s.clk.Advance(tasks.DefaultDispatchEvery) // a tick
	s.awaitPlay("sound:callmon/callback-task")
	s.clk.Advance(aritest.DefaultMediaDuration)
	s.await("customer ringing", func() bool {
		for _, c := range s.fake.Channels() {
			if c.Alive && c.Endpoint == "PJSIP/+31612345678@pstn" && c.State == "Ringing" {
				return true
			}
		}
		return false
	})
	s.clk.Advance(3 * time.Second)
	timeout := time.After(waitFor)
	for done := false; !done; {
		select {
		case c := <-changes:
			done = c.ID == task.ID && c.Status == tasks.Done
		case <-timeout:
			t.Fatalf("task not done\nchannels: %+v\nlog:\n%s", s.fake.Channels(), s.logs)
		}
	}
	got, err := ts.Get(context.Background(), task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 1 || got.Result != string(tasks.Reached) || !strings.Contains(got.Notes, "customer answered after 3.0 s") {
		t.Errorf("task = %+v", got)
	}
}
