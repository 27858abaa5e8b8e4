package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"callmon/audit"
)

func TestRecordIsOneLineWithWhoWhatWhen(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	l := audit.New(slog.New(slog.NewJSONHandler(&buf, nil)), func() time.Time { return at })
	n := &audit.Note{Action: "task"}
	ctx := audit.WithNote(context.Background(), n)
	audit.Annotate(ctx, "task claim", "42")
	l.Record(ctx, audit.Entry{Who: "anna", Role: "agent", Action: n.Action, Target: n.Target, Outcome: audit.Outcome(200), Status: 200})
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Fatalf("%d lines, want 1: %s", n, buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "audit", "who": "anna", "role": "agent", "action": "task claim", "target": "42",
		"outcome": "ok", "at": "2026-12-05T10:00:00Z", "status": 200.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, got[k], v, buf.String())
		}
	}
	var nilLogger *audit.Logger
	nilLogger.Record(ctx, audit.Entry{}) // must not panic
}

func TestOutcome(t *testing.T) {
	for status, want := range map[int]string{200: "ok", 303: "ok", 400: "refused", 403: "forbidden", 409: "refused", 429: "refused", 500: "failed"} {
		if got := audit.Outcome(status); got != want {
			t.Errorf("Outcome(%d) = %s, want %s", status, got, want)
		}
	}
}
