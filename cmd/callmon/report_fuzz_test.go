package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

// FuzzReportQuery sends any from, to and queue to GET /api/report on a real
// database: the answer is a report (200) or a 400 with a message, never a
// 5xx, whatever a client puts in the query string.
func FuzzReportQuery(f *testing.F) {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, pgtest.URL(f, "cmd_fuzz_report"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	h := reportHandler(db, loc)
	for _, s := range [][3]string{
		{"2026-11-01", "2026-11-30", ""}, {"2026-11-01", "2026-11-30", "general"}, {"yesterday", "2026-11-30", ""},
		{"2026-11-30", "2026-11-01", ""}, {"2026-02-30", "2026-03-01", ""}, {"0001-01-01", "9999-12-31", "x"},
		{"2026-11-01", "2026-11-01", "'; DROP TABLE call_records; --"}, {"2026-11-01", "2026-11-02", "\xff"}, {"0000-01-01", "0000-01-02", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, from, to, queue string) {
		q := url.Values{"from": {from}, "to": {to}, "queue": {queue}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/report?"+q.Encode(), nil))
		switch rec.Code {
		case http.StatusOK:
			var rows []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &rows); err != nil {
				t.Fatalf("200 with a body that is not a JSON list: %v: %s", err, rec.Body)
			}
		case http.StatusBadRequest:
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("400 without a message: %s", rec.Body)
			}
		default:
			t.Fatalf("from=%q to=%q queue=%q: status %d: %s", from, to, queue, rec.Code, rec.Body)
		}
	})
}

// Found by FuzzReportQuery: a queue that is not UTF-8 and the year 0 went
// to PostgreSQL, which refused them, and the client got a 500.
func TestReportQueryRefusesWhatPostgreSQLCannotTake(t *testing.T) {
	for _, c := range [][3]string{
		{"2026-11-01", "2026-11-02", "\xff"},
		{"2026-11-01", "2026-11-02", "gen\x00eral"},
		{"0000-01-01", "0000-01-02", ""},
		{"0000-12-31", "2026-01-02", ""},
	} {
		if _, err := parseReportQuery(c[0], c[1], c[2], "Europe/Amsterdam"); err == nil {
			t.Errorf("from=%q to=%q queue=%q: accepted", c[0], c[1], c[2])
		}
	}
	if _, err := parseReportQuery("0001-01-01", "9999-12-31", "algemeen ünicode", "Europe/Amsterdam"); err != nil {
		t.Errorf("the widest valid query: %v", err)
	}
}
