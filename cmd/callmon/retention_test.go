package main

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"callmon/callback/retention"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/callback/voicemails"
)

// The active callmon removes the numbers of call records past the period
// when it takes the lease, and counts it; the standby does nothing.
func TestRetentionRunsOnActiveOnly(t *testing.T) {
	u := pgtest.URL(t, "cmd_retention")
	ctx := context.Background()
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, u)
	s.lease = fastLease
	rec := func(id string, entry time.Time) store.CallRecord {
		return store.CallRecord{ChannelID: id, Queue: "general", Kind: store.KindQueue, CallerNumber: "0612345678",
			Entry: entry, Ended: entry.Add(time.Minute), WaitMS: 5000, Outcome: store.OutcomeAbandoned, ThresholdMS: 30000}
	}
	now := s.clk.Now()
	if _, err := db.InsertCalls(ctx, []store.CallRecord{rec("old", now.AddDate(-1, 0, -2)), rec("recent", now.AddDate(0, -11, 0))}); err != nil {
		t.Fatal(err)
	}
	vs := voicemails.New(db.Pool())
	for _, v := range []struct {
		ch, recording string
		age           time.Duration
		inAsterisk    bool
	}{
		{"vm-old", "callmon-vm-old", 31 * 24 * time.Hour, true},
		{"vm-gone", "callmon-vm-gone", 40 * 24 * time.Hour, false}, // deleted by hand: 404
		{"vm-new", "callmon-vm-new", time.Hour, true},
	} {
		if v.inAsterisk {
			s.fake.AddStoredRecording(v.recording, "wav", 10*time.Second)
		}
		if _, _, err := vs.Save(ctx, voicemails.NewVoicemail{Employee: "e1", CallerNumber: "0612345678",
			ReceivedAt: now.Add(-v.age), Duration: 10 * time.Second, Recording: v.recording, ChannelID: v.ch}); err != nil {
			t.Fatal(err)
		}
	}
	s.start()
	b := s.second("b")
	if v := s.value("callmon_retention_runs_total"); v != 0 {
		t.Errorf("retention ran %v times before its first minute", v)
	}
	reportPath := "/api/report?from=" + now.AddDate(-2, 0, 0).Format("2006-01-02") + "&to=" + now.Format("2006-01-02")
	before := apiGet(t, s.d, reportPath)
	if !strings.Contains(before, `"offered": 2,`) {
		t.Fatalf("report before retention lacks the two calls: %s", before)
	}
	s.clk.Advance(retention.DefaultDelay)
	s.eventually("a retention run", func() bool { return s.value("callmon_retention_runs_total", "result", "ok") >= 1 })
	if v := s.value("callmon_retention_masked_total", "table", "call_records"); v != 1 {
		t.Errorf("callmon_retention_masked_total{table=call_records} = %v, want 1", v)
	}
	var old, recent *string
	if err := s.row(`SELECT (SELECT caller_number FROM call_records WHERE channel_id = 'old'),
		(SELECT caller_number FROM call_records WHERE channel_id = 'recent')`).Scan(&old, &recent); err != nil {
		t.Fatal(err)
	}
	if old != nil || recent == nil {
		t.Errorf("after retention: old record's number %v (want removed), recent %v (want kept)", old, recent)
	}
	if after := apiGet(t, s.d, reportPath); after != before {
		t.Errorf("/api/report changed by retention:\nbefore %s\nafter  %s", before, after)
	}
	var left []string
	for _, r := range s.fake.StoredRecordings() {
		left = append(left, r.Name)
	}
	if !slices.Equal(left, []string{"callmon-vm-new"}) {
		t.Errorf("Asterisk's stored recordings after retention: %v, want only callmon-vm-new", left)
	}
	if v := s.value("callmon_retention_masked_total", "table", "voicemails"); v != 2 {
		t.Errorf("callmon_retention_masked_total{table=voicemails} = %v, want 2 (one already gone from Asterisk)", v)
	}
	mfs, err := b.Reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if v := metricValue(mfs, "callmon_retention_runs_total"); v != 0 {
		t.Errorf("the standby ran the retention job %v times", v)
	}
}

// apiGet GETs path from d's HTTP API and returns the body of a 200. The one
// place requests are authorised, for when the API needs credentials.
func apiGet(t *testing.T, d *daemon, path string) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+d.APIAddr.String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	return string(b)
}
