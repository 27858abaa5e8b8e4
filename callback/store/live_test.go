package store_test

import (
	"context"
	"testing"
	"time"

	"callmon/callback/store"
)

func TestJournalOfCallsInProgress(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	entered := store.CallRecord{ChannelID: "c1", Queue: "general", Kind: store.KindQueue, CallerNumber: "0612345678",
		Entry: t0, ThresholdMS: 30000, Stage: store.StageEntered}
	answered := entered
	answered.Stage, answered.Answered, answered.Agent = store.StageAnswered, t0.Add(12*time.Second), "a1"
	other := store.CallRecord{ChannelID: "c2", Queue: "general", Kind: store.KindQueue, Entry: t0.Add(time.Second),
		ThresholdMS: 30000, Stage: store.StageEntered, EntryEstimated: true}

	if _, err := db.InsertCalls(ctx, []store.CallRecord{entered, other}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertCalls(ctx, []store.CallRecord{answered, entered}); err != nil { // a replayed entry changes nothing
		t.Fatal(err)
	}
	live, err := db.LiveCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || live[0].ChannelID != "c1" || live[0].Stage != store.StageAnswered || !live[0].Answered.Equal(answered.Answered) ||
		live[0].Agent != "a1" || live[0].ThresholdMS != 30000 || live[1].ChannelID != "c2" || !live[1].EntryEstimated || live[1].Stage != store.StageEntered {
		t.Fatalf("live calls = %+v", live)
	}

	done := store.CallRecord{ChannelID: "c1", Queue: "general", Kind: store.KindQueue, Entry: t0, Answered: answered.Answered,
		Ended: t0.Add(time.Minute), WaitMS: 12000, Outcome: store.OutcomeAnswered, WithinThreshold: true, ThresholdMS: 30000, Agent: "a1"}
	// The record and a late replay of the journal in one batch and after.
	if n, err := db.InsertCalls(ctx, []store.CallRecord{done}); err != nil || n != 1 {
		t.Fatalf("insert record: %d, %v", n, err)
	}
	if _, err := db.InsertCalls(ctx, []store.CallRecord{entered, answered}); err != nil {
		t.Fatal(err)
	}
	live, err = db.LiveCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].ChannelID != "c2" {
		t.Fatalf("after c1's record the journal holds %+v, want c2 only", live)
	}

	// Entry and record in one batch leave no journal row.
	e3 := entered
	e3.ChannelID = "c3"
	d3 := done
	d3.ChannelID = "c3"
	if _, err := db.InsertCalls(ctx, []store.CallRecord{e3, d3}); err != nil {
		t.Fatal(err)
	}
	if live, _ = db.LiveCalls(ctx); len(live) != 1 {
		t.Fatalf("journal = %+v, want c2 only", live)
	}
}

func TestObservedRecordReplacesUnobserved(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	unobserved := store.CallRecord{ChannelID: "c1", Queue: "general", Kind: store.KindQueue, Entry: t0, Ended: t0.Add(90 * time.Second),
		WaitMS: 90000, Outcome: store.OutcomeAbandoned, ThresholdMS: 30000, Adopted: true, EndUnobserved: true}
	observed := unobserved
	observed.Ended, observed.WaitMS, observed.EndUnobserved, observed.Adopted = t0.Add(20*time.Second), 20000, false, false

	if _, err := db.InsertCalls(ctx, []store.CallRecord{unobserved}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertCalls(ctx, []store.CallRecord{observed}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertCalls(ctx, []store.CallRecord{unobserved}); err != nil { // never the other way round
		t.Fatal(err)
	}
	var n int
	var wait int64
	var flag bool
	if err := db.Pool().QueryRow(ctx, `SELECT count(*), max(wait_ms), bool_or(ended_unobserved) FROM call_records`).Scan(&n, &wait, &flag); err != nil {
		t.Fatal(err)
	}
	if n != 1 || wait != 20000 || flag {
		t.Errorf("records = %d, wait %d ms, unobserved %v; want the one observed record (20000 ms)", n, wait, flag)
	}

	// A direct call moved to the queue is two visits of one channel.
	direct := observed
	direct.Queue, direct.Kind, direct.Outcome = "direct", store.KindDirect, store.OutcomeTransferred
	if inserted, err := db.InsertCalls(ctx, []store.CallRecord{direct}); err != nil || inserted != 1 {
		t.Fatalf("second visit: inserted %d, %v", inserted, err)
	}
}

// An adopting process journals an unjournaled caller with an estimated entry at once; the exact
// entry of its StasisStart, coming after, replaces it — never the reverse.
func TestJournalExactEntryReplacesEstimated(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	est := store.CallRecord{ChannelID: "c1", Queue: "general", Kind: store.KindQueue, Entry: t0,
		ThresholdMS: 30000, Stage: store.StageEntered, EntryEstimated: true}
	exact := est
	exact.Entry, exact.EntryEstimated = t0.Add(40*time.Millisecond), false
	for _, batch := range [][]store.CallRecord{{est}, {exact}, {est}} {
		if _, err := db.InsertCalls(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	live, err := db.LiveCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || !live[0].Entry.Equal(exact.Entry) || live[0].EntryEstimated {
		t.Fatalf("live = %+v, want the exact entry %v, not estimated", live, exact.Entry)
	}
}
