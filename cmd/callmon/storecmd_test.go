package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"callmon/callback/store/pgtest"
)

func TestMigrateAndReportCommands(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.URL(t, "cmd_cli"))
	code, out, errOut := runMain(t, "migrate", "status")
	if code != 0 || !strings.Contains(out, "schema version 0 of ") || !strings.Contains(out, "pending") {
		t.Fatalf("migrate status on an empty database: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "migrate")
	if code != 0 || !strings.Contains(out, "applied") || strings.Contains(out, "pending") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	code, out2, _ := runMain(t, "migrate", "up")
	if code != 0 || out2 != out {
		t.Fatalf("migrate is not idempotent: exit %d\n%s\nvs\n%s", code, out2, out)
	}
	code, out, errOut = runMain(t, "report", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "day,queue,offered,answered,within_threshold") {
		t.Fatalf("report csv: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"report", "--from", "2026-11-31", "--to", "2026-11-30"},
		{"report", "--from", "2026-11-10", "--to", "2026-11-01"},
		{"report", "--from", "2026-11-01"},
		{"report", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "xml"},
		{"migrate", "sideways"},
	} {
		if code, _, errOut := runMain(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d (want 2) stderr %q", args, code, errOut)
		}
	}
}

func TestMigrateWithoutDatabaseURL(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	code, _, errOut := runMain(t, "migrate")
	if code != 1 || !strings.Contains(errOut, "DATABASE_URL is not set") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestReportAPI(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Amsterdam")
	// Without a database the API says so.
	rec := httptest.NewRecorder()
	reportHandler(nil, loc).ServeHTTP(rec, httptest.NewRequest("GET", "/api/report?from=2026-11-01&to=2026-11-30", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("no database: status %d, want 503", rec.Code)
	}
	rec = httptest.NewRecorder()
	reportHandler(nil, loc).ServeHTTP(rec, httptest.NewRequest("GET", "/api/report?from=yesterday&to=2026-11-30", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "from") {
		t.Errorf("bad date: status %d body %s, want 400 naming the parameter", rec.Code, rec.Body)
	}

	s := newSite(t, pgtest.URL(t, "cmd_api"))
	s.start()
	s.play(before)
	s.eventually("records written", func() bool { return s.value("callmon_spool_records") == 0 })
	day := s.clk.Now().Format("2006-01-02")
	req, err := http.NewRequest("GET", "http://"+s.d.APIAddr.String()+"/api/report?from="+day+"&to="+day+"&queue=general", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []reportJSON
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
	}
	if len(rows) == 0 || rows[0].Day != day || rows[0].Offered != int64(len(before)) || rows[0].ServiceLevel == nil {
		t.Fatalf("rows = %+v", rows)
	}
	// before: within 3 s and 10 s; short abandon 2 s → 2 / (5 - 1).
	if *rows[0].ServiceLevel != 0.5 {
		t.Errorf("service level = %v, want 0.5", *rows[0].ServiceLevel)
	}
}
