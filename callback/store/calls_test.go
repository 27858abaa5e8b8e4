package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"callmon/callback/store"
)

func TestInsertCallsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	recs := records("idem", 3)

	n, err := db.InsertCalls(ctx, recs[:1])
	if err != nil || n != 1 {
		t.Fatalf("first insert: %d, %v", n, err)
	}
	n, err = db.InsertCalls(ctx, recs[:1])
	if err != nil || n != 0 {
		t.Fatalf("same channel id again: %d, %v; want 0 inserted", n, err)
	}
	// A batch with an old record and a duplicate inside the batch.
	n, err = db.InsertCalls(ctx, []store.CallRecord{recs[0], recs[1], recs[2], recs[1]})
	if err != nil || n != 2 {
		t.Fatalf("mixed batch: %d, %v; want 2 inserted", n, err)
	}
	if c := count(t, db, "SELECT count(*) FROM call_records"); c != 3 {
		t.Errorf("%d rows, want 3", c)
	}
	if n, err := db.InsertCalls(ctx, nil); n != 0 || err != nil {
		t.Errorf("empty batch: %d, %v", n, err)
	}
}

func TestInsertCallsStoresFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	entry := time.Date(2026, 3, 29, 1, 59, 59, 999_600_000, time.UTC) // sub-millisecond: truncated, not rounded
	ans := answered("fields-1", entry, 12_345)
	predicted := int64(9_876)
	ans.PredictedWaitMS = &predicted
	abandoned := store.CallRecord{ChannelID: "fields-2", Queue: "direct", Kind: store.KindDirect,
		Entry: entry, Ended: entry.Add(7 * time.Second), WaitMS: 7000, Outcome: store.OutcomeAbandoned, ThresholdMS: 30000}
	if _, err := db.InsertCalls(ctx, []store.CallRecord{ans, abandoned}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Queue, Kind, Outcome string
		Caller, Agent        *string
		Entry, Ended         time.Time
		Answered             *time.Time
		Wait                 int64
		Within               bool
		Threshold            int32
		Predicted            *int32
	}
	get := func(id string) row {
		var r row
		err := db.Pool().QueryRow(ctx, `SELECT queue, kind, outcome, caller_number, agent, entry_at, ended_at,
			answered_at, wait_ms, within_threshold, threshold_ms, predicted_wait_ms FROM call_records WHERE channel_id = $1`, id).
			Scan(&r.Queue, &r.Kind, &r.Outcome, &r.Caller, &r.Agent, &r.Entry, &r.Ended, &r.Answered, &r.Wait, &r.Within, &r.Threshold, &r.Predicted)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := get("fields-1")
	ms := entry.Truncate(time.Millisecond)
	if a.Queue != "general" || a.Kind != "queue" || a.Outcome != "answered" || a.Caller == nil || *a.Caller != "0612345678" ||
		a.Agent == nil || *a.Agent != "agent1" || !a.Entry.Equal(ms) || a.Answered == nil ||
		!a.Answered.Equal(ms.Add(12345*time.Millisecond)) || a.Wait != 12345 || !a.Within || a.Threshold != 30000 ||
		a.Predicted == nil || *a.Predicted != 9876 {
		t.Errorf("answered call stored as %+v", a)
	}
	b := get("fields-2")
	if b.Caller != nil || b.Agent != nil || b.Answered != nil || b.Kind != "direct" || b.Within || b.Predicted != nil {
		t.Errorf("abandoned direct call stored as %+v (want NULL caller, agent, answer, prediction)", b)
	}
}

func TestInsertCallsValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	good := records("valid", 1)[0]
	for _, tc := range []struct {
		name   string
		change func(*store.CallRecord)
		want   string
	}{
		{"empty id", func(r *store.CallRecord) { r.ChannelID = "" }, "channel id is empty"},
		{"bad kind", func(r *store.CallRecord) { r.Kind = "pstn" }, `kind "pstn" is not one of queue, direct`},
		{"bad outcome", func(r *store.CallRecord) { r.Outcome = "lost" }, `outcome "lost" is not one of answered, abandoned`},
		{"no queue", func(r *store.CallRecord) { r.Queue = "" }, "queue is empty"},
		{"no entry", func(r *store.CallRecord) { r.Entry = time.Time{} }, "entry time is missing"},
		{"negative wait", func(r *store.CallRecord) { r.WaitMS = -1 }, "wait -1 ms is negative"},
		{"answered without time", func(r *store.CallRecord) { r.Answered = time.Time{} }, "outcome answered without an answer time"},
		{"negative prediction", func(r *store.CallRecord) { p := int64(-5); r.PredictedWaitMS = &p }, "predicted wait -5 ms is out of range"},
	} {
		bad := good
		bad.ChannelID = "bad-" + tc.name
		tc.change(&bad)
		_, err := db.InsertCalls(ctx, []store.CallRecord{good, bad})
		if !errors.Is(err, store.ErrInvalidRecord) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "call record 1") {
			t.Errorf("%s: %v, want ErrInvalidRecord %q about record 1", tc.name, err, tc.want)
		}
	}
	if c := count(t, db, "SELECT count(*) FROM call_records"); c != 0 {
		t.Errorf("%d rows written from batches with an invalid record", c)
	}
}
