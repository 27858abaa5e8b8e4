// Package rules holds callmon's Prometheus recording and alerting rules
// (callmon.rules.yml) and their promtool unit tests; this file runs them
// under `go test` and checks what promtool cannot: every alert is actionable
// and every alert is tested both firing and silent.
package rules

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	rulesFile = "callmon.rules.yml"
	testsFile = "callmon.rules.test.yml"
)

// promtool runs promtool with args in this directory and fails the test with
// its output if it fails. A missing promtool fails too: skipping would let
// broken rules pass CI unnoticed.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found: install Debian's prometheus package (apt-get install prometheus)")
	}
	out, err := exec.CommandContext(t.Context(), path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) { promtool(t, "check", "rules", rulesFile) }

func TestPromtoolTestRules(t *testing.T) { promtool(t, "test", "rules", testsFile) }

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type alertTest struct {
	Alertname string `yaml:"alertname"`
	EvalTime  string `yaml:"eval_time"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	} `yaml:"exp_alerts"`
}

type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name       string      `yaml:"name"`
		AlertTests []alertTest `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadRules(t *testing.T) (records []string, alerts []rule) {
	t.Helper()
	var rf ruleFile
	load(t, rulesFile, &rf)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				alerts = append(alerts, r)
			} else {
				records = append(records, r.Record)
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatalf("%s: no alerts", rulesFile)
	}
	return records, alerts
}

// The dashboard queries these names; renaming one silently empties a panel.
func TestRecordingRuleContract(t *testing.T) {
	records, _ := loadRules(t)
	for _, name := range []string{
		"queue:callmon_calls_offered:increase1h",
		"queue:callmon_calls_answered_within_threshold:increase1h",
		"queue:callmon_calls_short_abandoned:increase1h",
		"queue:callmon_service_level:ratio1h",
		"queue:callmon_service_level:ratio15m",
	} {
		if !slices.Contains(records, name) {
			t.Errorf("recording rule %s missing from %s", name, rulesFile)
		}
	}
}

func TestAlertsAreActionable(t *testing.T) {
	_, alerts := loadRules(t)
	seen := map[string]bool{}
	for _, a := range alerts {
		if seen[a.Alert] {
			t.Errorf("alert %s defined twice", a.Alert)
		}
		seen[a.Alert] = true
		switch a.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("alert %s: labels.severity %q, want critical, warning or info", a.Alert, a.Labels["severity"])
		}
		if strings.TrimSpace(a.Annotations["summary"]) == "" {
			t.Errorf("alert %s: no annotations.summary", a.Alert)
		}
		d := a.Annotations["description"]
		if strings.TrimSpace(d) == "" {
			t.Errorf("alert %s: no annotations.description", a.Alert)
		} else if !strings.Contains(d, "{{ $value") {
			t.Errorf("alert %s: annotations.description does not show the live value ({{ $value ... }}): %q", a.Alert, d)
		}
	}
}

func TestEveryAlertTested(t *testing.T) {
	_, alerts := loadRules(t)
	var tf testFile
	load(t, testsFile, &tf)
	if !slices.Contains(tf.RuleFiles, rulesFile) {
		t.Errorf("%s: rule_files %v does not load %s", testsFile, tf.RuleFiles, rulesFile)
	}

	names := map[string]bool{}
	for _, a := range alerts {
		names[a.Alert] = true
	}
	fires := map[string]bool{}
	healthy := -1
	for i, tg := range tf.Tests {
		if strings.Contains(strings.ToLower(tg.Name), "healthy day") {
			healthy = i
		}
		for _, at := range tg.AlertTests {
			// promtool passes "exp_alerts: []" for an alert that does not
			// exist, so a misspelt name would make a silence test vacuous.
			if !names[at.Alertname] {
				t.Errorf("%s, test %q: alert_rule_test for unknown alert %q", testsFile, tg.Name, at.Alertname)
			}
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			}
		}
	}
	for _, a := range alerts {
		if !fires[a.Alert] {
			t.Errorf("alert %s: no alert_rule_test in %s where it fires (non-empty exp_alerts)", a.Alert, testsFile)
		}
	}

	if healthy < 0 {
		t.Fatalf("%s: no test named \"healthy day\" checking that no alert fires", testsFile)
	}
	hd := tf.Tests[healthy]
	silent := map[string]bool{}
	for _, at := range hd.AlertTests {
		if len(at.ExpAlerts) > 0 {
			t.Errorf("%s, test %q: %s expected to fire at %s on a healthy day", testsFile, hd.Name, at.Alertname, at.EvalTime)
			continue
		}
		silent[at.Alertname] = true
	}
	for _, a := range alerts {
		if !silent[a.Alert] {
			t.Errorf("%s, test %q: alert %s not checked with exp_alerts: []", testsFile, hd.Name, a.Alert)
		}
	}
}
