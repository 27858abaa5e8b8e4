package wallboard

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"callmon/auth"
	"callmon/metrics"
	"callmon/ui"
)

// Every colour of the wallboard turns where its alert rule would fire: the rule's expression
// holds the same comparison, read from the rules file the alerts are loaded from.
func TestColoursFollowTheAlertRules(t *testing.T) {
	raw, err := os.ReadFile("../grafana/rules/callmon.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = strings.Join(strings.Fields(r.Expr), " ")
		}
	}
	for _, rule := range Rules {
		e, ok := exprs[rule.Alert]
		if !ok {
			t.Errorf("no alert %s in the rules", rule.Alert)
			continue
		}
		at := 0
		for _, term := range rule.Terms {
			i := strings.Index(e[at:], term)
			if i < 0 {
				t.Errorf("%s: %q does not hold %q after position %d", rule.Alert, e, term, at)
				break
			}
			at += i + len(term)
		}
	}
	// The comparisons at their edges, as the rules: at the target is on target, at the
	// threshold within it, as many staffed as needed enough, no overdue task fine.
	for _, c := range []struct {
		got, want Level
	}{
		{serviceLevel(0.9, 0.9), OK}, {serviceLevel(0.8999, 0.9), Alert},
		{oldestWait(30*time.Second, 30*time.Second), OK}, {oldestWait(30*time.Second+time.Millisecond, 30*time.Second), Alert},
		{understaffed(4, 4), OK}, {understaffed(5, 4), Alert}, {understaffed(nan(), 4), None},
		{overdue(0), OK}, {overdue(1), Alert},
	} {
		if c.got != c.want {
			t.Errorf("%s, want %s", c.got, c.want)
		}
	}
}

type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

type env struct {
	t      *testing.T
	m      *metrics.Metrics
	clk    *fixedClock
	srv    *httptest.Server
	tokens map[string]string
	back   func() (Backoffice, error)
	backMu sync.Mutex
}

func newEnv(t *testing.T, withDB bool) *env {
	t.Helper()
	return newEnvWith(t, withDB, []metrics.Queue{{Name: "general"}})
}

func newEnvWith(t *testing.T, withDB bool, queues []metrics.Queue) *env {
	t.Helper()
	e := &env{t: t, clk: &fixedClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, ui.Amsterdam)}, tokens: map[string]string{}}
	m, err := metrics.New(prometheus.NewRegistry(), e.clk, ui.Amsterdam, queues, "test")
	if err != nil {
		t.Fatal(err)
	}
	m.ARIConnected(true)
	e.m = m
	var creds []auth.Credential
	for id, role := range map[string]auth.Role{"hal-1": auth.Wallboard, "sam": auth.Supervisor, "anna": auth.Agent} {
		e.tokens[id] = auth.NewToken(id)
		h, err := auth.HashTokenCost(e.tokens[id], bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, auth.Credential{ID: id, Role: role, TokenHash: h})
	}
	ps, err := auth.NewPrincipals(creds)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Metrics: m, Auth: auth.New(auth.Options{Principals: ps}), Now: e.clk.Now, Log: slog.New(slog.DiscardHandler), Tick: 20 * time.Millisecond}
	if withDB {
		e.back = func() (Backoffice, error) {
			return Backoffice{CallbacksDue: 3, CallbacksOverdue: 0, VoicemailsUnheard: 2, VoicemailsOverdue: 1}, nil
		}
		cfg.Backoffice = func(context.Context, time.Time) (Backoffice, error) {
			e.backMu.Lock()
			defer e.backMu.Unlock()
			return e.back()
		}
	}
	s := New(cfg)
	s.Start()
	t.Cleanup(s.Stop)
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser: cookies kept, redirects followed.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func (e *env) get(c *http.Client, path string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestWhoMaySeeTheWallboard(t *testing.T) {
	e := newEnv(t, false)
	resp, body := e.get(e.client(), "/wallboard")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "U bent niet aangemeld.") || !strings.Contains(body, `href="/signin?lang=nl&amp;next=%2Fwallboard"`) {
		t.Errorf("signed out: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.get(e.client(), "/wallboard?lang=en"); resp.StatusCode != 401 || !strings.Contains(body, "You are not signed in.") {
		t.Errorf("signed out, English: %d %s", resp.StatusCode, body)
	}
	// An agent is not a supervisor.
	agent := e.client()
	if resp, _ := e.get(agent, "/wallboard?token="+e.tokens["anna"]); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent: %d, want 403", resp.StatusCode)
	}
	// A TV's token is exchanged for an HttpOnly cookie and leaves the address.
	tv := &http.Client{Jar: nil, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = e.get(tv, "/wallboard?token="+e.tokens["hal-1"])
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/wallboard" || session == nil || !session.HttpOnly {
		t.Fatalf("token exchange: %d to %q, cookie %+v", resp.StatusCode, resp.Header.Get("Location"), session)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/wallboard", nil)
	req.AddCookie(session)
	r2, err := tv.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 200 || !strings.Contains(string(b), "Wachtrij general") || !strings.Contains(r2.Header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Errorf("with the cookie: %d\n%s", r2.StatusCode, b)
	}
	// A supervisor's bearer token works too, in English when asked.
	req, _ = http.NewRequest("GET", e.srv.URL+"/wallboard?lang=en", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["sam"])
	r3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r3.Body)
	r3.Body.Close()
	if r3.StatusCode != 200 || !strings.Contains(string(b), "Queue general") || !strings.Contains(string(b), `<html lang="en">`) {
		t.Errorf("supervisor in English: %d\n%s", r3.StatusCode, b)
	}
}

// stream reads board events.
type stream struct {
	t    *testing.T
	body io.ReadCloser
	ev   chan string
}

func (e *env) stream(lang string) *stream {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/wallboard/events?lang="+lang, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["hal-1"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: e.t, body: resp.Body, ev: make(chan string, 100)}
	e.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "" && data != nil:
				s.ev <- strings.Join(data, "\n")
				data = nil
			}
		}
		close(s.ev)
	}()
	return s
}

// next waits at most a second for a board holding all of want.
func (s *stream) next(want ...string) string {
	s.t.Helper()
	deadline := time.After(time.Second)
	last := ""
	for {
		select {
		case b, ok := <-s.ev:
			if !ok {
				s.t.Fatalf("stream ended; last board:\n%s", last)
			}
			last = b
			if all(b, want) {
				return b
			}
		case <-deadline:
			s.t.Fatalf("no board with %q within a second; last:\n%s", want, last)
		}
	}
}

func all(s string, subs []string) bool {
	for _, w := range subs {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

var tileRE = regexp.MustCompile(`<li class="tile (\w+)"><span class="label">([^<]*)</span> <span class="value">([^<]*)</span>`)

// tiles maps each tile's label to its level and value.
func tiles(board string) map[string][2]string {
	out := map[string][2]string{}
	for _, m := range tileRE.FindAllStringSubmatch(board, -1) {
		out[m[2]] = [2]string{m[1], m[3]}
	}
	return out
}

// The board follows callmon's figures within a second of a change, says what is wrong in
// words besides the colour, and says when Asterisk or the database is lost.
func TestTheBoardFollowsTheFiguresWithinASecond(t *testing.T) {
	e := newEnv(t, true)
	s := e.stream("nl")
	b := s.next("Wachtrij general", "Serviceniveau vandaag")
	if got := tiles(b)["Wachtend"]; got != [2]string{"none", "0"} {
		t.Errorf("waiting tile %v", got)
	}
	if got := tiles(b)["Voicemails"]; got != [2]string{"alert", "2"} || !strings.Contains(b, "⚠ </span>niet beluisterd · 1 te laat") {
		t.Errorf("voicemails: %v\n%s", got, b)
	}
	if got := tiles(b)["Terugbelverzoeken"]; got != [2]string{"ok", "3"} {
		t.Errorf("callbacks: %v", got)
	}
	// A caller enters and waits past the threshold.
	e.m.Entered("general", "c1", e.clk.Now())
	b = s.next(`<span class="label">Wachtend</span> <span class="value">1</span>`)
	e.clk.mu.Lock()
	e.clk.t = e.clk.t.Add(31 * time.Second)
	e.clk.mu.Unlock()
	b = s.next("langer dan 0:30")
	tl := tiles(b)
	if tl["Langst wachtend"] != [2]string{"alert", "0:31"} || tl["Serviceniveau vandaag"] != [2]string{"alert", "0 %"} {
		t.Errorf("after 31 s: %v\n%s", tl, b)
	}
	if !strings.Contains(b, "onder doel (doel 90 %)") {
		t.Errorf("the miss is not said in words:\n%s", b)
	}
	// Asterisk lost, then the database.
	e.m.ARIConnected(false)
	s.next("Geen verbinding met de telefooncentrale (Asterisk)")
	e.backMu.Lock()
	e.back = func() (Backoffice, error) { return Backoffice{}, errors.New("connection refused") }
	e.backMu.Unlock()
	b = s.next("Geen verbinding met de database")
	if got := tiles(b)["Terugbelverzoeken"]; got != [2]string{"none", "?"} {
		t.Errorf("callbacks without a database: %v", got)
	}
	// The same board in English on its own stream.
	en := e.stream("en").next("No connection to the telephone system", "Queue general", "Longest wait")
	if strings.Contains(en, "Wachtrij") {
		t.Errorf("Dutch on the English board:\n%s", en)
	}
}

func nan() float64 { var z float64; return z / z }

// With no screen open the wallboard reads nothing from the database; a stream that opens gets
// a picture with fresh figures at once.
func TestIdleWallboardReadsNothing(t *testing.T) {
	e := newEnv(t, true)
	var reads atomic.Int64
	e.backMu.Lock()
	e.back = func() (Backoffice, error) { reads.Add(1); return Backoffice{CallbacksDue: 7}, nil }
	e.backMu.Unlock()
	start := reads.Load()
	// Many ticks (20 ms each) pass with nobody watching: not one read. A stream opens, whose
	// first fresh picture reads once.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if reads.Load() != start {
			t.Fatalf("%d database reads with no screen open", reads.Load()-start)
		}
		runtime.Gosched()
	}
	s := e.stream("nl")
	s.next(`<span class="label">Terugbelverzoeken</span> <span class="value">7</span>`)
	if reads.Load() == start {
		t.Error("the stream's picture did not read the database")
	}
}
