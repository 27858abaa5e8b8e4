package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const dashboardFile = "dashboards/callmon.json"

func TestDashboardUpToDate(t *testing.T) {
	want, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(want, []byte("}\n")) {
		t.Errorf("Dashboard() does not end in a newline")
	}
	got, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatalf("%v; run `go generate ./grafana` to write it", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		n := 0
		for n < len(gl) && n < len(wl) && gl[n] == wl[n] {
			n++
		}
		line := func(ls []string) string {
			if n < len(ls) {
				return ls[n]
			}
			return "(end of file)"
		}
		t.Fatalf("grafana/%s is not what grafana/dashboard.go generates (first difference at line %d:\n  file:      %s\n  generated: %s)\n"+
			"run `go generate ./grafana` and commit the result", dashboardFile, n+1, line(gl), line(wl))
	}
}

// metrics is every metric callmon exposes that the dashboard may use, with
// whether it has a queue label; recordingRules are the names defined in
// rules/callmon.rules.yml (all per queue).
var metrics = map[string]bool{
	"callmon_calls_offered_total":                   true,
	"callmon_calls_answered_total":                  true,
	"callmon_calls_answered_within_threshold_total": true,
	"callmon_calls_abandoned_total":                 true,
	"callmon_calls_short_abandoned_total":           true,
	"callmon_calls_total":                           true,
	"callmon_queue_wait_seconds":                    true,
	"callmon_queue_time_seconds":                    true,
	"callmon_queue_threshold_seconds":               true,
	"callmon_queue_target_ratio":                    true,
	"callmon_queue_open":                            true,
	"callmon_service_level_ratio":                   true,
	"callmon_window_calls":                          true,
	"callmon_calls_waiting":                         true,
	"callmon_oldest_waiting_call_seconds":           true,
	"callmon_queue_expected_wait_seconds":           true,
	"callmon_queue_forecast_calls":                  true,
	"callmon_queue_agents_needed":                   true,
	"callmon_queue_expected_service_level_ratio":    true,
	"callmon_queue_handle_seconds":                  true,
	"callmon_queue_patience_seconds":                true,
	"callmon_agents":                                true,
	"callmon_callbacks_offered_total":               true,
	"callmon_callbacks_accepted_total":              true,
	"callmon_callbacks_up":                          false,
	"callmon_callbacks_pending":                     true,
	"callmon_callbacks_overdue":                     true,
	"callmon_callbacks_completed_total":             true,
	"callmon_callbacks_failed_total":                true,
	"callmon_voicemails_recorded_total":             false,
	"callmon_voicemails_discarded_total":            false,
	"callmon_voicemails_waiting":                    false,
	"callmon_voicemails_overdue":                    false,
	"callmon_ari_connected":                         false,
	"callmon_ari_reconnects_total":                  false,
	"callmon_ari_events_total":                      false,
	"callmon_ari_events_skipped_total":              false,
	"callmon_ari_events_dropped_total":              false,
	"callmon_ari_event_lag_seconds":                 false,
	"callmon_ari_processing_queue_depth":            false,
	"callmon_spool_records":                         false,
}

var histograms = []string{"callmon_queue_wait_seconds", "callmon_queue_time_seconds", "callmon_ari_event_lag_seconds"}

var recordingRules = []string{
	"queue:callmon_calls_offered:increase1h",
	"queue:callmon_calls_answered_within_threshold:increase1h",
	"queue:callmon_calls_short_abandoned:increase1h",
	"queue:callmon_service_level:ratio1h",
	"queue:callmon_service_level:ratio15m",
}

var (
	ruleToken   = regexp.MustCompile(`queue:[a-z_:0-9]+`)
	metricToken = regexp.MustCompile(`callmon_[a-z_]+`)
	queueFilter = regexp.MustCompile(`\bqueue\s*(=~|!~|!=|=)\s*"[^"]*"`)
)

// metricsIn returns the metric names in expr (histogram series folded to
// their histogram's name) and the recording rules it uses, or an error
// naming a token that is neither.
func metricsIn(expr string) (names, rules []string, err error) {
	rules = ruleToken.FindAllString(expr, -1)
	for _, r := range rules {
		if !slices.Contains(recordingRules, r) {
			return nil, nil, fmt.Errorf("unknown recording rule %s", r)
		}
	}
	for _, m := range metricToken.FindAllString(ruleToken.ReplaceAllString(expr, ""), -1) {
		for _, h := range histograms {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if m == h+suffix {
					m = h
				}
			}
		}
		if _, ok := metrics[m]; !ok {
			return nil, nil, fmt.Errorf("unknown metric %s", m)
		}
		names = append(names, m)
	}
	return names, rules, nil
}

func TestMetricsIn(t *testing.T) {
	names, rules, err := metricsIn(`queue:callmon_service_level:ratio1h{queue=~"$queue"} / sum(callmon_queue_wait_seconds_bucket)`)
	if err != nil || !slices.Equal(names, []string{"callmon_queue_wait_seconds"}) || len(rules) != 1 {
		t.Errorf("got %v %v %v", names, rules, err)
	}
	for _, typo := range []string{`callmon_call_offered_total`, `callmon_queue_wait_second_bucket`, `queue:callmon_service_level:ratio2h`} {
		if _, _, err := metricsIn(typo); err == nil {
			t.Errorf("metricsIn(%q) found no typo", typo)
		}
	}
}

func loadDashboard(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels returns the panels in dashboard order, each row followed by
// the panels nested in it (a collapsed row holds its panels).
func allPanels(d map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(any)
	walk = func(ps any) {
		list, _ := ps.([]any)
		for _, p := range list {
			m, _ := p.(map[string]any)
			out = append(out, m)
			walk(m["panels"])
		}
	}
	walk(d["panels"])
	return out
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func TestDashboardModel(t *testing.T) {
	d := loadDashboard(t)

	if v := num(d["schemaVersion"]); v < 39 {
		t.Errorf("schemaVersion %d, want >= 39 (Grafana 11)", v)
	}
	if d["uid"] != "callmon" {
		t.Errorf("uid %v, want callmon", d["uid"])
	}
	if tr, _ := d["time"].(map[string]any); tr["from"] != "now/d" || tr["to"] != "now" {
		t.Errorf("time %v, want now/d to now", d["time"])
	}

	vars := map[string]map[string]any{}
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		m := v.(map[string]any)
		vars[m["name"].(string)] = m
	}
	if v := vars["datasource"]; v == nil || v["type"] != "datasource" || v["query"] != "prometheus" {
		t.Errorf("datasource variable %v, want type datasource, query prometheus", v)
	} else if cur, _ := v["current"].(map[string]any); cur["value"] != DatasourceUID {
		t.Errorf("datasource variable defaults to %v, want the provisioned uid %q", cur["value"], DatasourceUID)
	}
	if v := vars["queue"]; v == nil || v["type"] != "query" || v["multi"] != true || v["includeAll"] != true || v["allValue"] != ".*" {
		t.Errorf("queue variable %v, want type query, multi, includeAll, allValue .*", v)
	} else {
		if ds, _ := v["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
			t.Errorf("queue variable datasource %v, want uid ${datasource}", v["datasource"])
		}
		if !strings.Contains(v["definition"].(string), queueVariableMetric) {
			t.Errorf("queue variable %q does not read %s", v["definition"], queueVariableMetric)
		}
	}

	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	panels := allPanels(d)
	if len(panels) < 20 {
		t.Fatalf("%d panels", len(panels))
	}
	for _, p := range panels {
		title, _ := p["title"].(string)
		name := fmt.Sprintf("panel %v %q", p["id"], title)
		if title == "" {
			t.Errorf("%s has no title", name)
		}
		id := num(p["id"])
		if id == 0 {
			t.Errorf("%s has no id", name)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s has the id of %q", name, other)
		}
		ids[id] = title

		g, _ := p["gridPos"].(map[string]any)
		x, y, w, h := num(g["x"]), num(g["y"]), num(g["w"]), num(g["h"])
		if x < 0 || w <= 0 || h <= 0 || x+w > 24 || y < 0 {
			t.Errorf("%s gridPos %v is outside the 24 columns", name, g)
		}
	cells:
		for cx := x; cx < x+w; cx++ {
			for cy := y; cy < y+h; cy++ {
				if other, ok := taken[cell{cx, cy}]; ok {
					t.Errorf("%s overlaps %q at (%d,%d)", name, other, cx, cy)
					break cells
				}
				taken[cell{cx, cy}] = title
			}
		}

		if p["type"] == "row" {
			continue
		}
		if desc, _ := p["description"].(string); len([]rune(desc)) < 40 {
			t.Errorf("%s: description %q is shorter than 40 characters", name, desc)
		}
		if ds, _ := p["datasource"].(map[string]any); ds["uid"] != "${datasource}" || ds["type"] != "prometheus" {
			t.Errorf("%s: datasource %v, want prometheus ${datasource}", name, p["datasource"])
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("%s has no targets", name)
		}
		for k, tg := range targets {
			tm := tg.(map[string]any)
			expr, _ := tm["expr"].(string)
			if want := string(rune('A' + k)); tm["refId"] != want {
				t.Errorf("%s target %d: refId %v, want %s", name, k, tm["refId"], want)
			}
			if ds, _ := tm["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
				t.Errorf("%s target %v: datasource %v, want uid ${datasource}", name, tm["refId"], tm["datasource"])
			}
			if expr == "" {
				t.Errorf("%s target %v has no expr", name, tm["refId"])
				continue
			}
			checkExpr(t, name+" target "+tm["refId"].(string), expr)
		}
	}
}

// checkExpr: metric names exist, and every per-queue query is filtered
// with queue=~"$queue" (multi-value with allValue .*, so never queue=).
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	names, rules, err := metricsIn(expr)
	if err != nil {
		t.Errorf("%s: %v in %s", where, err, expr)
		return
	}
	if len(names)+len(rules) == 0 {
		t.Errorf("%s: no callmon metric in %s", where, expr)
	}
	for _, f := range queueFilter.FindAllString(expr, -1) {
		if f != `queue=~"$queue"` {
			t.Errorf("%s: filters with %s, want queue=~\"$queue\": %s", where, f, expr)
		}
	}
	perQueue := len(rules) > 0
	for _, n := range names {
		perQueue = perQueue || metrics[n]
	}
	if perQueue && !strings.Contains(expr, `queue=~"$queue"`) {
		t.Errorf("%s: a per-queue query without queue=~\"$queue\": %s", where, expr)
	}
}

// Queries must list exactly the dashboard's expressions, in order.
func TestQueriesMatchDashboard(t *testing.T) {
	d := loadDashboard(t)
	var want []Query
	for _, p := range allPanels(d) {
		targets, _ := p["targets"].([]any)
		for _, tg := range targets {
			tm := tg.(map[string]any)
			want = append(want, Query{Panel: p["title"].(string), RefID: tm["refId"].(string), Expr: tm["expr"].(string), Legend: tm["legendFormat"].(string)})
		}
	}
	got := Queries()
	if len(got) == 0 || got[0].Expr != queueVariableMetric {
		t.Fatalf("Queries() does not start with the $queue variable: %v", got)
	}
	if !slices.Equal(got[1:], want) {
		t.Errorf("Queries() differ from the dashboard's targets:\n got %v\nwant %v", got[1:], want)
	}
	for _, q := range got {
		if q.Panel == "" || q.RefID == "" || q.Expr == "" {
			t.Errorf("incomplete %+v", q)
		}
	}
}

// Every query, with the variables substituted as the integration test
// does, must be PromQL that Prometheus accepts. promtool (Prometheus 2.42
// here) checks that offline when each is written as a recording rule.
func TestQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (apt-get install prometheus)")
	}
	subst := strings.NewReplacer(`$queue`, "general", `$__rate_interval`, "6h", `$__interval`, "6h", `$__range`, "6h")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for k, q := range Queries() {
		expr := subst.Replace(q.Expr)
		if strings.Contains(expr, "$") {
			t.Errorf("%s %s: variable left after substitution: %s", q.Panel, q.RefID, expr)
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query%d", k), Expr: expr})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s\nqueries:\n%s", err, out, b)
	}
}

func TestProvisioning(t *testing.T) {
	read := func(path string) map[string]any {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if m["apiVersion"] != 1 {
			t.Errorf("%s: apiVersion %v, want 1", path, m["apiVersion"])
		}
		return m
	}

	ds := read("provisioning/datasources/callmon.yml")
	list, _ := ds["datasources"].([]any)
	if len(list) != 1 {
		t.Fatalf("datasources: %v, want one", ds["datasources"])
	}
	p := list[0].(map[string]any)
	for k, want := range map[string]any{
		"name": "Prometheus", "type": "prometheus", "uid": DatasourceUID,
		"url": "${PROMETHEUS_URL}", "isDefault": true, "access": "proxy",
	} {
		if p[k] != want {
			t.Errorf("datasource %s = %v, want %v", k, p[k], want)
		}
	}

	db := read("provisioning/dashboards/callmon.yml")
	providers, _ := db["providers"].([]any)
	if len(providers) != 1 {
		t.Fatalf("providers: %v, want one", db["providers"])
	}
	pr := providers[0].(map[string]any)
	for k, want := range map[string]any{"type": "file", "folder": "callmon", "allowUiUpdates": false} {
		if pr[k] != want {
			t.Errorf("dashboard provider %s = %v, want %v", k, pr[k], want)
		}
	}
	opts, _ := pr["options"].(map[string]any)
	if path, _ := opts["path"].(string); !filepath.IsAbs(path) {
		t.Errorf("dashboard provider options.path %v, want an absolute path on the Grafana host", opts["path"])
	}
	if opts["foldersFromFilesStructure"] != false {
		t.Errorf("dashboard provider foldersFromFilesStructure %v, want false", opts["foldersFromFilesStructure"])
	}
}
