package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProm answers /api/v1/query and /api/v1/query_range with fixed
// results chosen by the query text, and records the requests.
type fakeProm struct {
	mu       sync.Mutex
	requests []request
}

type request struct{ path, query, step string }

// value is the canned value of a query: the service level today is below
// its 90 % target, the oldest waiting call 42 s, anything else 3.
func value(q string) (float64, map[string]string) {
	switch {
	case strings.Contains(q, `callmon_service_level_ratio{window="today"`):
		return 0.85, map[string]string{"queue": "general"}
	case strings.Contains(q, "callmon_oldest_waiting_call_seconds"):
		return 42, map[string]string{}
	case strings.Contains(q, "by (outcome)"):
		return 3, map[string]string{"outcome": "answered"}
	}
	return 3, map[string]string{"queue": "general"}
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	f.mu.Lock()
	f.requests = append(f.requests, request{r.URL.Path, q, r.FormValue("step")})
	f.mu.Unlock()
	v, labels := value(q)
	var result any
	switch r.URL.Path {
	case "/api/v1/query":
		t, _ := strconv.ParseFloat(r.FormValue("time"), 64)
		result = map[string]any{"resultType": "vector", "result": []any{
			map[string]any{"metric": labels, "value": []any{t, strconv.FormatFloat(v, 'f', -1, 64)}},
		}}
	case "/api/v1/query_range":
		start, _ := strconv.ParseFloat(r.FormValue("start"), 64)
		end, _ := strconv.ParseFloat(r.FormValue("end"), 64)
		step, _ := strconv.ParseFloat(r.FormValue("step"), 64)
		var values []any
		for t, i := start, 0; t <= end; t, i = t+step, i+1 {
			x := v * (1 + 0.1*math.Sin(float64(i))) // some movement for the graphs
			if t+step > end {
				x = v // the last point, what stat and gauge panels show
			}
			values = append(values, []any{t, strconv.FormatFloat(x, 'f', -1, 64)})
		}
		result = map[string]any{"resultType": "matrix", "result": []any{map[string]any{"metric": labels, "values": values}}}
	default:
		http.NotFound(w, r)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": result})
}

func renderCanned(t *testing.T) (string, *fakeProm) {
	t.Helper()
	raw, err := os.ReadFile("../dashboards/callmon.json")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeProm{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	loc := time.FixedZone("CET", 3600)
	from := time.Date(2026, 11, 24, 9, 0, 0, 0, loc)
	o := options{
		prom: srv.URL, dashboard: "callmon.json", from: from, to: from.Add(10 * time.Hour),
		queues: []string{"general"}, scrape: 15 * time.Second, width: 1600, loc: loc,
	}
	page, height, err := render(context.Background(), raw, o, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if height < 2000 {
		t.Errorf("page height %d px, want the whole dashboard", height)
	}
	return string(page), fake
}

func TestRenderDashboard(t *testing.T) {
	page, fake := renderCanned(t)

	var d dashboardJSON
	raw, _ := os.ReadFile("../dashboards/callmon.json")
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		if !strings.Contains(page, ">"+esc(p.Title)+"<") {
			t.Errorf("no title %q in the page", p.Title)
		}
	}
	for _, want := range []string{
		"Rendered by grafana/render from grafana/dashboards/callmon.json and live Prometheus data — an approximation of Grafana's rendering, not a Grafana screenshot.",
		"2026-11-24 09:00:00 to 2026-11-24 19:00:00",
	} {
		if !strings.Contains(page, esc(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: no scripts, no external assets.
	for _, bad := range []string{"<script", "src=", "href=", "@import", "url(http"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}

	// The oldest waiting call, 42 in unit s.
	if !strings.Contains(page, ">42 s</text>") {
		t.Error(`no stat value "42 s"`)
	}
	// Service level today 0.85, below the 90 % threshold: red, with the
	// gauge's one decimal.
	if !regexp.MustCompile(`fill="#F2495C"[^>]*>85\.0%</text>`).MatchString(page) {
		t.Error(`no "85.0%" in the threshold colour red (#F2495C)`)
	}
	// Time series are SVG polylines.
	if n := strings.Count(page, "<polyline points="); n < 5 {
		t.Errorf("%d polylines, want the time series drawn as polylines", n)
	}
	// Stacked bars for the outcomes, a donut for the pie.
	if !strings.Contains(page, `<rect x=`) || !strings.Contains(page, `<path d="M`) {
		t.Error("no bars or arcs")
	}

	// The queries as Grafana sends them.
	seen := map[string]bool{}
	for _, r := range fake.requests {
		if strings.Contains(r.query, "$") {
			t.Errorf("variable left in %s", r.query)
		}
		if strings.Contains(r.query, `queue=~`) && !strings.Contains(r.query, `queue=~"general"`) {
			t.Errorf("$queue not substituted in %s", r.query)
		}
		if strings.Contains(r.query, "[36000s]") {
			seen["range"] = true // $__range: 10 h
		}
		if strings.Contains(r.query, "queue:callmon_service_level:ratio15m") && r.path == "/api/v1/query_range" {
			seen["15m"] = r.step == "900" // the panel's 15m interval is the step
		}
		if strings.Contains(r.query, "callmon_calls_offered_total{") && strings.Contains(r.query, "[15m]") {
			seen["interval"] = true // $__interval of a 15m panel
		}
		if strings.Contains(r.query, "rate(callmon_queue_wait_seconds_bucket") && strings.Contains(r.query, "[5m15s]") {
			seen["rate"] = true // $__rate_interval: 5m interval + 15s scrape
		}
	}
	for _, k := range []string{"range", "15m", "interval", "rate"} {
		if !seen[k] {
			t.Errorf("no query with the expected %s substitution", k)
		}
	}
}

func TestFormatValue(t *testing.T) {
	one := 1
	zero := 0
	for _, c := range []struct {
		v        float64
		unit     string
		decimals *int
		want     string
	}{
		{0.9, "percentunit", nil, "90%"},
		{0.9, "percentunit", &one, "90.0%"},
		{0.8567, "percentunit", &one, "85.7%"},
		{0.955, "percentunit", nil, "95.5%"},
		{42, "s", nil, "42 s"},
		{6.27, "s", nil, "6.27 s"},
		{0.25, "s", nil, "250 ms"},
		{90, "s", nil, "1.50 min"},
		{0, "s", nil, "0 s"},
		{3, "none", nil, "3"},
		{1234, "short", &zero, "1 K"},
		{57, "short", &zero, "57"},
		{2.5, "short", nil, "2.50"},
	} {
		if got := formatValue(c.v, c.unit, c.decimals); got != c.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestTimingAndVariables(t *testing.T) {
	from := time.Date(2026, 11, 24, 9, 0, 7, 0, time.UTC)
	r := &renderer{o: options{from: from, to: from.Add(6 * time.Hour), scrape: 15 * time.Second, queues: []string{"a.b", "c"}}}
	tm, err := r.timing(panelJSON{Interval: "15m"}, 600)
	if err != nil {
		t.Fatal(err)
	}
	if tm.interval != 15*time.Minute || tm.step != 15*time.Minute || tm.start.Minute() != 0 || tm.start.Second() != 0 {
		t.Errorf("15m panel: %+v", tm)
	}
	tm, _ = r.timing(panelJSON{}, 600) // 6 h over 600 px: 36 s, rounded to 30 s
	if tm.interval != 30*time.Second {
		t.Errorf("interval %s, want 30s", tm.interval)
	}
	got := r.expand(`x{queue=~"$queue"}[$__range] [$__interval] [$__rate_interval]`, tm)
	if want := `x{queue=~"(a\.b|c)"}[21600s] [30s] [1m]`; got != want {
		t.Errorf("expand = %s, want %s", got, want)
	}
}

func TestRecordOpenMetrics(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	real0 := time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
	fit := &clockFit{}
	for _, l := range []struct {
		s  string
		at time.Duration
	}{
		{"simulated day Tue 2026-11-24 09:00, 60x speed, 4.0 calls/min, 9 agents", 0},
		{"09:03:00 offered=11 answered=11", 3*time.Second + 10*time.Millisecond},
		{"09:06:00 offered=20 answered=19", 6 * time.Second},
		{"final 09:09:00 offered=30 answered=28", 9*time.Second + 20*time.Millisecond},
	} {
		if err := fit.line(l.s, real0.Add(l.at), loc); err != nil {
			t.Fatal(err)
		}
	}
	// 6 s of real time after the start is 09:06 simulated.
	want := float64(time.Date(2026, 11, 24, 9, 6, 0, 0, loc).Unix())
	if got := fit.sim(real0.Add(6 * time.Second)); math.Abs(got-want) > 0.001 {
		t.Errorf("sim = %f, want %f", got, want)
	}
	var buf bytes.Buffer
	body := "# HELP x_total X.\n# TYPE x_total counter\nx_total{q=\"a b\"} 5\ngo_threads 8\nprocess_open_fds 3\n"
	if err := writeOpenMetrics(&buf, []scrape{{at: real0.Add(6 * time.Second), body: []byte(body)}}, fit); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), fmt.Sprintf("x_total{q=\"a b\"} 5 %.3f\n# EOF\n", want); got != want {
		t.Errorf("OpenMetrics:\n%s\nwant:\n%s", got, want)
	}
}
