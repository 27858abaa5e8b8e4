package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari/aritest"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// asteriskLayout is the layout of Asterisk's event timestamps.
const asteriskLayout = "2006-01-02T15:04:05.000-0700"

// truthProblem is one disagreement between the truth and the call records.
type truthProblem struct {
	Channel string
	What    string // "missing", "duplicate", "unknown", or the column that differs
	Want    string
	Got     string
}

func (p truthProblem) String() string {
	return fmt.Sprintf("%s: %s: want %s, got %s", p.Channel, p.What, p.Want, p.Got)
}

// truthReport is what compareWithTruth found: what the truth says happened, and where the call
// records disagree. Counts of outcomes are the truth's, with callmon's definitions applied.
type truthReport struct {
	Callers  int // entered Stasis (queue and direct)
	Queue    int // of which queue callers
	Direct   int // of which direct-dial callers (not compared yet)
	Records  int // call records of queue calls
	Outcomes map[string]int
	// Refused are the calls Stasis() refused because no callmon served the app; they must not
	// have a call record (callmon never heard of them).
	Refused []aritest.TruthRecord
	// Open are queue callers still up when the truth ended: no record expected yet.
	Open      []string
	Continued []string // queue callers callmon handed to the dialplan: one record, outcome not checked
	// Stranded are callers who sat alone in a bridge for aritest.StrandedAfter or longer.
	Stranded []string
	// DialledTwice are outbound numbers originated more than once.
	DialledTwice []string
	// Flagged counts the queue records by what they say they could not observe (adopted,
	// entry_estimated, answer_estimated, ended_unobserved); such a record is compared with
	// the truth only in what it did observe.
	Flagged map[string]int
	// Unseen are queue callers who hung up while no callmon was connected (the truth's
	// hangup_unseen, by the caller); UnseenUnflagged those whose record still claims to have
	// seen the end.
	Unseen          int
	UnseenUnflagged []string
	Problems        []truthProblem
}

func (r truthReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "callers=%d queue=%d direct=%d records=%d refused=%d open=%d continued=%d stranded=%d dialled_twice=%d outcomes=%v flagged=%v unseen_hangups=%d problems=%d",
		r.Callers, r.Queue, r.Direct, r.Records, len(r.Refused), len(r.Open), len(r.Continued), len(r.Stranded), len(r.DialledTwice), r.Outcomes,
		r.Flagged, r.Unseen, len(r.Problems))
	for i, p := range r.Problems {
		if i == 20 {
			fmt.Fprintf(&b, "\n  ... %d more", len(r.Problems)-i)
			break
		}
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// recordRow is a call_records row as compareWithTruth reads it.
type recordRow struct {
	ChannelID       string     `db:"channel_id"`
	Queue           string     `db:"queue"`
	Kind            string     `db:"kind"`
	CallerNumber    *string    `db:"caller_number"`
	EntryAt         time.Time  `db:"entry_at"`
	AnsweredAt      *time.Time `db:"answered_at"`
	EndedAt         time.Time  `db:"ended_at"`
	WaitMS          int64      `db:"wait_ms"`
	Outcome         string     `db:"outcome"`
	WithinThreshold bool       `db:"within_threshold"`
	Agent           *string    `db:"agent"`
	Adopted         bool       `db:"adopted"`
	EntryEstimated  bool       `db:"entry_estimated"`
	AnswerEstimated bool       `db:"answer_estimated"`
	EndedUnobserved bool       `db:"ended_unobserved"`
}

// readTruthFile decodes a truth written by callmon simulate (aritest.RecordTruth).
func readTruthFile(t testing.TB, file string) []aritest.TruthRecord {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []aritest.TruthRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r aritest.TruthRecord
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s:%d: %v", file, n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return out
}

// compareWithTruth checks the call records in the database at dbURL against the truth in
// truthFile, with the definitions of DESIGN §3 and the queues of cfg: every queue caller that
// entered Stasis and ended has exactly one record, with its entry, answer (the agent's Up),
// end, wait to the millisecond, outcome, threshold verdict, agent and caller number. Direct-dial
// callers are counted but not compared yet. It fails the test only when it cannot read either
// side; disagreements are returned in the report for the caller to judge.
func compareWithTruth(t testing.TB, truthFile, dbURL string, cfg *config.Config) truthReport {
	t.Helper()
	truth := readTruthFile(t, truthFile)
	cal, err := cfg.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]config.Queue{}
	for _, q := range cfg.Queues {
		queues[q.Name] = q
	}
	agentOf := map[string]string{}
	for _, a := range cfg.Agents {
		agentOf[a.Endpoint] = a.ID
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT channel_id, queue, kind, caller_number, entry_at, answered_at, ended_at,
		wait_ms, outcome, within_threshold, agent, adopted, entry_estimated, answer_estimated, ended_unobserved
		FROM call_records WHERE kind = 'queue' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := pgx.CollectRows(rows, pgx.RowToStructByName[recordRow])
	if err != nil {
		t.Fatal(err)
	}

	rep := truthReport{Outcomes: map[string]int{}, Flagged: map[string]int{}, Records: len(recs)}
	byChannel := map[string][]recordRow{}
	for _, r := range recs {
		byChannel[r.ChannelID] = append(byChannel[r.ChannelID], r)
	}
	problem := func(ch, what string, want, got any) {
		rep.Problems = append(rep.Problems, truthProblem{Channel: ch, What: what, Want: fmt.Sprint(want), Got: fmt.Sprint(got)})
	}
	at := func(ch, field, s string) time.Time {
		ts, err := time.Parse(asteriskLayout, s)
		if err != nil {
			problem(ch, "truth "+field, "an Asterisk timestamp", s)
		}
		return ts
	}
	known := map[string]bool{}
	refusedNumbers := map[string]bool{}
	for _, tr := range truth {
		switch tr.Kind {
		case aritest.TruthRefused:
			rep.Refused = append(rep.Refused, tr)
			refusedNumbers[tr.CallerNumber] = true
			continue
		case aritest.TruthOriginated:
			if tr.Outbound && tr.Count > 1 {
				rep.DialledTwice = append(rep.DialledTwice, fmt.Sprintf("%s ×%d", tr.Endpoint, tr.Count))
			}
			continue
		case aritest.TruthCaller:
		default:
			problem(tr.Channel, "truth kind", "caller, refused or originated", tr.Kind)
			continue
		}
		rep.Callers++
		known[tr.Channel] = true
		if tr.AloneMaxMS >= aritest.StrandedAfter.Milliseconds() {
			rep.Stranded = append(rep.Stranded, fmt.Sprintf("%s alone %d ms", tr.Channel, tr.AloneMaxMS))
		}
		if len(tr.Args) < 2 || tr.Args[0] != "queue" {
			rep.Direct++
			continue
		}
		rep.Queue++
		got := byChannel[tr.Channel]
		switch {
		case tr.Open:
			rep.Open = append(rep.Open, tr.Channel)
			continue
		case len(got) == 0:
			problem(tr.Channel, "missing", "a call record", "none")
			continue
		case len(got) > 1:
			problem(tr.Channel, "duplicate", "one call record", len(got))
		}
		if tr.Continued != nil {
			rep.Continued = append(rep.Continued, tr.Channel)
			continue
		}
		r := got[0]
		for flag, on := range map[string]bool{"adopted": r.Adopted, "entry_estimated": r.EntryEstimated,
			"answer_estimated": r.AnswerEstimated, "ended_unobserved": r.EndedUnobserved} {
			if on {
				rep.Flagged[flag]++
			}
		}
		// An app's own DELETE while its socket was down is seen by the app that sent it; a
		// caller hanging up after their agent left ends nothing (the call ended when the
		// agent left, which the record may well have seen).
		if tr.HangupUnseen && tr.HangupBy == "caller" && tr.EndedBy == "caller" {
			rep.Unseen++
			if !r.EndedUnobserved {
				rep.UnseenUnflagged = append(rep.UnseenUnflagged, tr.Channel)
			}
		}
		q, ok := queues[tr.Args[1]]
		if !ok {
			problem(tr.Channel, "queue", "a configured queue", tr.Args[1])
			continue
		}
		entry := at(tr.Channel, "at", tr.At)
		var want recordRow
		want.Queue, want.EntryAt = q.Name, entry
		switch {
		case !cal.IsOpen(entry):
			want.Outcome = "closed"
		case tr.Answered != "":
			answered := at(tr.Channel, "answered", tr.Answered)
			agent := agentOf[tr.Agent]
			want.Outcome, want.AnsweredAt, want.Agent = "answered", &answered, &agent
			want.WaitMS = answered.Sub(entry).Milliseconds()
			want.WithinThreshold = want.WaitMS <= q.Threshold.Milliseconds()
		case tr.HangupBy == "caller":
			ended := at(tr.Channel, "hangup", tr.Hangup)
			want.EndedAt = ended
			want.WaitMS = ended.Sub(entry).Milliseconds()
			want.Outcome = "abandoned"
			// In the file, short_abandon 0s counts every abandon (see startDaemon).
			if q.ShortAbandon > 0 && want.WaitMS <= q.ShortAbandon.Milliseconds() {
				want.Outcome = "short_abandoned"
			}
		default:
			// callmon hung up a caller nobody answered: a callback or a transfer, which the
			// simulated callers never ask for.
			problem(tr.Channel, "outcome", "a caller who hangs up or is answered", "hung up unanswered by "+tr.HangupBy+", recorded "+r.Outcome)
			continue
		}
		rep.Outcomes[want.Outcome]++
		same := func(col string, w, g any) {
			if fmt.Sprint(w) != fmt.Sprint(g) {
				problem(tr.Channel, col, w, g)
			}
		}
		same("queue", want.Queue, r.Queue)
		same("caller_number", tr.CallerNumber, deref(r.CallerNumber))
		if r.EntryEstimated || r.AnswerEstimated || r.EndedUnobserved {
			// What the record observed must still be right: whether and by whom the caller
			// was answered (callmon bridges, so it saw that), and every time not estimated.
			same("answered (flagged record)", want.Outcome == "answered", r.Outcome == "answered")
			same("agent (flagged record)", deref(want.Agent), deref(r.Agent))
			if !r.EntryEstimated {
				same("entry_at (flagged record)", stampMS(want.EntryAt), stampMS(r.EntryAt))
			}
			if !r.AnswerEstimated {
				same("answered_at (flagged record)", stampPtr(want.AnsweredAt), stampPtr(r.AnsweredAt))
			}
			continue
		}
		same("outcome", want.Outcome, r.Outcome)
		same("entry_at", stampMS(want.EntryAt), stampMS(r.EntryAt))
		same("answered_at", stampPtr(want.AnsweredAt), stampPtr(r.AnsweredAt))
		if !want.EndedAt.IsZero() {
			same("ended_at", stampMS(want.EndedAt), stampMS(r.EndedAt))
		}
		if want.Outcome != "closed" {
			same("wait_ms", want.WaitMS, r.WaitMS)
		}
		same("within_threshold", want.WithinThreshold, r.WithinThreshold)
		same("agent", deref(want.Agent), deref(r.Agent))
	}
	for _, r := range recs {
		if !known[r.ChannelID] {
			problem(r.ChannelID, "unknown", "no record for a caller the truth does not know", "a record, outcome "+r.Outcome)
		}
		if r.CallerNumber != nil && refusedNumbers[*r.CallerNumber] && !known[r.ChannelID] {
			problem(r.ChannelID, "refused", "no record for a refused call", *r.CallerNumber)
		}
	}
	sort.Slice(rep.Problems, func(i, j int) bool { return rep.Problems[i].Channel < rep.Problems[j].Channel })
	return rep
}

func stampMS(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func stampPtr(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return stampMS(*t)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestCompareWithTruth feeds compareWithTruth a truth and call records that disagree in known
// ways: it must find exactly those disagreements.
func TestCompareWithTruth(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t, "truthcmp")
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := config.Demo(2) // queue general: threshold 30 s, short abandon 5 s; always open
	base := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	ts := func(ms int) string { return base.Add(time.Duration(ms) * time.Millisecond).Format(asteriskLayout) }
	tm := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	queue := []string{"queue", "general"}
	truth := []aritest.TruthRecord{
		{Kind: "refused", Exten: "0503164911", Args: queue, CallerNumber: "0600000000", StasisStatus: "FAILED", At: ts(0)},
		// Answered after 12.345 s by agent01, recorded right.
		{Kind: "caller", Channel: "c1", Args: queue, CallerNumber: "0600000001", Stasis: true, At: ts(1000),
			Answered: ts(13345), Agent: "PJSIP/1001", Hangup: ts(20000), HangupBy: "app", EndedBy: "agent"},
		// Abandoned after 7 s; recorded one millisecond late.
		{Kind: "caller", Channel: "c2", Args: queue, CallerNumber: "0600000002", Stasis: true, At: ts(2000),
			Hangup: ts(9000), HangupBy: "caller"},
		// Abandoned after exactly 5 s: short; recorded as a plain abandon.
		{Kind: "caller", Channel: "c3", Args: queue, Stasis: true, At: ts(3000), Hangup: ts(8000), HangupBy: "caller"},
		// No record at all.
		{Kind: "caller", Channel: "c4", Args: queue, Stasis: true, At: ts(4000), Hangup: ts(5000), HangupBy: "caller"},
		// Direct dial: not compared.
		{Kind: "caller", Channel: "c5", Args: []string{"direct", "0503161234"}, Stasis: true, At: ts(5000), Hangup: ts(6000), HangupBy: "caller"},
		// Still up: no record expected.
		{Kind: "caller", Channel: "c6", Args: queue, Stasis: true, At: ts(6000), Open: true},
		// Answered, then left alone 1.5 s after its agent hung up; it hung up itself while no
		// callmon was connected, but the call had ended with the agent: not an unseen end.
		{Kind: "caller", Channel: "c7", Args: queue, CallerNumber: "0600000007", Stasis: true, At: ts(7000),
			Answered: ts(40000), Agent: "PJSIP/1002", Hangup: ts(50000), HangupBy: "caller", EndedBy: "agent", AloneMaxMS: 1500,
			HangupUnseen: true},
		// Hung up while no callmon was connected: the record, flagged, has the end callmon
		// learnt of later; only what it observed is compared.
		{Kind: "caller", Channel: "c8", Args: queue, CallerNumber: "0600000008", Stasis: true, At: ts(8000),
			Hangup: ts(9000), HangupBy: "caller", EndedBy: "caller", HangupUnseen: true},
		{Kind: "originated", Endpoint: "PJSIP/+31612345678@pstn", Count: 2, Outbound: true, At: ts(0), Last: ts(1)},
		{Kind: "originated", Endpoint: "PJSIP/1001", Count: 3, At: ts(0), Last: ts(1)},
	}
	file := filepath.Join(t.TempDir(), "truth.jsonl")
	var lines []byte
	for _, r := range truth {
		lines = append(lines, must(json.Marshal(r))...)
		lines = append(lines, '\n')
	}
	if err := os.WriteFile(file, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := func(ch, num, outcome string, entry, answered, ended int, wait int64, within bool, agent string) store.CallRecord {
		r := store.CallRecord{ChannelID: ch, Queue: "general", Kind: "queue", CallerNumber: num, Entry: tm(entry), Ended: tm(ended),
			WaitMS: wait, Outcome: outcome, WithinThreshold: within, ThresholdMS: 30000, Agent: agent}
		if answered >= 0 {
			r.Answered = tm(answered)
		}
		return r
	}
	unobserved := rec("c8", "0600000008", "abandoned", 8000, -1, 12000, 4000, false, "")
	unobserved.Adopted, unobserved.EndUnobserved = true, true
	if _, err := db.InsertCalls(ctx, []store.CallRecord{
		unobserved,
		rec("c1", "0600000001", "answered", 1000, 13345, 20000, 12345, true, "agent01"),
		rec("c2", "0600000002", "abandoned", 2000, -1, 9001, 7001, false, ""),
		rec("c3", "", "abandoned", 3000, -1, 8000, 5000, false, ""),
		rec("c7", "0600000007", "answered", 7000, 40000, 50000, 33000, false, "agent02"),
		rec("c9", "0600000000", "abandoned", 0, -1, 1000, 1000, false, ""),
	}); err != nil {
		t.Fatal(err)
	}

	rep := compareWithTruth(t, file, dbURL, cfg)
	var got []string
	for _, p := range rep.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"c2: ended_at: want 2026-12-04T09:00:09.000Z, got 2026-12-04T09:00:09.001Z",
		"c2: wait_ms: want 7000, got 7001",
		"c3: outcome: want short_abandoned, got abandoned",
		"c4: missing: want a call record, got none",
		"c9: unknown: want no record for a caller the truth does not know, got a record, outcome abandoned",
		"c9: refused: want no record for a refused call, got 0600000000",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Unseen != 1 || len(rep.UnseenUnflagged) != 0 || rep.Flagged["ended_unobserved"] != 1 || rep.Flagged["adopted"] != 1 {
		t.Errorf("unseen %d (unflagged %v), flagged %v; want c8 unseen and flagged", rep.Unseen, rep.UnseenUnflagged, rep.Flagged)
	}
	if rep.Callers != 8 || rep.Queue != 7 || rep.Direct != 1 || rep.Records != 6 || len(rep.Refused) != 1 ||
		strings.Join(rep.Open, ",") != "c6" || len(rep.Stranded) != 1 || strings.Join(rep.DialledTwice, ",") != "PJSIP/+31612345678@pstn ×2" {
		t.Errorf("report: %s (open %v, stranded %v, dialled twice %v)", rep, rep.Open, rep.Stranded, rep.DialledTwice)
	}
	if rep.Outcomes["answered"] != 2 || rep.Outcomes["abandoned"] != 1 || rep.Outcomes["short_abandoned"] != 2 {
		t.Errorf("outcomes %v", rep.Outcomes)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
