package lookup

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"callmon/audit"
	"callmon/auth"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/ui"
)

var day = time.Date(2026, 11, 23, 0, 0, 0, 0, ui.Amsterdam)

func at(h, m, s int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
}

type env struct {
	t      *testing.T
	db     *store.DB
	srv    *httptest.Server
	tokens map[string]string
	logs   *bytes.Buffer
	key    []byte
}

// newEnv seeds a day of one caller, 06-12345678, written the ways Asterisk gives numbers,
// beside other callers, and serves the look-up.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, pgtest.URL(t, "lookup"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rec := func(id, number, kind, outcome string, entry time.Time, waitMS int64, agent string) store.CallRecord {
		r := store.CallRecord{ChannelID: id, Queue: "general", Kind: kind, CallerNumber: number, Entry: entry,
			Ended: entry.Add(time.Duration(waitMS)*time.Millisecond + time.Minute), WaitMS: waitMS, Outcome: outcome, ThresholdMS: 30000, Agent: agent}
		if outcome == store.OutcomeAnswered {
			r.Answered = entry.Add(time.Duration(waitMS) * time.Millisecond)
			r.WithinThreshold = waitMS <= 30000
		}
		if kind == store.KindDirect {
			r.Queue = "direct"
		}
		return r
	}
	recs := []store.CallRecord{
		rec("c1", "0612345678", store.KindQueue, store.OutcomeAnswered, at(9, 1, 5), 12_345, "=HYPERLINK(\"x\")"),
		rec("c2", "+31612345678", store.KindQueue, store.OutcomeCallback, at(10, 15, 0), 65_000, ""),
		rec("c3", "0031612345678", store.KindQueue, store.OutcomeAbandoned, at(11, 0, 0), 41_000, ""),
		rec("c4", "0612345678", store.KindDirect, store.OutcomeVoicemail, at(14, 30, 0), 20_000, ""),
		rec("o1", "0687654321", store.KindQueue, store.OutcomeAnswered, at(9, 5, 0), 3_000, "anna"),
		rec("late", "0612345678", store.KindQueue, store.OutcomeAnswered, day.AddDate(0, 0, 2).Add(9*time.Hour), 3_000, "anna"),
		rec("w1", "", store.KindQueue, store.OutcomeAnswered, at(12, 0, 0), 5_000, "anna"), // withheld or masked
	}
	if _, err := db.InsertCalls(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// c2's callback, done on time; c4's voicemail, heard.
	pool := db.Pool()
	if _, err := pool.Exec(ctx, `INSERT INTO tasks (kind, queue, number, window_start, window_end, status, completed_at, result, attempts, source_key)
		VALUES ('queue_callback', 'general', '+31612345678', $1, $2, 'done', $3, 'reached', 1, 'c2')`, at(13, 0, 0), at(13, 15, 0), at(13, 7, 0)); err != nil {
		t.Fatal(err)
	}
	var task int64
	if err := pool.QueryRow(ctx, `INSERT INTO tasks (kind, queue, number, window_start, window_end, assignee)
		VALUES ('voicemail', 'direct', '+31612345678', $1, $2, 'erik') RETURNING id`, at(14, 31, 0), day.AddDate(0, 0, 1).Add(17*time.Hour)).Scan(&task); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO voicemails (employee, caller_number, received_at, duration_ms, recording, channel_id, heard_at, task_id)
		VALUES ('erik', '0612345678', $1, 14000, 'vm-c4', 'c4', $2, $3)`, at(14, 30, 20), at(15, 2, 0), task); err != nil {
		t.Fatal(err)
	}

	e := &env{t: t, db: db, tokens: map[string]string{}, logs: &bytes.Buffer{}, key: []byte("0123456789abcdef0123456789abcdef")}
	var creds []auth.Credential
	for id, role := range map[string]auth.Role{"sam": auth.Supervisor, "anna": auth.Agent, "hal-1": auth.Wallboard} {
		e.tokens[id] = auth.NewToken(id)
		h, _ := auth.HashTokenCost(e.tokens[id], bcrypt.MinCost)
		creds = append(creds, auth.Credential{ID: id, Role: role, TokenHash: h})
	}
	ps, err := auth.NewPrincipals(creds)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	now := func() time.Time { return day.AddDate(0, 0, 3).Add(10 * time.Hour) }
	s := New(Config{Pool: pool, Auth: auth.New(auth.Options{Principals: ps}), Audit: audit.New(log, now), HashKey: e.key,
		Retention: 300 * 24 * time.Hour, Now: now, Log: log})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) get(path, who string) (int, string, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// The caller's day, whichever way Asterisk wrote the number: exactly their four calls in the
// period, in order, each with its wait, outcome, agent, callback and message.
func TestFindsExactlyTheCallersCalls(t *testing.T) {
	e := newEnv(t)
	code, body, _ := e.get("/api/lookup?number=06-12345678&from=2026-11-23&to=2026-11-24", "sam")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var res Result
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Calls {
		ids = append(ids, c.Channel)
	}
	if strings.Join(ids, " ") != "c1 c2 c3 c4" || res.Number != "0612345678" {
		t.Fatalf("calls %v of %s, want c1 c2 c3 c4", ids, res.Number)
	}
	c1, c2, c4 := res.Calls[0], res.Calls[1], res.Calls[3]
	if c1.WaitMS != 12345 || c1.Outcome != "answered" || c1.Answered == nil || !c1.Entry.Equal(at(9, 1, 5)) {
		t.Errorf("c1: %+v", c1)
	}
	if c2.Callback == nil || c2.Callback.Kept != "on_time" || c2.Callback.Status != "done" || !c2.Callback.WindowStart.Equal(at(13, 0, 0)) {
		t.Errorf("c2's callback: %+v", c2.Callback)
	}
	if c4.Voicemail == nil || c4.Voicemail.Employee != "erik" || c4.Voicemail.HeardAt == nil || !c4.Voicemail.HeardAt.Equal(at(15, 2, 0)) {
		t.Errorf("c4's voicemail: %+v", c4.Voicemail)
	}
	// The audit line: who and when, and the number only as its keyed hash.
	log := e.logs.String()
	if !strings.Contains(log, "who=sam") || !strings.Contains(log, "number-hmac:"+NumberHash(e.key, "0612345678")) ||
		strings.Contains(log, "12345678") {
		t.Errorf("audit:\n%s", log)
	}
	if res.MaskedBefore != nil {
		t.Errorf("masked before %v in a period after the cut-off", res.MaskedBefore)
	}
}

// CSV cannot smuggle a formula into a spreadsheet.
func TestCSVIsSafeForSpreadsheets(t *testing.T) {
	e := newEnv(t)
	code, body, h := e.get("/api/lookup?number=0612345678&from=2026-11-23&to=2026-11-23&format=csv", "sam")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("%d %s", code, h.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[1][8] != `'=HYPERLINK("x")` || rows[1][6] != "12.345" || rows[2][12] != "on_time" {
		t.Errorf("CSV:\n%s", body)
	}
	for _, r := range rows {
		for _, c := range r {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("a cell starts with a formula character: %q", c)
			}
		}
	}
}

func TestLookupRefusesWhatItShould(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		path, who string
		code      int
		says      string
	}{
		{"/api/lookup?number=0612345678", "", 401, "sign in"},
		{"/api/lookup?number=0612345678", "anna", 403, "supervisors"},
		{"/api/lookup?number=0612345678", "hal-1", 403, "supervisors"},
		{"/api/lookup?number=12345", "sam", 400, "not a Dutch phone number"},
		{"/api/lookup?number=0612345678&from=23-11-2026", "sam", 400, "yyyy-mm-dd"},
		{"/api/lookup?number=0612345678&from=2026-11-24&to=2026-11-01", "sam", 400, "at most a year"},
		{"/api/lookup", "sam", 400, "give the caller's number"},
		{"/lookup?number=12345", "sam", 400, "Dit is geen Nederlands telefoonnummer"},
		{"/lookup", "", 401, "U bent niet aangemeld."},
	} {
		code, body, _ := e.get(c.path, c.who)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s as %q: %d %s, want %d %q", c.path, c.who, code, body, c.code, c.says)
		}
	}
	if strings.Contains(e.logs.String(), "12345") {
		t.Errorf("a number in the log:\n%s", e.logs)
	}
}

// A period reaching back past retention's cut-off says so: those calls cannot be found by
// number, they are not "not there".
func TestMaskedPeriodIsSaid(t *testing.T) {
	e := newEnv(t)
	code, body, _ := e.get("/lookup?number=0612345678&from=2025-12-01&to=2026-11-23&lang=en", "sam")
	if code != 200 || !strings.Contains(body, "Numbers of calls that ended before Fri 30 Jan 2026 10:00 have been removed") ||
		!strings.Contains(body, "4 calls from 0612345678") {
		t.Errorf("%d\n%s", code, body)
	}
	code, body, _ = e.get("/lookup?number=0612345678&from=2026-11-23&to=2026-11-23", "sam")
	for _, want := range []string{"4 gesprekken van 0612345678", "ma 23 nov 2026 09:01:05", "12.3 s", "op tijd teruggebeld", "ingesproken voor erik", "beluisterd ma 23 nov 2026 15:02"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Dutch page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Numbers of") || strings.Contains(body, "verwijderd") {
		t.Errorf("a masked note for a period after the cut-off")
	}
}

// With the database gone the look-up says it cannot read the records now (503), in the
// page's language on the page, and the audit line says the look-up failed.
func TestLookupWithoutTheDatabase(t *testing.T) {
	e := newEnv(t)
	e.db.Close()
	if code, body, _ := e.get("/api/lookup?number=0612345678&from=2026-11-23&to=2026-11-23", "sam"); code != 503 || !strings.Contains(body, "cannot be read now") {
		t.Errorf("API: %d %s", code, body)
	}
	if code, body, _ := e.get("/lookup?number=0612345678&from=2026-11-23&to=2026-11-23", "sam"); code != 503 || !strings.Contains(body, "Geen verbinding met de database") {
		t.Errorf("page: %d %s", code, body)
	}
	if !strings.Contains(e.logs.String(), "outcome=failed") {
		t.Errorf("audit:\n%s", e.logs)
	}
}
