package web_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"callmon/auth"
	"callmon/callback/tasks"
	"callmon/callback/web"
)

// get fetches path with the request changed by set, without following
// redirects.
func (e *env) fetch(path string, set func(*http.Request)) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	c := *e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

func TestPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	due := e.seed("permits", at(9, 45))
	body := agreed("general", at(14, 0))
	body["notes"] = `<script>alert("x")</script> & more`
	upcoming := e.create("anna", body)
	e.create("bram", agreed("licences", at(14, 0))) // not on anna's page

	resp, page := e.fetch("/agent/anna", e.as("anna"))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"Callbacks for anna",
		fmt.Sprintf(`id="task-%d"`, due.ID), fmt.Sprintf(`id="task-%d"`, upcoming.ID),
		"+31612345678", "J. de Vries", "P. Bakker",
		"Tue 24 Nov 2026 14:00–14:15", // UTC 13:00, shown in Amsterdam
		"Tue 24 Nov 2026 09:45–10:00",
		"agreed by agent", "callback (IVR)", "pending", "0/3",
		`value="reached">Done</button>`, `value="no_answer">No answer</button>`, `value="wrong_number">Wrong number</button>`,
		`data-action="claim"`, `data-action="reschedule"`, `data-action="cancel"`, `data-action="create"`,
		`value="2026-11-24T14:00"`, // the reschedule input, in local time
		`value="2026-11-24T10:15"`, // the create form's default: the next slot
		`<option>general</option><option>permits</option>`,
	} {
		if !strings.Contains(html.UnescapeString(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if want := `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more`; !strings.Contains(page, want) {
		t.Errorf("page lacks the escaped notes %q", want)
	}
	if strings.Contains(page, "licences") || strings.Contains(page, `<script>alert`) {
		t.Error("page shows a task that is not anna's, or unescaped notes")
	}
	dueAt, upcomingAt, upcomingHeading := strings.Index(page, fmt.Sprintf(`id="task-%d"`, due.ID)),
		strings.Index(page, fmt.Sprintf(`id="task-%d"`, upcoming.ID)), strings.Index(page, "<h2>Upcoming</h2>")
	if !(dueAt < upcomingHeading && upcomingHeading < upcomingAt) {
		t.Errorf("the 09:45 task is not under Due and the 14:00 one under Upcoming")
	}
	// The page runs its inline script and style under a policy naming
	// their hashes (and nothing else).
	csp := resp.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no inline %s", tag)
		}
		h := sha256.Sum256([]byte(m[1]))
		if want := tag + "-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}

	// The fragment the page re-fetches.
	resp, frag := e.fetch("/agent/anna/tasks", e.as("anna"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(frag, fmt.Sprintf(`id="task-%d"`, upcoming.ID)) ||
		strings.Contains(frag, "<html") {
		t.Errorf("fragment: %d %s", resp.StatusCode, frag)
	}

	// Who may open which page.
	for _, tc := range []struct {
		path, who string
		status    int
	}{
		{"/agent/anna", "", 401},
		{"/agent/bram", "anna", 403},
		{"/agent/bram/tasks", "anna", 403},
		{"/agent/bram/events", "anna", 403},
		{"/agent/nobody", "anna", 403},
		{"/agent/nobody", "sam", 404},
		{"/agent/nobody/events", "sam", 404},
		{"/agent/bram", "sam", 200},
		{"/agent/bram", "bram", 200},
	} {
		var set func(*http.Request)
		if tc.who != "" {
			set = e.as(tc.who)
		}
		if resp, body := e.fetch(tc.path, set); resp.StatusCode != tc.status {
			t.Errorf("%s as %q: %d, want %d: %s", tc.path, tc.who, resp.StatusCode, tc.status, body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bearer := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	for _, tc := range []struct {
		name   string
		set    func(*http.Request)
		status int
	}{
		{"none", nil, 401},
		{"bearer", bearer(e.tokens["anna"]), 200},
		{"bearer, lower-case scheme", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+e.tokens["anna"]) }, 200},
		{"bad bearer", bearer("not-a-token"), 401},
		{"another's id with anna's secret", bearer("bram." + strings.SplitN(e.tokens["anna"], ".", 2)[1]), 401},
		{"empty bearer", bearer(""), 401},
		{"basic", func(r *http.Request) { r.SetBasicAuth("anna", e.tokens["anna"]) }, 401},
		{"a wallboard", e.as("wall"), 403},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401},
		{"a forged session", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: "YW5uYXxzdXBlcnZpc29yfDk5OTk5OTk5OTk.AAAA"})
		}, 401},
	} {
		resp, body := e.fetch("/api/tasks", tc.set)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		if tc.status == 401 && !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ";"), `Bearer realm="callmon"`) {
			t.Errorf("%s: no Bearer challenge: %v", tc.name, resp.Header.Values("WWW-Authenticate"))
		}
	}

	// ?token= sets the cookie and redirects to the page without the token.
	resp, _ := e.fetch("/agent/anna?token="+e.tokens["anna"], nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/agent/anna" {
		t.Fatalf("?token=: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.MaxAge <= 0 {
		t.Fatalf("cookie %+v", cookie)
	}
	withCookie := func(r *http.Request) { r.AddCookie(cookie) }
	if resp, body := e.fetch("/agent/anna", withCookie); resp.StatusCode != 200 {
		t.Errorf("page with the cookie: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.fetch("/api/tasks", withCookie); resp.StatusCode != 200 {
		t.Errorf("API with the cookie: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.fetch("/api/tasks", func(r *http.Request) { withCookie(r); bearer("anna.bad")(r) }); resp.StatusCode != 401 {
		t.Errorf("a bad bearer with a good cookie: %d, want 401", resp.StatusCode)
	}
	if resp, _ := e.fetch("/agent/bram", withCookie); resp.StatusCode != 403 {
		t.Errorf("bram's page with anna's cookie: %d", resp.StatusCode)
	}
	if resp, _ := e.fetch("/agent/anna?token=wrong", nil); resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Errorf("?token=wrong: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}

	// Another site cannot make a signed-in browser change tasks.
	task := e.create("anna", agreed("general", at(14, 0)))
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/tasks/%d/cancel", e.ts.URL, task.ID),
		strings.NewReader(fmt.Sprintf(`{"version": %d}`, task.Version)))
	req.AddCookie(cookie)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || e.get(task.ID).Status != tasks.Pending {
		t.Errorf("cross-site POST: %d, task %s", resp.StatusCode, e.get(task.ID).Status)
	}

	// A browser-like client: the cookie jar keeps the cookie after ?token=.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: e.ts.Client().Transport}
	r, err := c.Get(e.ts.URL + "/agent/anna?token=" + e.tokens["anna"])
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.Request.URL.RawQuery != "" {
		t.Errorf("following ?token=: %d at %s", r.StatusCode, r.Request.URL)
	}
}

// sse reads server-sent events.
type sse struct {
	r    *bufio.Reader
	body io.Closer
}

func (e *env) openEvents(ctx context.Context, path, who string) *sse {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.authorize(req, who)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return &sse{r: bufio.NewReader(resp.Body), body: resp.Body}
}

// next returns the next event's name and data, skipping comments.
func (s *sse) next() (event, data string, err error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if event != "" || data != "" {
				return event, data, nil
			}
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.waitListening()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the deadline for every event
	defer cancel()
	stream := e.openEvents(ctx, "/agent/anna/events", "anna")
	if ev, _, err := stream.next(); ev != "ready" || err != nil {
		t.Fatalf("first event %q, %v; want ready", ev, err)
	}

	// bram's task in a queue anna does not serve is not her page's business:
	// made first, it would arrive first if it were sent.
	e.create("bram", agreed("licences", at(14, 0)))
	task := e.create("anna", agreed("general", at(14, 0)))
	ev, data, err := stream.next()
	for ev == "resync" && err == nil {
		ev, data, err = stream.next()
	}
	if err != nil {
		t.Fatalf("no event for the new task within the deadline: %v", err)
	}
	var c struct {
		ID       int64        `json:"id"`
		Queue    string       `json:"queue"`
		Assignee string       `json:"assignee"`
		Status   tasks.Status `json:"status"`
	}
	if ev != "task" || json.Unmarshal([]byte(data), &c) != nil || c.ID != task.ID || c.Status != tasks.Pending ||
		c.Queue != "general" || c.Assignee != "anna" {
		t.Fatalf("event %q %s, want task %d", ev, data, task.ID)
	}

	// A pool task of a shared queue that bram claims leaves anna's page:
	// she is told.
	pool := e.seed("permits", at(9, 45))
	e.call("POST", fmt.Sprintf("/api/tasks/%d/claim", pool.ID), "bram", map[string]any{"version": pool.Version}, http.StatusOK, nil)
	for _, want := range []tasks.Status{tasks.Pending, tasks.Claimed} {
		ev, data, err := stream.next()
		if err != nil || ev != "task" || json.Unmarshal([]byte(data), &c) != nil || c.ID != pool.ID || c.Status != want {
			t.Fatalf("event %q %s (%v), want task %d %s", ev, data, err, pool.ID, want)
		}
	}

	// Stop ends the stream (and is idempotent; the cleanup stops again).
	e.srv.Stop()
	if ev, _, err := stream.next(); err == nil {
		t.Errorf("after Stop: event %q", ev)
	}
	if n := web.Subscribers(e.srv); n != 0 {
		t.Errorf("%d subscribers after Stop", n)
	}
}

// TestPatterns mounts the handler in a mux beside the daemon's own routes
// (presence under /api/agents, GET /api/report, a page at /), as cmd does.
func TestPatterns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mux := http.NewServeMux()
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.Handle("GET /api/agents", other)
	mux.Handle("GET /api/report", other)
	mux.Handle("GET /{$}", other)
	for _, p := range e.srv.Routes() {
		mux.Handle(p, e.srv.Handler())
	}
	for path, want := range map[string]int{
		"/api/tasks": 401, "/api/tasks/1": 401, "/api/tasks/1/claim": 405, "/agent/anna": 401,
		"/api/agents": http.StatusTeapot, "/api/report": http.StatusTeapot, "/": http.StatusTeapot,
	} {
		req, _ := http.NewRequest("GET", path, nil)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
	}
}

// TestPageVoicemailWithheld: a voicemail whose caller withheld their number
// shows as such, with nothing to dial.
func TestPageVoicemailWithheld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vm, _, err := e.store.Create(context.Background(), tasks.NewTask{
		Kind: tasks.KindVoicemail, Queue: "direct", Assignee: "anna", CallerName: "",
		WindowStart: at(9, 0), WindowEnd: at(17, 0), Notes: "Voicemail 1: a message of 12s for anna.", Actor: "caller",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, page := e.fetch("/agent/anna", e.as("anna"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	row := page[strings.Index(page, fmt.Sprintf(`id="task-%d"`, vm.ID)):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `<td data-label="Number">withheld</td>`) || strings.Contains(row, `href="tel:`) || !strings.Contains(row, "voicemail") {
		t.Errorf("voicemail row without a number:\n%s", row)
	}
}
