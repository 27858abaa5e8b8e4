// Package grafana holds what callmon ships for Grafana and Prometheus: the
// supervisors' dashboard (generated here from Go into dashboards/callmon.json),
// the provisioning files for its datasource and folder, and the recording and
// alerting rules. It is data plus its tests; it imports nothing of callmon.
//
// The dashboard is built from small structs of our own for Grafana's
// dashboard JSON model rather than grafana-foundation-sdk: the dashboard uses
// six panel types and a handful of options, and the SDK would pull in a large
// generated module for that.
package grafana

//go:generate go run ./gen

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Query is one PromQL expression of the dashboard, for tests that run every
// query against a real Prometheus.
type Query struct {
	Panel  string // panel title, or "$queue variable"
	RefID  string // the target's refId
	Expr   string // PromQL with Grafana variables ($queue, $__range, …)
	Legend string // legendFormat
}

// Dashboard returns the dashboard JSON, indented and ending in a newline:
// exactly the bytes of dashboards/callmon.json.
func Dashboard() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<", ">" and "&" readable in descriptions
	enc.SetIndent("", "  ")
	if err := enc.Encode(build()); err != nil {
		return nil, fmt.Errorf("grafana: encode dashboard: %w", err)
	}
	return buf.Bytes(), nil
}

// Queries lists every PromQL expression of the dashboard in dashboard order:
// first the $queue variable, then each panel's targets top to bottom.
//
// The variable's Grafana query is label_values(callmon_queue_target_ratio,
// queue), which is not PromQL: Grafana answers it with a series lookup of
// callmon_queue_target_ratio, so that selector is what is listed here.
func Queries() []Query {
	d := build()
	qs := []Query{{Panel: "$queue variable", RefID: "A", Expr: queueVariableMetric, Legend: "{{queue}}"}}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				qs = append(qs, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Legend: t.LegendFormat})
			}
			if p.Panels != nil {
				walk(*p.Panels)
			}
		}
	}
	walk(d.Panels)
	return qs
}

// DatasourceUID is the uid of the Prometheus datasource provisioned by
// provisioning/datasources/callmon.yml, the default of the dashboard's
// datasource variable.
const DatasourceUID = "prometheus"

const queueVariableMetric = "callmon_queue_target_ratio"

// The JSON model. Only the fields callmon uses; Grafana fills in the rest
// with its defaults when it loads the dashboard.

type dashboard struct {
	UID                  string      `json:"uid"`
	Title                string      `json:"title"`
	Description          string      `json:"description"`
	Tags                 []string    `json:"tags"`
	Timezone             string      `json:"timezone"`
	Editable             bool        `json:"editable"`
	GraphTooltip         int         `json:"graphTooltip"`
	FiscalYearStartMonth int         `json:"fiscalYearStartMonth"`
	LiveNow              bool        `json:"liveNow"`
	Refresh              string      `json:"refresh"`
	SchemaVersion        int         `json:"schemaVersion"`
	Version              int         `json:"version"`
	Time                 timeRange   `json:"time"`
	TimePicker           timePicker  `json:"timepicker"`
	Annotations          annotations `json:"annotations"`
	Links                []any       `json:"links"`
	Templating           templating  `json:"templating"`
	Panels               []panel     `json:"panels"`
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type timePicker struct {
	RefreshIntervals []string `json:"refresh_intervals"`
}

type annotations struct {
	List []annotation `json:"list"`
}

type annotation struct {
	BuiltIn    int            `json:"builtIn"`
	Datasource dsRef          `json:"datasource"`
	Enable     bool           `json:"enable"`
	Hide       bool           `json:"hide"`
	IconColor  string         `json:"iconColor"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Target     map[string]any `json:"target,omitempty"`
}

type templating struct {
	List []variable `json:"list"`
}

type variable struct {
	Name        string  `json:"name"`
	Label       string  `json:"label"`
	Description string  `json:"description"`
	Type        string  `json:"type"`
	Datasource  *dsRef  `json:"datasource,omitempty"`
	Query       any     `json:"query"`
	Definition  string  `json:"definition,omitempty"`
	Current     current `json:"current"`
	Options     []any   `json:"options"`
	Multi       bool    `json:"multi"`
	IncludeAll  bool    `json:"includeAll"`
	AllValue    string  `json:"allValue,omitempty"`
	Refresh     int     `json:"refresh"`
	Regex       string  `json:"regex"`
	Sort        int     `json:"sort"`
	Hide        int     `json:"hide"`
}

type current struct {
	Text  any `json:"text"`
	Value any `json:"value"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Datasource  *dsRef         `json:"datasource,omitempty"`
	GridPos     gridPos        `json:"gridPos"`
	Interval    string         `json:"interval,omitempty"`
	Targets     []target       `json:"targets,omitempty"`
	FieldConfig *fieldConfig   `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"` // rows only
	Panels      *[]panel       `json:"panels,omitempty"`    // rows only: [] when expanded
}

type target struct {
	Datasource   dsRef  `json:"datasource"`
	EditorMode   string `json:"editorMode"`
	Expr         string `json:"expr"`
	Instant      bool   `json:"instant"`
	Range        bool   `json:"range"`
	LegendFormat string `json:"legendFormat"`
	RefID        string `json:"refId"`
}

type fieldConfig struct {
	Defaults  fieldDefaults `json:"defaults"`
	Overrides []override    `json:"overrides"`
}

type fieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	NoValue    string         `json:"noValue,omitempty"`
	Color      map[string]any `json:"color"`
	Thresholds thresholds     `json:"thresholds"`
	Mappings   []mapping      `json:"mappings"`
	Custom     map[string]any `json:"custom,omitempty"`
}

type thresholds struct {
	Mode  string `json:"mode"`
	Steps []step `json:"steps"`
}

// step is one threshold; the first (base) step has value null.
type step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

type mapping struct {
	Type    string                  `json:"type"`
	Options map[string]mappingValue `json:"options"`
}

type mappingValue struct {
	Color string `json:"color"`
	Index int    `json:"index"`
	Text  string `json:"text"`
}

type override struct {
	Matcher    matcher    `json:"matcher"`
	Properties []property `json:"properties"`
}

type matcher struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}

type property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Helpers for building panels.

var datasource = dsRef{Type: "prometheus", UID: "${datasource}"}

func f(v float64) *float64 { return &v }
func i(v int) *int         { return &v }

// steps builds thresholds from a base colour and (value, colour) pairs.
func steps(base string, more ...any) thresholds {
	t := thresholds{Mode: "absolute", Steps: []step{{Color: base}}}
	for k := 0; k+1 < len(more); k += 2 {
		t.Steps = append(t.Steps, step{Value: f(more[k].(float64)), Color: more[k+1].(string)})
	}
	return t
}

// q is a range query (for graphs and sparklines); qi an instant query, for
// numbers over the whole time range ([$__range]).
func q(expr, legend string) target {
	return target{Datasource: datasource, EditorMode: "code", Expr: expr, Range: true, LegendFormat: legend}
}

func qi(expr, legend string) target {
	return target{Datasource: datasource, EditorMode: "code", Expr: expr, Instant: true, LegendFormat: legend}
}

func defaults(unit string, t thresholds) *fieldConfig {
	return &fieldConfig{
		Defaults:  fieldDefaults{Unit: unit, Color: map[string]any{"mode": "thresholds"}, Thresholds: t, Mappings: []mapping{}},
		Overrides: []override{},
	}
}

var reduceLast = map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}

func statPanel(title, desc string, w int, unit string, t thresholds, targets ...target) panel {
	return panel{
		Type: "stat", Title: title, Description: desc, GridPos: gridPos{W: w},
		Targets: targets, FieldConfig: defaults(unit, t),
		Options: map[string]any{
			"reduceOptions":     reduceLast,
			"colorMode":         "value",
			"graphMode":         "area",
			"justifyMode":       "auto",
			"orientation":       "auto",
			"textMode":          "auto",
			"wideLayout":        true,
			"showPercentChange": false,
		},
	}
}

func gaugePanel(title, desc string, w int, targets ...target) panel {
	p := panel{
		Type: "gauge", Title: title, Description: desc, GridPos: gridPos{W: w},
		Targets: targets, FieldConfig: defaults("percentunit", targetColours()),
		Options: map[string]any{
			"reduceOptions":        reduceLast,
			"orientation":          "auto",
			"showThresholdLabels":  false,
			"showThresholdMarkers": true,
			"minVizHeight":         75,
			"minVizWidth":          75,
			"sizing":               "auto",
		},
	}
	p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max = f(0), f(1)
	p.FieldConfig.Defaults.Decimals = i(1)
	return p
}

// targetColours: red below, green from the default service-level target of
// 90 %. Each queue's own target is callmon_queue_target_ratio; thresholds
// cannot follow a metric, so the descriptions say what the colours assume.
func targetColours() thresholds { return steps("red", 0.9, "green") }

func barGaugePanel(title, desc string, w int, unit string, t thresholds, targets ...target) panel {
	return panel{
		Type: "bargauge", Title: title, Description: desc, GridPos: gridPos{W: w},
		Targets: targets, FieldConfig: defaults(unit, t),
		Options: map[string]any{
			"reduceOptions": reduceLast,
			"displayMode":   "gradient",
			"orientation":   "horizontal",
			"showUnfilled":  true,
			"valueMode":     "color",
			"namePlacement": "auto",
			"sizing":        "auto",
			"minVizHeight":  16,
			"minVizWidth":   8,
			"maxVizHeight":  300,
		},
	}
}

func timeSeriesPanel(title, desc string, w int, unit string, custom map[string]any, targets ...target) panel {
	c := map[string]any{
		"drawStyle":         "line",
		"lineInterpolation": "linear",
		"lineWidth":         2,
		"fillOpacity":       10,
		"gradientMode":      "none",
		"showPoints":        "auto",
		"pointSize":         5,
		"spanNulls":         false,
		"axisPlacement":     "auto",
		"axisLabel":         "",
		"axisBorderShow":    false,
		"axisCenteredZero":  false,
		"axisColorMode":     "text",
		"barAlignment":      -1, // a bar covers the interval that ends at its timestamp
		"insertNulls":       false,
		"scaleDistribution": map[string]any{"type": "linear"},
		"stacking":          map[string]any{"mode": "none", "group": "A"},
		"thresholdsStyle":   map[string]any{"mode": "off"},
		"hideFrom":          map[string]any{"legend": false, "tooltip": false, "viz": false},
	}
	for k, v := range custom {
		c[k] = v
	}
	fc := defaults(unit, steps("green"))
	fc.Defaults.Color = map[string]any{"mode": "palette-classic"}
	fc.Defaults.Custom = c
	return panel{
		Type: "timeseries", Title: title, Description: desc, GridPos: gridPos{W: w},
		Targets: targets, FieldConfig: fc,
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []string{}},
			"tooltip": map[string]any{"mode": "multi", "sort": "none"},
		},
	}
}

// bars: the custom options of a bar chart over time, one bar per
// $__interval, stacked.
func bars() map[string]any {
	return map[string]any{
		"drawStyle":   "bars",
		"fillOpacity": 80,
		"lineWidth":   1,
		"stacking":    map[string]any{"mode": "normal", "group": "A"},
	}
}

// colourByName gives the series with display name name a fixed colour.
func colourByName(name, colour string) override {
	return override{
		Matcher:    matcher{ID: "byName", Options: name},
		Properties: []property{{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": colour}}},
	}
}

// upDown maps 1 and 0 to words and colours for a health stat.
func upDown(up, down string) []mapping {
	return []mapping{{Type: "value", Options: map[string]mappingValue{
		"1": {Text: up, Color: "green", Index: 0},
		"0": {Text: down, Color: "red", Index: 1},
	}}}
}

// layout places rows and panels top to bottom on Grafana's 24-column grid
// and numbers them.
type layout struct {
	panels []panel
	nextID int
	y      int
}

func (l *layout) id() int { l.nextID++; return l.nextID }

func (l *layout) row(title string) {
	l.panels = append(l.panels, panel{
		ID: l.id(), Type: "row", Title: title,
		GridPos:   gridPos{H: 1, W: 24, X: 0, Y: l.y},
		Collapsed: new(bool), Panels: &[]panel{},
	})
	l.y++
}

// line puts panels side by side, left to right, all h high, each as wide
// as its GridPos.W; the widths must add up to at most 24.
func (l *layout) line(h int, ps ...panel) {
	x := 0
	for _, p := range ps {
		p.ID = l.id()
		p.GridPos = gridPos{H: h, W: p.GridPos.W, X: x, Y: l.y}
		x += p.GridPos.W
		if x > 24 {
			panic(fmt.Sprintf("grafana: line at y=%d is %d columns wide", l.y, x))
		}
		ds := datasource
		p.Datasource = &ds
		for k := range p.Targets {
			p.Targets[k].RefID = string(rune('A' + k))
		}
		l.panels = append(l.panels, p)
	}
	l.y += h
}

const (
	inQueue = `queue=~"$queue"`

	slDefinition = "answered within threshold / (offered − short abandoned)"
	colours90    = "The colours assume the default 90 % target: red below 90 %, green from 90 %; each queue's own target is callmon_queue_target_ratio."
)

func build() dashboard {
	var l layout

	// 1. Now.
	l.row("Now")
	l.line(7,
		gaugePanel("Service level today",
			"Service level = "+slDefinition+", over the calls that entered the queue today (local day, Europe/Amsterdam, "+
				"from call records so it survives a callmon restart). Answered means the agent's channel went Up and was bridged "+
				"with the caller; within threshold means wait ≤ threshold (default 30 s). A call still waiting counts as a miss "+
				"once it passed the threshold. With no calls yet it reads 100 % (nothing missed). "+colours90,
			4, q(`callmon_service_level_ratio{window="today",`+inQueue+`}`, "{{queue}}")),
		gaugePanel("Service level this 15 minutes",
			"Service level = "+slDefinition+", over the calls that entered the queue in the running 15-minute interval "+
				"(:00, :15, :30, :45). A call still waiting counts as a miss once it passed the threshold. Reads 100 % at the "+
				"start of an interval with no calls yet, and swings with few calls. "+colours90,
			4, q(`callmon_service_level_ratio{window="interval",`+inQueue+`}`, "{{queue}}")),
		gaugePanel("Service level last hour",
			"Service level = "+slDefinition+" over the last 60 minutes, from callmon's counters in Prometheus "+
				"(recording rule queue:callmon_service_level:ratio1h): each call is counted when it happens (offered at queue "+
				"entry, answered within threshold at answer, short abandoned at hang-up), so a call still waiting is not yet a "+
				"miss here. Empty when no call was offered in the hour. "+colours90,
			4, q(`queue:callmon_service_level:ratio1h{`+inQueue+`}`, "{{queue}}")),
		statPanel("Calls waiting",
			"Callers waiting now in the selected queues: they entered the queue (StasisStart) and have not been answered "+
				"(agent's channel Up and bridged) nor hung up. Summed over the selected queues.",
			3, "none", steps("green"),
			q(`sum(callmon_calls_waiting{`+inQueue+`})`, "waiting")),
		statPanel("Oldest waiting call",
			"Wait so far (now − queue entry) of the caller who has waited longest in the selected queues; 0 when nobody "+
				"waits. The threshold is per queue (callmon_queue_threshold_seconds); the colours assume the default 30 s: "+
				"orange from 20 s, red from 30 s, when that call already counts as a miss in the live service level.",
			3, "s", steps("green", 20.0, "orange", 30.0, "red"),
			q(`max(callmon_oldest_waiting_call_seconds{`+inQueue+`})`, "oldest")),
		agentsPanel(),
	)

	// 2. Service level through the day.
	l.row("Service level through the day")
	l.line(9, serviceLevelPerInterval(),
		offeredPerInterval())

	// 2b. What the next quarter-hour needs.
	l.row("Staffing and expected wait")
	model := " Erlang A (M/M/n+M) takes callers' patience into account, Erlang C assumes nobody hangs up and so asks more agents; " +
		"both are mapped to callmon's service level (" + slDefinition + ") and get the measured occupancy per call (ringing + " +
		"talking + wrap-up), patience and ring times. The forecast is the same quarter-hour of the last four same weekdays, scaled by " +
		"how today's last 15 minutes compare with theirs (without that history: today's last 15 minutes carried on). Summed over " +
		"the selected queues, as if each had its own agents."
	expected := statPanel("Expected wait for a new caller",
		"How long a caller who joins the queue now is expected to wait (queue-length estimator with abandonment: the callers in "+
			"line, the agents serving the queue, their recent occupancy per call, abandons and ring time). Longest of the selected "+
			"queues; ∞ while no agent serves the queue. Colours assume the default 30 s threshold.",
		4, "s", steps("green", 20.0, "orange", 30.0, "red"),
		q(`max(callmon_queue_expected_wait_seconds{`+inQueue+`})`, "expected wait"))
	forecast := statPanel("Calls forecast",
		"Calls expected to be offered in this and in the next 15-minute interval."+model,
		4, "short", steps("blue"),
		q(`sum(callmon_queue_forecast_calls{interval="current",`+inQueue+`})`, "this 15 minutes"),
		q(`sum(callmon_queue_forecast_calls{interval="next",`+inQueue+`})`, "next 15 minutes"))
	forecast.Options["textMode"] = "value_and_name"
	forecast.FieldConfig.Defaults.Decimals = i(0)
	needed := timeSeriesPanel("Agents needed and staffed",
		"Fewest agents expected to reach the target (90 % within 30 s by default) in this and the next 15 minutes, beside the "+
			"agents staffed now (logged in, not paused, online: available, ringing or on a call). The alert "+
			"CallmonUnderstaffedNextInterval fires when Erlang A's figure for the next interval exceeds the staffed line for 5 "+
			"minutes."+model,
		8, "short", nil,
		q(`sum(callmon_queue_agents_needed{interval="current",model="erlang_a",`+inQueue+`})`, "needed now (Erlang A)"),
		q(`sum(callmon_queue_agents_needed{interval="next",model="erlang_a",`+inQueue+`})`, "needed next 15 min (Erlang A)"),
		q(`sum(callmon_queue_agents_needed{interval="current",model="erlang_c",`+inQueue+`})`, "needed now (Erlang C)"),
		q(`max(sum by (instance) (callmon_agents{state=~"available|ringing|on_call",`+inQueue+`}))`, "staffed"))
	needed.FieldConfig.Defaults.Decimals = i(0)
	needed.FieldConfig.Defaults.Min = f(0)
	level := statPanel("Expected service level with the agents staffed now",
		"The service level the agents staffed now are expected to reach in this and the next 15 minutes (Erlang A; Erlang C "+
			"reads 0 % whenever the load reaches the agents, since nobody would hang up)."+model+" "+colours90,
		4, "percentunit", targetColours(),
		q(`min(callmon_queue_expected_service_level_ratio{interval="current",model="erlang_a",`+inQueue+`})`, "this 15 minutes"),
		q(`min(callmon_queue_expected_service_level_ratio{interval="next",model="erlang_a",`+inQueue+`})`, "next 15 minutes"))
	level.Options["textMode"] = "value_and_name"
	level.FieldConfig.Defaults.Decimals = i(0)
	rates := statPanel("Handle time and patience",
		"Mean time an agent is occupied per call (rung to free again) and callers' mean patience estimated from censored waits "+
			"(total waiting time ÷ abandons; answered callers' waits count too), over each queue's recent calls. Before any call: "+
			"the assumed 180 s and 120 s.",
		4, "s", steps("blue"),
		q(`max(callmon_queue_handle_seconds{`+inQueue+`})`, "handle"),
		q(`max(callmon_queue_patience_seconds{`+inQueue+`})`, "patience"))
	rates.Options["textMode"] = "value_and_name"
	l.line(7, expected, forecast, needed, level, rates)

	// 3. Wait distribution.
	l.row("Wait distribution")
	within := func(le string) target {
		return qi(`sum(increase(callmon_queue_wait_seconds_bucket{`+inQueue+`,le="`+le+`"}[$__range])) / `+
			`sum(increase(callmon_queue_wait_seconds_count{`+inQueue+`}[$__range]))`, "≤ "+le+" s")
	}
	quantile := func(phi, window string) string {
		return `histogram_quantile(` + phi + `, sum by (le) (` + window + `(callmon_queue_wait_seconds_bucket{` + inQueue + `}[` +
			map[string]string{"increase": "$__range", "rate": "$__rate_interval"}[window] + `])))`
	}
	waitDefinition := "Wait = answered time − queue entry time, of answered calls only (agent's channel Up and bridged with the caller); " +
		"abandoned calls are not in it."
	withinPanel := barGaugePanel("Answered within 10, 20, 30, 60 s",
		"Of the calls answered in the time range, the share whose wait was at most 10, 20, 30 and 60 seconds. "+waitDefinition+
			" This is not the service level: that also counts abandoned calls as misses.",
		8, "percentunit", steps("blue"),
		within("10"), within("20"), within("30"), within("60"))
	withinPanel.FieldConfig.Defaults.Min, withinPanel.FieldConfig.Defaults.Max = f(0), f(1)
	withinPanel.FieldConfig.Defaults.Decimals = i(1)
	p50p90 := statPanel("Wait p50 and p90",
		"Half of the calls answered in the time range waited less than p50, 90 % less than p90. "+waitDefinition+
			" Estimated from the histogram buckets (edges 1, 2, 5, 10, 15, 20, 30, 45, 60 s, …), so exact only to a bucket; "+
			"callmon report gives the exact figures from call records. Colours assume the default 30 s threshold.",
		4, "s", steps("green", 20.0, "orange", 30.0, "red"),
		qi(quantile("0.5", "increase"), "p50"), qi(quantile("0.9", "increase"), "p90"))
	p50p90.Options["graphMode"] = "none"
	p50p90.Options["textMode"] = "value_and_name"
	waitOverTime := timeSeriesPanel("Wait p50 and p90 over time",
		"Wait of the calls answered around each point (over Grafana's $__rate_interval, at least 5 minutes): half waited "+
			"less than p50, 90 % less than p90. "+waitDefinition+" Estimated from the histogram buckets; gaps where no call "+
			"was answered. The dashed line is the default 30 s threshold (per queue: callmon_queue_threshold_seconds).",
		12, "s", map[string]any{"thresholdsStyle": map[string]any{"mode": "dashed"}},
		q(quantile("0.5", "rate"), "p50"), q(quantile("0.9", "rate"), "p90"))
	waitOverTime.Interval = "5m"
	waitOverTime.FieldConfig.Defaults.Thresholds = steps("transparent", 30.0, "red")
	waitOverTime.FieldConfig.Defaults.Min = f(0)
	l.line(8, withinPanel, p50p90, waitOverTime)

	// 4. Outcomes.
	l.row("Outcomes")
	outcomeDefinition := "Every offered call ends with exactly one outcome: answered (agent's channel Up and bridged with the caller), " +
		"abandoned (caller hung up before being answered, after more than short_abandon), short_abandoned (hung up within " +
		"short_abandon, default 5 s; left out of the service-level denominator), callback (caller accepted a callback), " +
		"voicemail (caller left a message), transferred, fallback (callmon could not serve the caller in time and handed them to " +
		"the dialplan's fallback: offered, not answered); closed is a call outside opening hours or on a public holiday, never offered."
	outcomesOverTime := timeSeriesPanel("Outcomes per 15 minutes",
		"Finished calls per 15-minute interval (each bar ends at its time; over long ranges a bar covers Grafana's "+
			"$__interval), by outcome, counted when the call ends. "+outcomeDefinition,
		16, "short", bars(),
		q(`sum by (outcome) (increase(callmon_calls_total{`+inQueue+`}[$__interval]))`, "{{outcome}}"))
	outcomesOverTime.Interval = "15m"
	outcomesOverTime.FieldConfig.Overrides = outcomeColours()
	outcomesOverTime.FieldConfig.Defaults.Decimals = i(0)
	outcomesTotal := panel{
		Type: "piechart", Title: "Outcomes in the time range",
		Description: "Finished calls in the time range by outcome, counted when the call ends. " + outcomeDefinition,
		GridPos:     gridPos{W: 8},
		Targets:     []target{qi(`sum by (outcome) (increase(callmon_calls_total{`+inQueue+`}[$__range]))`, "{{outcome}}")},
		FieldConfig: defaults("short", steps("green")),
		Options: map[string]any{
			"reduceOptions": reduceLast,
			"pieType":       "donut",
			"displayLabels": []string{},
			"legend":        map[string]any{"displayMode": "table", "placement": "right", "showLegend": true, "values": []string{"value", "percent"}},
			"tooltip":       map[string]any{"mode": "single", "sort": "none"},
		},
	}
	outcomesTotal.FieldConfig.Defaults.Color = map[string]any{"mode": "palette-classic"}
	outcomesTotal.FieldConfig.Defaults.Decimals = i(0)
	outcomesTotal.FieldConfig.Overrides = outcomeColours()
	l.line(9, outcomesOverTime, outcomesTotal)

	// 5. Callbacks and voicemail.
	l.row("Callbacks and voicemail")
	fromDB := " Read from PostgreSQL at each scrape; missing while callmon cannot read it (see Callback store in callmon health)."
	completed := statPanel("Callbacks completed",
		"Callback tasks done in the time range: on_time when the caller was called back inside the agreed window, late "+
			"when after it. A late callback is a broken promise even though it was kept in the end."+fromDB,
		4, "short", steps("green"),
		qi(`sum by (when) (increase(callmon_callbacks_completed_total{`+inQueue+`}[$__range]))`, "{{when}}"))
	completed.Options["textMode"] = "value_and_name"
	completed.Options["graphMode"] = "none"
	completed.FieldConfig.Defaults.Decimals = i(0)
	completed.FieldConfig.Overrides = []override{colourByName("on_time", "green"), colourByName("late", "orange")}
	offered := statPanel("Callbacks offered and accepted",
		"Callers offered a callback in the time range (instead of waiting on), and callbacks agreed in the dialogue and "+
			"stored as a task (those calls end with outcome callback). Counted by callmon as it happens.",
		4, "short", steps("blue"),
		qi(`sum(increase(callmon_callbacks_offered_total{`+inQueue+`}[$__range]))`, "offered"),
		qi(`sum(increase(callmon_callbacks_accepted_total{`+inQueue+`}[$__range]))`, "accepted"))
	offered.Options["textMode"] = "value_and_name"
	offered.Options["graphMode"] = "none"
	offered.FieldConfig.Defaults.Decimals = i(0)
	notPerQueue := " Voicemail belongs to employees, not queues: the queue filter does not apply."
	l.line(5,
		statPanel("Callbacks pending",
			"Callback tasks not yet done (pending, claimed by an agent, or being dialled): callers we agreed to call back "+
				"within a window."+fromDB,
			4, "short", steps("green"),
			q(`sum(callmon_callbacks_pending{`+inQueue+`})`, "pending")),
		statPanel("Callbacks overdue",
			"Pending or claimed callback tasks whose agreed window has ended: a promise to a caller being broken. Red from 1."+fromDB,
			4, "short", steps("green", 1.0, "red"),
			q(`sum(callmon_callbacks_overdue{`+inQueue+`})`, "overdue")),
		completed,
		offered,
		statPanel("Voicemails waiting",
			"Voicemail messages not yet heard: callers who left a message for an employee who did not answer their direct "+
				"number."+notPerQueue+fromDB,
			4, "short", steps("green"),
			q(`sum(callmon_voicemails_waiting)`, "waiting")),
		statPanel("Voicemails overdue",
			"Voicemail messages still unheard after the close of the next working day after they were left (the end of "+
				"their task's window). Red from 1."+notPerQueue+fromDB,
			4, "short", steps("green", 1.0, "red"),
			q(`sum(callmon_voicemails_overdue)`, "overdue")),
	)
	backlog := timeSeriesPanel("Callbacks pending and overdue over time",
		"Callback tasks not yet done (pending, claimed or being dialled) and, of those, the ones whose agreed window has "+
			"ended (overdue: a promise being broken), through the time range."+fromDB,
		12, "short", nil,
		q(`sum(callmon_callbacks_pending{`+inQueue+`})`, "pending"),
		q(`sum(callmon_callbacks_overdue{`+inQueue+`})`, "overdue"))
	backlog.FieldConfig.Defaults.Decimals = i(0)
	backlog.FieldConfig.Overrides = []override{colourByName("pending", "blue"), colourByName("overdue", "red")}
	perEmployee := barGaugePanel("Voicemails per employee",
		"Per employee: voicemail messages not yet heard (waiting), and those still unheard after the close of the next "+
			"working day after they were left (overdue)."+notPerQueue+fromDB,
		12, "short", steps("green"),
		q(`sum by (employee) (callmon_voicemails_waiting)`, "{{employee}} waiting"),
		q(`sum by (employee) (callmon_voicemails_overdue)`, "{{employee}} overdue"))
	perEmployee.FieldConfig.Defaults.Decimals = i(0)
	perEmployee.FieldConfig.Overrides = []override{{
		Matcher:    matcher{ID: "byFrameRefID", Options: "B"},
		Properties: []property{{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "red"}}},
	}}
	l.line(8, backlog, perEmployee)

	// 6. callmon health.
	l.row("callmon health")
	ariConnected := statPanel("ARI connected",
		"1 while callmon's events websocket to Asterisk (ARI) is up. While DISCONNECTED, Stasis() fails for new calls and "+
			"the dialplan sends them to its fallback: they are not measured, and the live numbers above stand still. "+
			"After a reconnect callmon rebuilds its view of the calls from Asterisk before trusting new events.",
		5, "none", steps("red", 1.0, "green"),
		q(`min(callmon_ari_connected)`, "connected"))
	ariConnected.FieldConfig.Defaults.Mappings = upDown("connected", "DISCONNECTED")
	ariConnected.Options["colorMode"] = "background"
	ariConnected.Options["graphMode"] = "none"
	callbackStore := statPanel("Callback store",
		"1 when callmon could read the callback and voicemail tasks from PostgreSQL at the last scrape (callmon_callbacks_up). "+
			"While DOWN the callback and voicemail numbers are missing, and finished calls wait in the spool.",
		4, "none", steps("red", 1.0, "green"),
		q(`min(callmon_callbacks_up)`, "store"))
	callbackStore.FieldConfig.Defaults.Mappings = upDown("up", "DOWN")
	callbackStore.Options["colorMode"] = "background"
	callbackStore.Options["graphMode"] = "none"
	counted := func(title, desc string, t thresholds, tg target) panel {
		p := statPanel(title, desc, 5, "short", t, tg)
		p.Options["graphMode"] = "none"
		p.FieldConfig.Defaults.Decimals = i(0)
		return p
	}
	l.line(5,
		ariConnected,
		counted("ARI reconnects",
			"Times in the time range that callmon connected the ARI events websocket again after losing it. Calls that "+
				"arrived while it was down went to the dialplan's fallback and are not measured.",
			steps("green", 1.0, "orange"),
			qi(`sum(increase(callmon_ari_reconnects_total[$__range]))`, "reconnects")),
		counted("ARI events dropped",
			"ARI events lost before processing in the time range. Stays 0: intake appends to unbounded per-call mailboxes "+
				"and never discards, so anything above 0 is a bug in callmon. Red from 1.",
			steps("green", 1.0, "red"),
			qi(`sum(increase(callmon_ari_events_dropped_total[$__range]))`, "dropped")),
		callbackStore,
		statPanel("Spool backlog",
			"Finished calls not yet written to PostgreSQL (queued in memory or in the spool file). Above 0 for more than a "+
				"few seconds means PostgreSQL is unreachable: the call records (today's service level after a restart, callmon "+
				"report) catch up when it is back. Orange from 1, red from 100.",
			5, "short", steps("green", 1.0, "orange", 100.0, "red"),
			q(`sum(callmon_spool_records)`, "records")),
	)
	lag := timeSeriesPanel("ARI event lag p99",
		"99th percentile of receive time − Asterisk's event timestamp. Waits are measured with Asterisk's timestamps, so "+
			"lag changes no measured wait, but while it grows the live numbers run behind Asterisk.",
		8, "s", nil,
		q(`histogram_quantile(0.99, sum by (le) (rate(callmon_ari_event_lag_seconds_bucket[$__rate_interval])))`, "p99"))
	lag.FieldConfig.Defaults.Min = f(0)
	depth := timeSeriesPanel("Processing queue depth",
		"ARI events and messages received but not yet processed, waiting in the per-call mailboxes. Near 0 when callmon "+
			"keeps up; a steady rise means the call state machines fall behind the event stream.",
		8, "short", nil,
		q(`max(callmon_ari_processing_queue_depth)`, "depth"))
	depth.FieldConfig.Defaults.Min = f(0)
	skipped := barGaugePanel("ARI events skipped by type",
		"ARI events received in the time range but skipped, by event type: types callmon does not handle (unknown: e.g. "+
			"ChannelTransfer, ChannelToneDetected, RESTResponse) and malformed frames that could not be read. Skipping is "+
			"harmless for known-unneeded types; malformed above 0 is worth a look.",
		8, "short", steps("blue"),
		qi(`sum by (type) (increase(callmon_ari_events_skipped_total[$__range]))`, "{{type}}"))
	skipped.FieldConfig.Defaults.Decimals = i(0)
	l.line(8, lag, depth, skipped)

	return dashboard{
		UID:   "callmon",
		Title: "callmon — service level",
		Description: "Service level of the call centre, live and through the day, for supervisors: " +
			"service level = " + slDefinition + ", with the charter's 90 % within 30 s as default target and threshold.",
		Tags:          []string{"callmon", "asterisk", "service-level"},
		Timezone:      "browser",
		Editable:      true,
		GraphTooltip:  1, // shared crosshair
		Refresh:       "30s",
		SchemaVersion: 39,
		Time:          timeRange{From: "now/d", To: "now"},
		TimePicker:    timePicker{RefreshIntervals: []string{"10s", "30s", "1m", "5m", "15m"}},
		Annotations: annotations{List: []annotation{{
			BuiltIn:    1,
			Datasource: dsRef{Type: "grafana", UID: "-- Grafana --"},
			Enable:     true,
			Hide:       true,
			IconColor:  "rgba(0, 211, 255, 1)",
			Name:       "Annotations & Alerts",
			Type:       "dashboard",
		}}},
		Links: []any{},
		Templating: templating{List: []variable{
			{
				Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus",
				Description: "The Prometheus (or VictoriaMetrics) that scrapes callmon; defaults to the provisioned datasource.",
				Current:     current{Text: "Prometheus", Value: DatasourceUID},
				Options:     []any{}, Refresh: 1,
			},
			{
				Name: "queue", Label: "Queue", Type: "query",
				Description: "Queues to show; direct-dial calls are queue direct.",
				Datasource:  &dsRef{Type: "prometheus", UID: "${datasource}"},
				Query: map[string]any{
					"qryType": 1,
					"query":   "label_values(" + queueVariableMetric + ", queue)",
					"refId":   "PrometheusVariableQueryEditor-VariableQuery",
				},
				Definition: "label_values(" + queueVariableMetric + ", queue)",
				Current:    current{Text: []string{"All"}, Value: []string{"$__all"}},
				Options:    []any{},
				Multi:      true, IncludeAll: true, AllValue: ".*",
				Refresh: 2, // on time range change, so a new queue shows up
				Sort:    1,
			},
		}},
		Panels: l.panels,
	}
}

func agentsPanel() panel {
	p := statPanel("Agents",
		"Agents of the selected queues by state: available (logged in, not paused, free for a call), on_call, paused. "+
			"An agent who serves several queues is counted once in each, so with more than one queue selected the "+
			"numbers can add up to more than the people logged in.",
		6, "none", steps("green"),
		q(`sum by (state) (callmon_agents{`+inQueue+`,state=~"available|on_call|paused"})`, "{{state}}"))
	p.Options["textMode"] = "value_and_name"
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "fixed", "fixedColor": "text"}
	p.FieldConfig.Overrides = []override{
		colourByName("available", "green"),
		colourByName("on_call", "blue"),
		colourByName("paused", "orange"),
	}
	return p
}

func serviceLevelPerInterval() panel {
	p := timeSeriesPanel("Service level per 15 minutes",
		"Each point is one 15-minute interval, ending at the point: service level = "+slDefinition+" over that "+
			"interval, from callmon's counters (recording rule queue:callmon_service_level:ratio15m), each call counted when "+
			"it happens (offered at queue entry, answered within threshold at answer). No point for an interval without "+
			"offered calls. The dashed line is each queue's target (callmon_queue_target_ratio, default 90 %).",
		14, "percentunit", map[string]any{"lineInterpolation": "stepBefore", "showPoints": "always"},
		q(`queue:callmon_service_level:ratio15m{`+inQueue+`}`, "{{queue}}"),
		q(`callmon_queue_target_ratio{`+inQueue+`}`, "target {{queue}}"))
	// One point per 15-minute interval: Grafana's step (and $__interval)
	// is at least 15m, aligned to the quarter hour.
	p.Interval = "15m"
	p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max = f(0), f(1)
	p.FieldConfig.Overrides = []override{{
		Matcher: matcher{ID: "byFrameRefID", Options: "B"},
		Properties: []property{
			{ID: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []int{10, 10}}},
			{ID: "custom.lineInterpolation", Value: "linear"},
			{ID: "custom.showPoints", Value: "never"},
			{ID: "custom.fillOpacity", Value: 0},
			{ID: "custom.lineWidth", Value: 1},
			{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": "red"}},
		},
	}}
	return p
}

func offeredPerInterval() panel {
	p := timeSeriesPanel("Offered calls per 15 minutes",
		"Calls offered (entered a queue while it was open) per 15-minute interval, each bar ending at its time, counted at "+
			"queue entry. Calls outside opening hours or on a public holiday are closed, not offered. Over ranges of several "+
			"days a bar covers Grafana's $__interval, more than 15 minutes.",
		10, "short", bars(),
		q(`sum by (queue) (increase(callmon_calls_offered_total{`+inQueue+`}[$__interval]))`, "{{queue}}"))
	p.Interval = "15m"
	p.FieldConfig.Defaults.Decimals = i(0)
	return p
}

func outcomeColours() []override {
	return []override{
		colourByName("answered", "green"),
		colourByName("abandoned", "red"),
		colourByName("short_abandoned", "orange"),
		colourByName("callback", "blue"),
		colourByName("voicemail", "purple"),
		colourByName("transferred", "yellow"),
		colourByName("fallback", "dark-red"),
		colourByName("closed", "text"),
	}
}
