package main

// The supervisors' view proven on real servers: a real Prometheus scrapes a
// callmon that runs a scripted morning on the fake Asterisk and evaluates
// callmon's rules; every query of the dashboard and of the rules is then run
// through Prometheus' HTTP API and its value checked. A real VictoriaMetrics
// receives callmon's pushes and must answer with the same service level.

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/grafana"
)

// sample is one series of an instant query's result.
type sample struct {
	labels map[string]string
	value  float64
}

func (s sample) String() string { return fmt.Sprintf("%v %v", s.labels, s.value) }

// promAPI queries the Prometheus HTTP API, which VictoriaMetrics also serves.
type promAPI struct {
	base string
	logs *syncBuffer // the server's output, for failure messages
}

// query runs an instant query at at (zero: the server's now).
func (p promAPI) query(expr string, at time.Time) ([]sample, error) {
	v := url.Values{"query": {expr}}
	if !at.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/query?"+v.Encode(), &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var rs []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &rs); err != nil {
			return nil, err
		}
		out := make([]sample, len(rs))
		for i, r := range rs {
			f, err := strconv.ParseFloat(fmt.Sprint(r.Value[1]), 64)
			if err != nil {
				return nil, err
			}
			out[i] = sample{labels: r.Metric, value: f}
		}
		return out, nil
	case "scalar":
		var r [2]any
		if err := json.Unmarshal(body.Data.Result, &r); err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(fmt.Sprint(r[1]), 64)
		return []sample{{value: f}}, err
	}
	return nil, fmt.Errorf("query %s: result type %q", expr, body.Data.ResultType)
}

func (p promAPI) get(path string, v any) error {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %d: %w", path, resp.StatusCode, err)
	}
	return nil
}

// value runs expr at at and returns the value of its single series.
func (p promAPI) value(t *testing.T, expr string, at time.Time) (float64, bool) {
	t.Helper()
	ss, err := p.query(expr, at)
	if err != nil {
		t.Fatalf("%v\n%s", err, p.logs)
	}
	if len(ss) != 1 {
		return 0, false
	}
	return ss[0].value, true
}

// eventually waits until expr has one series whose value is want.
func (p promAPI) eventually(t *testing.T, expr string, want float64) {
	t.Helper()
	p.until(t, fmt.Sprintf("%s == %v", expr, want), func() bool {
		v, ok := p.value(t, expr, time.Time{})
		return ok && v == want
	})
}

// until polls the server until cond holds, for at most 30 s.
func (p promAPI) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s\n%s", what, p.logs)
		case <-tick.C:
		}
	}
}

// serverBinary finds a server the test needs; CI installs them (.ci/run).
func serverBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s package (apt-get install %s); .ci/run does", name, pkg, pkg)
	}
	return path
}

// freeAddr returns a loopback address nothing listens on, for servers that
// cannot be told to pick their own port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs a server process until the test ends and waits until
// readyPath answers 200.
func startServer(t *testing.T, addr, readyPath, bin string, args ...string) promAPI {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	api := promAPI{base: "http://" + addr, logs: logs}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(api.base + readyPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", bin, err, logs)
		case <-deadline.C:
			t.Fatalf("%s not ready on %s\n%s", bin, addr, logs)
		case <-tick.C:
		}
	}
}

func startPrometheus(t *testing.T, target, rules string) promAPI {
	t.Helper()
	bin := serverBinary(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: callmon
    static_configs:
      - targets: [%q]
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	return startServer(t, addr, "/-/ready", bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
}

func startVictoriaMetrics(t *testing.T) promAPI {
	t.Helper()
	bin := serverBinary(t, "victoria-metrics", "victoria-metrics")
	addr := freeAddr(t)
	// latencyOffset 0: pushed samples are searchable at once, not after 30 s.
	return startServer(t, addr, "/health", bin,
		"-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(), "-retentionPeriod=1",
		"-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR")
}

// check asserts one query's result.
type check func(got []sample) error

// is wants exactly one series with value v.
func is(v float64) check {
	return func(got []sample) error {
		if len(got) != 1 || math.Abs(got[0].value-v) > 1e-9 {
			return fmt.Errorf("want one series = %v", v)
		}
		return nil
	}
}

// by wants one series per value of label, with these values exactly.
func by(label string, want map[string]float64) check {
	return func(got []sample) error {
		if len(got) != len(want) {
			return fmt.Errorf("want %d series by %s: %v", len(want), label, want)
		}
		for _, s := range got {
			w, ok := want[s.labels[label]]
			if !ok || math.Abs(s.value-w) > 1e-9 {
				return fmt.Errorf("want by %s: %v", label, want)
			}
		}
		return nil
	}
}

// of wants the series with label=value (others may exist) to satisfy c.
func of(label, value string, c check) check {
	return func(got []sample) error {
		var mine []sample
		for _, s := range got {
			if s.labels[label] == value {
				mine = append(mine, s)
			}
		}
		if err := c(mine); err != nil {
			return fmt.Errorf("%s=%q: %w", label, value, err)
		}
		return nil
	}
}

// none wants an empty result (an alert that does not fire).
func none(got []sample) error {
	if len(got) != 0 {
		return fmt.Errorf("want no series")
	}
	return nil
}

// between wants one series with a value in [lo, hi].
func between(lo, hi float64) check {
	return func(got []sample) error {
		if len(got) != 1 || !(got[0].value >= lo && got[0].value <= hi) {
			return fmt.Errorf("want one series in [%v, %v]", lo, hi)
		}
		return nil
	}
}

// rule is one rule of grafana/rules/callmon.rules.yml.
type rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

func loadRules(t *testing.T, path string) []rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// The scripted morning in queue general: one short abandon, nine calls
// answered within the 30 s threshold (two of them at exactly 30 s) and one
// after 45 s: 11 offered, 9 / (11 − 1) = 90 % — the target, just kept.
var morning = []scall{
	{abandon: 2 * time.Second},
	{answer: 3 * time.Second}, {answer: 5 * time.Second}, {answer: 8 * time.Second},
	{answer: 12 * time.Second}, {answer: 15 * time.Second},
	{answer: 25 * time.Second}, {answer: 28 * time.Second}, {answer: 30 * time.Second}, {answer: 30 * time.Second},
	{answer: 45 * time.Second},
}

func TestDashboardAndRulesOnRealPrometheus(t *testing.T) {
	rulesFile, err := filepath.Abs("../../grafana/rules/callmon.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	vm := startVictoriaMetrics(t)
	s := newSite(t, pgtest.URL(t, "cmd_prometheus"))
	addErik(s, aritest.Behaviour{NoAnswer: true})
	s.push = pushOptions{URL: vm.base + "/api/v1/import/prometheus", Interval: time.Second, ExtraLabels: []string{"instance=it"}}
	s.start()
	prom := startPrometheus(t, s.d.Addr.String(), rulesFile)

	// Prometheus has the counters at zero before the first call, so that
	// increase() counts every call of the morning.
	prom.eventually(t, `callmon_calls_offered_total{queue="general"}`, 0)
	s.play(morning)
	// And a message for erik, who does not answer his direct number.
	c := directToVoicemail(t, s)
	c.SpeakAfter(aritest.DefaultMediaDuration+time.Second, 4*time.Second)
	s.clk.Advance(aritest.DefaultMediaDuration)
	s.await("recording", func() bool { _, rec := c.Recording(); return rec })
	s.clk.Advance(6 * time.Second)
	c.Hangup()
	s.eventually("voicemail kept", func() bool { return s.value("callmon_voicemails_recorded_total") == 1 })
	s.eventually("records written", func() bool { return s.value("callmon_spool_records") == 0 })

	// Wait until a scrape has seen the end of the morning and the rules
	// have been evaluated on it, then query at the time of a later scrape:
	// increase() over a window that starts before a counter's first sample
	// (0) and ends on a sample is exact, not extrapolated.
	prom.eventually(t, `callmon_voicemails_waiting{employee="erik"}`, 1)
	prom.eventually(t, `callmon_spool_records`, 0)
	prom.eventually(t, `queue:callmon_service_level:ratio1h{queue="general"}`, 0.9)
	ruleAt, _ := prom.value(t, `timestamp(queue:callmon_service_level:ratio1h{queue="general"})`, time.Time{})
	var at time.Time
	prom.until(t, "a scrape after the rule evaluation", func() bool {
		ts, _ := prom.value(t, `timestamp(callmon_calls_offered_total{queue="general"})`, time.Time{})
		at = time.UnixMilli(int64(math.Round(ts * 1000)))
		return ts > ruleAt
	})

	own := func(name string, labels ...string) float64 {
		v := s.value(name, append([]string{"queue", "general"}, labels...)...)
		if math.IsNaN(v) {
			t.Errorf("%s%v is NaN: the staffing advice was never computed", name, labels)
		}
		return v
	}
	outcomes := map[string]float64{"answered": 10, "short_abandoned": 1, "abandoned": 0, "callback": 0, "voicemail": 0, "transferred": 0, "fallback": 0, "closed": 0}
	dashboard := map[string]check{
		"$queue variable/A":               by("queue", map[string]float64{"general": 0.9, "direct": 0.9}),
		"Service level today/A":           is(0.9),
		"Service level this 15 minutes/A": is(s.value("callmon_service_level_ratio", "queue", "general", "window", "interval")),
		"Service level last hour/A":       is(0.9),
		"Calls waiting/A":                 is(0),
		"Oldest waiting call/A":           is(0),
		"Agents/A":                        by("state", map[string]float64{"available": 2, "on_call": 0, "paused": 0}),
		"Service level per 15 minutes/A":  is(0.9),
		"Service level per 15 minutes/B":  is(0.9),
		"Offered calls per 15 minutes/A":  is(11),
		// The staffing row shows callmon's own figures (their arithmetic is tested in erlang,
		// staffing and predict): what /metrics says, Prometheus must show.
		"Expected wait for a new caller/A":                     is(own("callmon_queue_expected_wait_seconds")),
		"Calls forecast/A":                                     is(own("callmon_queue_forecast_calls", "interval", "current")),
		"Calls forecast/B":                                     is(own("callmon_queue_forecast_calls", "interval", "next")),
		"Agents needed and staffed/A":                          is(own("callmon_queue_agents_needed", "interval", "current", "model", "erlang_a")),
		"Agents needed and staffed/B":                          is(own("callmon_queue_agents_needed", "interval", "next", "model", "erlang_a")),
		"Agents needed and staffed/C":                          is(own("callmon_queue_agents_needed", "interval", "current", "model", "erlang_c")),
		"Agents needed and staffed/D":                          is(2),
		"Expected service level with the agents staffed now/A": is(own("callmon_queue_expected_service_level_ratio", "interval", "current", "model", "erlang_a")),
		"Expected service level with the agents staffed now/B": is(own("callmon_queue_expected_service_level_ratio", "interval", "next", "model", "erlang_a")),
		"Handle time and patience/A":                           is(own("callmon_queue_handle_seconds")),
		"Handle time and patience/B":                           is(own("callmon_queue_patience_seconds")),
		"Answered within 10, 20, 30, 60 s/A":                   is(0.3),
		"Answered within 10, 20, 30, 60 s/B":                   is(0.5),
		"Answered within 10, 20, 30, 60 s/C":                   is(0.9),
		"Answered within 10, 20, 30, 60 s/D":                   is(1),
		"Wait p50 and p90/A":                                   is(15), // 5th of 10 waits: the top of the 10–15 s bucket
		"Wait p50 and p90/B":                                   is(30), // 9th of 10: the top of the 20–30 s bucket
		"Wait p50 and p90 over time/A":                         is(15),
		"Wait p50 and p90 over time/B":                         is(30),
		"Outcomes per 15 minutes/A":                            by("outcome", outcomes),
		"Outcomes in the time range/A":                         by("outcome", outcomes),
		"Callbacks pending/A":                                  is(0),
		"Callbacks overdue/A":                                  is(0),
		"Callbacks completed/A":                                by("when", map[string]float64{"on_time": 0, "late": 0}),
		"Callbacks offered and accepted/A":                     is(0),
		"Callbacks offered and accepted/B":                     is(0),
		"Voicemails waiting/A":                                 is(1),
		"Voicemails overdue/A":                                 is(0),
		"Callbacks pending and overdue over time/A":            is(0),
		"Callbacks pending and overdue over time/B":            is(0),
		"Voicemails per employee/A":                            by("employee", map[string]float64{"erik": 1}),
		"Voicemails per employee/B":                            by("employee", map[string]float64{"erik": 0}),
		"ARI connected/A":                                      is(1),
		"ARI reconnects/A":                                     is(0),
		"ARI events dropped/A":                                 is(0),
		"Callback store/A":                                     is(1),
		"Spool backlog/A":                                      is(0),
		// The simulated clock jumps ahead (a 45 s wait in one step) while
		// events are on their way, so some lags are that long; the quantile
		// answers at most the top bucket's bound, 10 s.
		"ARI event lag p99/A":          between(0, 10),
		"Processing queue depth/A":     is(0),
		"ARI events skipped by type/A": by("type", map[string]float64{"malformed": 0, "unknown": 0}),
	}
	subst := strings.NewReplacer(`$queue`, "general", `$__rate_interval`, "1h", `$__interval`, "1h", `$__range`, "1h")
	seen := map[string]bool{}
	for _, q := range grafana.Queries() {
		key := q.Panel + "/" + q.RefID
		seen[key] = true
		c, ok := dashboard[key]
		if !ok {
			t.Errorf("dashboard query %s (%s) has no expected value here", key, q.Expr)
			continue
		}
		expr := subst.Replace(q.Expr)
		got, err := prom.query(expr, at)
		if err != nil {
			t.Errorf("dashboard %s: %v", key, err)
			continue
		}
		if err := c(got); err != nil {
			t.Errorf("dashboard %s: %s = %v: %v", key, expr, got, err)
		}
	}
	for key := range dashboard {
		if !seen[key] {
			t.Errorf("expected value for %s, which the dashboard does not have", key)
		}
	}

	// Every rule: recordings by name and by expression; no alert fires on
	// a morning that just kept the promise.
	records := map[string]check{
		"queue:callmon_calls_offered:increase1h":                   of("queue", "general", is(11)),
		"queue:callmon_calls_answered_within_threshold:increase1h": of("queue", "general", is(9)),
		"queue:callmon_calls_short_abandoned:increase1h":           of("queue", "general", is(1)),
		"queue:callmon_service_level:ratio1h":                      of("queue", "general", is(0.9)),
		"queue:callmon_service_level:ratio15m":                     of("queue", "general", is(0.9)),
	}
	rules := loadRules(t, rulesFile)
	var alerts []string
	for _, r := range rules {
		if r.Alert != "" {
			alerts = append(alerts, r.Alert)
			got, err := prom.query(r.Expr, at)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			} else if err := none(got); err != nil {
				t.Errorf("alert %s fires on a healthy morning: %v", r.Alert, got)
			}
			continue
		}
		c, ok := records[r.Record]
		if !ok {
			t.Errorf("recording rule %s has no expected value here", r.Record)
			continue
		}
		// The expression at a scrape's time is exact.
		if got, err := prom.query(r.Expr, at); err != nil || c(got) != nil {
			t.Errorf("recording rule %s: expr = %v, %v", r.Record, got, err)
		}
		// The recorded series equals its expression at the evaluation's
		// time (not at a scrape's: increase() extrapolates to the end of
		// its window). A scrape appended just after an evaluation began
		// makes the two differ; the next evaluation agrees.
		prom.until(t, r.Record+" equal to its expression", func() bool {
			te, ok := prom.value(t, fmt.Sprintf(`timestamp(%s{queue="general"})`, r.Record), time.Time{})
			if !ok {
				return false
			}
			at := time.UnixMilli(int64(math.Round(te * 1000)))
			rec, ok := prom.value(t, fmt.Sprintf(`%s{queue="general"}`, r.Record), at)
			if !ok {
				return false
			}
			got, err := prom.query(r.Expr, at)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range got {
				if s.labels["queue"] == "general" {
					return math.Abs(s.value-rec) < 1e-9
				}
			}
			return false
		})
	}
	if len(alerts) < 8 {
		t.Errorf("only %d alerts in %s", len(alerts), rulesFile)
	}
	// Prometheus evaluated every rule without an error.
	var health struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := prom.get("/api/v1/rules", &health); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range health.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s: health %q, %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n != len(rules) {
		t.Errorf("Prometheus loaded %d rules, the file has %d", n, len(rules))
	}

	// VictoriaMetrics received the same numbers by push.
	vmWant := map[string]float64{
		`callmon_service_level_ratio{queue="general",window="today",instance="it"}`:    0.9,
		`callmon_calls_offered_total{queue="general",instance="it"}`:                   11,
		`callmon_calls_answered_within_threshold_total{queue="general",instance="it"}`: 9,
		`callmon_voicemails_waiting{employee="erik",instance="it"}`:                    1,
	}
	for expr, want := range vmWant {
		vm.eventually(t, expr, want)
	}

	// Then two callers give up after 40 s: 9 / (13 − 1) = 75 %. The service
	// level alerts go pending (they fire after 5 minutes of it).
	s.play([]scall{{abandon: 40 * time.Second}, {abandon: 40 * time.Second}})
	prom.eventually(t, `callmon_service_level_ratio{queue="general",window="today"}`, 0.75)
	prom.eventually(t, `queue:callmon_service_level:ratio1h{queue="general"}`, 0.75)
	for _, a := range []string{"CallmonServiceLevelTodayBelowTarget", "CallmonServiceLevelLastHourBelowTarget"} {
		prom.eventually(t, fmt.Sprintf(`ALERTS{alertname=%q,alertstate="pending",queue="general"}`, a), 1)
	}
	vm.eventually(t, `callmon_service_level_ratio{queue="general",window="today",instance="it"}`, 0.75)
}
