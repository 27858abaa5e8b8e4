// Command render draws the supervisors' Grafana dashboard
// (grafana/dashboards/callmon.json) as one static HTML page from live
// Prometheus data, for the picture in the README: Grafana itself is not
// needed. It is a dev tool and an approximation of Grafana's rendering:
// the panel types, options and units the dashboard uses, nothing more.
//
//	go run ./grafana/render --prometheus http://127.0.0.1:9090 --out /tmp/dashboard.html \
//	    --from 2026-11-24T09:00:00+01:00 --to 2026-11-24T18:30:00+01:00 --queue general
//
// Each target is run as Grafana would run it: range queries
// (/api/v1/query_range) between --from and --to with Grafana's step and
// $__interval for the panel's width and min interval, instant queries
// (/api/v1/query) at --to; stat, gauge and bar gauge panels reduce a range
// result to its last non-null value.
//
// The record subcommand turns a sped-up `callmon demo` into a day of
// Prometheus data in the demo's simulated time (see README.md):
//
//	callmon demo --speed 60 ... | go run ./grafana/render record --out /tmp/callmon.om
//
// It scrapes the demo's /metrics every --every of real time, reads the
// demo's summary lines on stdin to map real time to simulated time, and
// writes the samples stamped with simulated time as OpenMetrics, for
// promtool tsdb create-blocks-from openmetrics.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "record" {
		err = record(context.Background(), os.Args[2:], os.Stdin, os.Stderr)
	} else {
		err = run(context.Background(), os.Args[1:], os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

// ---------------------------------------------------------------------------
// record

var (
	bannerRE  = regexp.MustCompile(`simulated day \w+ (\d{4}-\d\d-\d\d) (\d\d:\d\d), ([0-9.]+)x speed`)
	summaryRE = regexp.MustCompile(`^(?:final )?(\d\d):(\d\d):(\d\d) offered=`)
)

// scrape is one /metrics body and the real time it was taken.
type scrape struct {
	at   time.Time
	body []byte
}

// clockFit maps real time to the demo's simulated time: sim = real×speed +
// offset. Each summary line gives an offset; the largest is the best, as
// the printed simulated time is truncated to the second and the line
// arrives after the clock was read, both of which lower it.
type clockFit struct {
	day    time.Time // the simulated day at 00:00
	speed  float64
	offset float64 // seconds
	n      int
	last   time.Time // last simulated time seen, to notice midnight
}

func (c *clockFit) line(s string, real time.Time, loc *time.Location) error {
	if m := bannerRE.FindStringSubmatch(s); m != nil {
		d, err := time.ParseInLocation("2006-01-02", m[1], loc)
		if err != nil {
			return err
		}
		c.day = d
		if c.speed == 0 {
			c.speed, _ = strconv.ParseFloat(m[3], 64)
		}
		return nil
	}
	m := summaryRE.FindStringSubmatch(s)
	if m == nil || c.day.IsZero() || c.speed == 0 {
		return nil
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	se, _ := strconv.Atoi(m[3])
	sim := time.Date(c.day.Year(), c.day.Month(), c.day.Day(), h, mi, se, 0, loc)
	for !c.last.IsZero() && sim.Before(c.last.Add(-time.Hour)) {
		c.day = c.day.AddDate(0, 0, 1)
		sim = sim.AddDate(0, 0, 1)
	}
	c.last = sim
	off := secs(sim) - c.speed*secs(real)
	if c.n == 0 || off > c.offset {
		c.offset = off
	}
	c.n++
	return nil
}

// fitMu guards the clockFit shared by the stdin reader and record.
var fitMu sync.Mutex

func (c *clockFit) lineLocked(s string, real time.Time, loc *time.Location) error {
	fitMu.Lock()
	defer fitMu.Unlock()
	return c.line(s, real, loc)
}

func (c *clockFit) sim(real time.Time) float64 { return c.speed*secs(real) + c.offset }

func secs(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func record(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	metrics := fs.String("metrics", "http://127.0.0.1:9464/metrics", "the demo's metrics URL")
	every := fs.Duration("every", 250*time.Millisecond, "real time between scrapes (at --speed 60, 250ms is a scrape every 15 s of simulated time)")
	speed := fs.Float64("speed", 0, "the demo's --speed (default: read from its banner)")
	tz := fs.String("tz", "Europe/Amsterdam", "time zone of the demo's summary lines")
	out := fs.String("out", "callmon.om", "OpenMetrics file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return err
	}
	fit := &clockFit{speed: *speed}
	lines := make(chan error, 1)
	var fitErr error
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			now := time.Now()
			fmt.Fprintln(stderr, sc.Text())
			if err := fit.lineLocked(sc.Text(), now, loc); err != nil && fitErr == nil {
				fitErr = err
			}
		}
		lines <- sc.Err()
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	var scrapes []scrape
	tick := time.NewTicker(*every)
	defer tick.Stop()
	started := false
loop:
	for {
		select {
		case err := <-lines:
			if err != nil {
				return err
			}
			break loop
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			at := time.Now()
			resp, err := client.Get(*metrics)
			if err != nil {
				if started {
					fmt.Fprintln(stderr, "record:", err)
				}
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				continue
			}
			started = true
			scrapes = append(scrapes, scrape{at: at, body: body})
		}
	}
	fitMu.Lock()
	defer fitMu.Unlock()
	if fitErr != nil {
		return fitErr
	}
	if fit.n == 0 {
		return errors.New("no summary lines of callmon demo on stdin: cannot map real to simulated time")
	}
	if len(scrapes) == 0 {
		return errors.New("no scrapes of " + *metrics)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := writeOpenMetrics(w, scrapes, fit); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	from := time.Unix(0, int64(fit.sim(scrapes[0].at)*1e9)).In(loc)
	to := time.Unix(0, int64(fit.sim(scrapes[len(scrapes)-1].at)*1e9)).In(loc)
	fmt.Fprintf(stderr, "record: %d scrapes, simulated %s to %s, written to %s\n", len(scrapes),
		from.Format(time.RFC3339), to.Format(time.RFC3339), *out)
	fmt.Printf("--from %s --to %s\n", from.Truncate(time.Second).Format(time.RFC3339), to.Truncate(time.Second).Format(time.RFC3339))
	return nil
}

// writeOpenMetrics writes every sample of every scrape with its simulated
// timestamp, leaving out the comments (HELP and TYPE: all series are
// written untyped, which PromQL does not mind) and the process and Go
// runtime series, whose values are in real time.
func writeOpenMetrics(w io.Writer, scrapes []scrape, fit *clockFit) error {
	for _, s := range scrapes {
		ts := strconv.FormatFloat(math.Round(fit.sim(s.at)*1000)/1000, 'f', 3, 64)
		for line := range bytes.Lines(s.body) {
			line = bytes.TrimRight(line, "\n")
			if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("go_")) || bytes.HasPrefix(line, []byte("process_")) {
				continue
			}
			if _, err := fmt.Fprintf(w, "%s %s\n", line, ts); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, "# EOF\n")
	return err
}

// ---------------------------------------------------------------------------
// render: options

type options struct {
	prom      string
	dashboard string
	out       string
	from, to  time.Time
	queues    []string
	scrape    time.Duration
	width     int
	loc       *time.Location
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.prom, "prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
	fs.StringVar(&o.dashboard, "dashboard", "grafana/dashboards/callmon.json", "the dashboard JSON")
	fs.StringVar(&o.out, "out", "dashboard.html", "the HTML page to write")
	from := fs.String("from", "", "start of the time range, RFC 3339 (default: 6h before --to)")
	to := fs.String("to", "", "end of the time range, RFC 3339 (default: now)")
	queue := fs.String("queue", "All", "the $queue variable: All, or queues separated by commas")
	fs.DurationVar(&o.scrape, "scrape-interval", 15*time.Second, "the datasource's scrape interval (Grafana's default 15s): least step, and $__rate_interval")
	fs.IntVar(&o.width, "width", 1600, "page width in pixels")
	tz := fs.String("tz", "Local", "time zone of the time axes and picker (Grafana: the browser's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.loc, err = time.LoadLocation(*tz); err != nil {
		return err
	}
	o.to = time.Now()
	if *to != "" {
		if o.to, err = time.Parse(time.RFC3339, *to); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
	}
	o.from = o.to.Add(-6 * time.Hour)
	if *from != "" {
		if o.from, err = time.Parse(time.RFC3339, *from); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	if !o.from.Before(o.to) {
		return errors.New("--from must be before --to")
	}
	for q := range strings.SplitSeq(*queue, ",") {
		if q = strings.TrimSpace(q); q != "" {
			o.queues = append(o.queues, q)
		}
	}
	raw, err := os.ReadFile(o.dashboard)
	if err != nil {
		return err
	}
	page, height, err := render(ctx, raw, o, http.DefaultClient)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, page, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "render: wrote %s, %d×%d px\n", o.out, o.width, height)
	return nil
}

// ---------------------------------------------------------------------------
// The dashboard JSON model: what grafana/dashboard.go writes. Field names
// match the JSON keys case-insensitively.

type dashboardJSON struct {
	Title      string
	Panels     []panelJSON
	Templating struct {
		List []struct {
			Name, Label, Type, AllValue string
			IncludeAll                  bool
		}
	}
}

type gridPos struct{ H, W, X, Y int }

type panelJSON struct {
	ID                                 int
	Type, Title, Description, Interval string
	GridPos                            gridPos
	Targets                            []targetJSON
	FieldConfig                        struct {
		Defaults  fieldDefaults
		Overrides []struct {
			Matcher struct {
				ID      string
				Options any
			}
			Properties []struct {
				ID    string
				Value any
			}
		}
	}
	Options map[string]any
	Panels  []panelJSON
}

type targetJSON struct {
	Expr, LegendFormat, RefID string
	Instant, Range            bool
}

type fieldDefaults struct {
	Unit       string
	Decimals   *int
	Min, Max   *float64
	NoValue    string
	Color      map[string]any
	Thresholds struct{ Steps []thresholdStep }
	Mappings   []struct {
		Type    string
		Options map[string]struct{ Color, Text string }
	}
	Custom map[string]any
}

type thresholdStep struct {
	Color string
	Value *float64
}

// field is the effective field config of one series: the defaults with
// the panel's overrides applied.
type field struct {
	fieldDefaults
	colorMode, fixedColor string
}

func (p *panelJSON) field(s series) field {
	f := field{fieldDefaults: p.FieldConfig.Defaults}
	f.Custom = map[string]any{}
	for k, v := range p.FieldConfig.Defaults.Custom {
		f.Custom[k] = v
	}
	f.colorMode, _ = f.Color["mode"].(string)
	f.fixedColor, _ = f.Color["fixedColor"].(string)
	if f.colorMode == "" {
		f.colorMode = "thresholds"
	}
	for _, o := range p.FieldConfig.Overrides {
		opt, _ := o.Matcher.Options.(string)
		switch {
		case o.Matcher.ID == "byName" && opt == s.name:
		case o.Matcher.ID == "byFrameRefID" && opt == s.refID:
		default:
			continue
		}
		for _, pr := range o.Properties {
			switch {
			case pr.ID == "color":
				if m, ok := pr.Value.(map[string]any); ok {
					f.colorMode, _ = m["mode"].(string)
					f.fixedColor, _ = m["fixedColor"].(string)
				}
			case pr.ID == "unit":
				f.Unit, _ = pr.Value.(string)
			case pr.ID == "decimals":
				if v, ok := pr.Value.(float64); ok {
					d := int(v)
					f.Decimals = &d
				}
			case strings.HasPrefix(pr.ID, "custom."):
				f.Custom[strings.TrimPrefix(pr.ID, "custom.")] = pr.Value
			}
		}
	}
	return f
}

// color is the series' colour for value v (NaN: no value), i its index
// among the panel's series for the classic palette.
func (f field) color(v float64, i int) string {
	switch f.colorMode {
	case "fixed":
		return namedColor(f.fixedColor)
	case "palette-classic":
		return classicPalette[i%len(classicPalette)]
	}
	steps := f.Thresholds.Steps
	if len(steps) == 0 {
		return namedColor("green")
	}
	c := steps[0].Color
	for _, s := range steps[1:] {
		if s.Value != nil && !math.IsNaN(v) && v >= *s.Value {
			c = s.Color
		}
	}
	return namedColor(c)
}

// display is the text and colour of value v: value mappings first, then
// the unit.
func (f field) display(v float64, i int) (text, color string) {
	for _, m := range f.Mappings {
		if m.Type != "value" {
			continue
		}
		if r, ok := m.Options[strconv.FormatFloat(v, 'f', -1, 64)]; ok {
			text, color = r.Text, namedColor(r.Color)
			if text == "" {
				text = formatValue(v, f.Unit, f.Decimals)
			}
			if r.Color == "" {
				color = f.color(v, i)
			}
			return text, color
		}
	}
	return formatValue(v, f.Unit, f.Decimals), f.color(v, i)
}

func (f field) str(key, def string) string {
	if v, ok := f.Custom[key].(string); ok {
		return v
	}
	return def
}

func (f field) num(key string, def float64) float64 {
	if v, ok := f.Custom[key].(float64); ok {
		return v
	}
	return def
}

// ---------------------------------------------------------------------------
// Colours of Grafana's dark theme.

var grafanaColors = map[string]string{
	"green": "#73BF69", "red": "#F2495C", "orange": "#FF9830", "yellow": "#FADE2A",
	"blue": "#5794F2", "purple": "#B877D9", "text": "#CCCCDC", "transparent": "transparent",
	"dark-green": "#37872D", "dark-red": "#C4162A", "dark-orange": "#FA6400", "dark-yellow": "#E0B400",
	"dark-blue": "#1F60C4", "dark-purple": "#8F3BB8", "semi-dark-green": "#56A64B", "semi-dark-red": "#E02F44",
}

var classicPalette = []string{
	"#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0",
	"#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
}

func namedColor(c string) string {
	if v, ok := grafanaColors[c]; ok {
		return v
	}
	if c == "" {
		return grafanaColors["green"]
	}
	return c
}

const (
	colBg        = "#111217"
	colPanel     = "#181b1f"
	colBg2       = "#22252b"
	colBorder    = "rgba(204,204,220,0.12)"
	colText      = "#ccccdc"
	colSecondary = "rgba(204,204,220,0.65)"
	colGrid      = "rgba(204,204,220,0.10)"
	fontFamily   = `Inter, "Helvetica Neue", "Liberation Sans", Arial, sans-serif`
)

// ---------------------------------------------------------------------------
// Units, as Grafana formats them (packages/grafana-data valueFormats).

// decimalsFor is Grafana's getDecimalsForValue.
func decimalsFor(v float64) int {
	a := math.Abs(v)
	if a == 0 || math.IsInf(a, 0) || math.IsNaN(a) || v == math.Trunc(v) {
		return 0
	}
	dec := -math.Floor(math.Log10(a)) + 1
	if a/math.Pow(10, -dec) > 2.25 {
		dec++
	}
	return max(0, int(dec))
}

func toFixed(v float64, decimals *int) string {
	// Round off float noise first (100 × 0.9 is 90.00000000000001), so
	// that 0.9 as percentunit is 90 %, not 90.0 %.
	if v != 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	}
	d := decimalsFor(v)
	if decimals != nil {
		d = max(0, *decimals)
	}
	s := strconv.FormatFloat(v, 'f', d, 64)
	if s == "-0" || strings.HasPrefix(s, "-0.") && strings.Trim(s[3:], "0") == "" {
		s = s[1:]
	}
	return s
}

// formatValue formats v in unit as Grafana's stat and axis do.
func formatValue(v float64, unit string, decimals *int) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	switch unit {
	case "percentunit":
		return toFixed(100*v, decimals) + "%"
	case "percent":
		return toFixed(v, decimals) + "%"
	case "s":
		return toSeconds(v, decimals)
	case "ms":
		return toSeconds(v/1000, decimals)
	case "short":
		return scaled(v, decimals, 1000, []string{"", " K", " Mil", " Bil", " Tri"})
	default: // none, ""
		return toFixed(v, decimals)
	}
}

func toSeconds(v float64, d *int) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0 s"
	case a < 1e-6:
		return toFixed(v*1e9, d) + " ns"
	case a < 1e-3:
		return toFixed(v*1e6, d) + " µs"
	case a < 1:
		return toFixed(v*1e3, d) + " ms"
	case a < 60:
		return toFixed(v, d) + " s"
	case a < 3600:
		return toFixed(v/60, d) + " min"
	case a < 86400:
		return toFixed(v/3600, d) + " hour"
	case a < 604800:
		return toFixed(v/86400, d) + " day"
	case a < 31536000:
		return toFixed(v/604800, d) + " week"
	}
	return toFixed(v/3.15569e7, d) + " year"
}

func scaled(v float64, d *int, factor float64, ext []string) string {
	i := 0
	if v != 0 && !math.IsInf(v, 0) {
		i = int(math.Floor(math.Log(math.Abs(v)) / math.Log(factor)))
	}
	i = min(max(i, 0), len(ext)-1)
	return toFixed(v/math.Pow(factor, float64(i)), d) + ext[i]
}

// ---------------------------------------------------------------------------
// Queries

type series struct {
	name   string
	refID  string
	labels map[string]string
	ts, vs []float64 // unix seconds and values; NaN is no value
}

// last is Grafana's lastNotNull.
func (s series) last() float64 {
	for i := len(s.vs) - 1; i >= 0; i-- {
		if !math.IsNaN(s.vs[i]) {
			return s.vs[i]
		}
	}
	return math.NaN()
}

// timing is what Grafana computes for one panel's queries.
type timing struct {
	interval   time.Duration // $__interval
	step       time.Duration // of range queries
	start, end time.Time     // of range queries, aligned to the step
}

// roundInterval is Grafana's rangeutil.roundInterval.
func roundInterval(d time.Duration) time.Duration {
	ms := d.Milliseconds()
	table := []struct{ below, to int64 }{
		{15, 10}, {35, 20}, {75, 50}, {150, 100}, {350, 200}, {750, 500}, {1500, 1000}, {3500, 2000},
		{7500, 5000}, {12500, 10000}, {17500, 15000}, {25000, 20000}, {45000, 30000}, {90000, 60000},
		{210000, 120000}, {450000, 300000}, {750000, 600000}, {1050000, 900000}, {1500000, 1200000},
		{2700000, 1800000}, {5400000, 3600000}, {9000000, 7200000}, {16200000, 10800000},
		{32400000, 21600000}, {86400000, 43200000}, {604800000, 86400000}, {1814400000, 604800000},
	}
	for _, r := range table {
		if ms < r.below {
			return time.Duration(r.to) * time.Millisecond
		}
	}
	return 30 * 24 * time.Hour
}

// parseGrafanaDuration reads "15m", "1h", "30s", ">5m", "1d".
func parseGrafanaDuration(s string) (time.Duration, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), ">")
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		return time.Duration(v) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

// promDuration writes d as a PromQL duration: 15m, 1h, 5m15s, 500ms.
func promDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

// timing of a panel maxDataPoints pixels wide: Grafana's interval for the
// range and width, at least the panel's min interval (else the scrape
// interval); the step of range queries is that interval, and start and
// end are aligned down to it.
func (r *renderer) timing(p panelJSON, maxDataPoints float64) (timing, error) {
	rng := r.o.to.Sub(r.o.from)
	iv := roundInterval(time.Duration(float64(rng) / max(maxDataPoints, 1)))
	low := r.o.scrape
	if p.Interval != "" {
		d, err := parseGrafanaDuration(p.Interval)
		if err != nil {
			return timing{}, fmt.Errorf("panel %q: interval: %w", p.Title, err)
		}
		low = d
	}
	iv = max(iv, low)
	step := max(iv, (rng / 11000).Truncate(time.Second), time.Second)
	align := func(t time.Time) time.Time {
		s := int64(step / time.Second)
		return time.Unix(t.Unix()/s*s, 0)
	}
	return timing{interval: iv, step: step, start: align(r.o.from), end: align(r.o.to)}, nil
}

// expand substitutes the dashboard's and Grafana's variables.
func (r *renderer) expand(expr string, t timing) string {
	rng := r.o.to.Sub(r.o.from).Round(time.Second)
	rate := max(t.interval+r.o.scrape, 4*r.o.scrape)
	rs := strconv.FormatInt(int64(rng/time.Second), 10) + "s" // Grafana writes $__range in seconds
	return strings.NewReplacer(
		"${__rate_interval}", promDuration(rate), "$__rate_interval", promDuration(rate),
		"${__range}", rs, "$__range", rs,
		"${__interval}", promDuration(t.interval), "$__interval", promDuration(t.interval),
		"${queue}", r.queueRegex(), "$queue", r.queueRegex(),
	).Replace(expr)
}

// queueRegex is the $queue variable as Grafana formats a multi-value
// variable for Prometheus: the allValue for All, else the regex-escaped
// values joined with | (in parentheses when more than one).
func (r *renderer) queueRegex() string {
	if len(r.o.queues) == 0 || slices.Contains(r.o.queues, "All") {
		for _, v := range r.dash.Templating.List {
			if v.Name == "queue" && v.AllValue != "" {
				return v.AllValue
			}
		}
		return ".*"
	}
	var qs []string
	for _, q := range r.o.queues {
		qs = append(qs, regexp.QuoteMeta(q))
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return "(" + strings.Join(qs, "|") + ")"
}

type apiResponse struct {
	Status string
	Error  string
	Data   struct {
		ResultType string
		Result     json.RawMessage
	}
}

func (r *renderer) api(ctx context.Context, path string, q url.Values) (apiResponse, error) {
	var ar apiResponse
	u := strings.TrimRight(r.o.prom, "/") + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ar, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return ar, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return ar, err
	}
	if err := json.Unmarshal(body, &ar); err != nil {
		return ar, fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if ar.Status != "success" {
		return ar, fmt.Errorf("%s %s: %s", path, q.Get("query"), ar.Error)
	}
	return ar, nil
}

func parseSample(p []any) (float64, float64, error) {
	if len(p) != 2 {
		return 0, 0, errors.New("malformed sample")
	}
	t, ok1 := p[0].(float64)
	vs, ok2 := p[1].(string)
	if !ok1 || !ok2 {
		return 0, 0, errors.New("malformed sample")
	}
	v, err := strconv.ParseFloat(vs, 64)
	if math.IsInf(v, 0) {
		v = math.NaN() // Grafana leaves out ±Inf too
	}
	return t, v, err
}

// query runs one target: a range query over the panel's timing, or an
// instant query at --to.
func (r *renderer) query(ctx context.Context, t targetJSON, tm timing) ([]series, error) {
	expr := r.expand(t.Expr, tm)
	var out []series
	if t.Instant && !t.Range {
		ar, err := r.api(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {unixString(r.o.to)}})
		if err != nil {
			return nil, err
		}
		switch ar.Data.ResultType {
		case "vector":
			var res []struct {
				Metric map[string]string
				Value  []any
			}
			if err := json.Unmarshal(ar.Data.Result, &res); err != nil {
				return nil, err
			}
			for _, s := range res {
				ts, v, err := parseSample(s.Value)
				if err != nil {
					return nil, err
				}
				out = append(out, series{labels: s.Metric, ts: []float64{ts}, vs: []float64{v}})
			}
		case "scalar":
			var res []any
			if err := json.Unmarshal(ar.Data.Result, &res); err != nil {
				return nil, err
			}
			ts, v, err := parseSample(res)
			if err != nil {
				return nil, err
			}
			out = append(out, series{labels: map[string]string{}, ts: []float64{ts}, vs: []float64{v}})
		default:
			return nil, fmt.Errorf("instant query %s: result type %s", expr, ar.Data.ResultType)
		}
	} else {
		q := url.Values{"query": {expr}, "start": {unixString(tm.start)}, "end": {unixString(tm.end)},
			"step": {strconv.FormatFloat(tm.step.Seconds(), 'f', -1, 64)}}
		ar, err := r.api(ctx, "/api/v1/query_range", q)
		if err != nil {
			return nil, err
		}
		if ar.Data.ResultType != "matrix" {
			return nil, fmt.Errorf("range query %s: result type %s", expr, ar.Data.ResultType)
		}
		var res []struct {
			Metric map[string]string
			Values [][]any
		}
		if err := json.Unmarshal(ar.Data.Result, &res); err != nil {
			return nil, err
		}
		for _, s := range res {
			se := series{labels: s.Metric}
			for _, p := range s.Values {
				ts, v, err := parseSample(p)
				if err != nil {
					return nil, err
				}
				se.ts, se.vs = append(se.ts, ts), append(se.vs, v)
			}
			out = append(out, se)
		}
	}
	for i := range out {
		out[i].refID = t.RefID
		out[i].name = legendName(t.LegendFormat, out[i].labels)
	}
	return out, nil
}

func unixString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

var legendRE = regexp.MustCompile(`\{\{\s*(.+?)\s*\}\}`)

// legendName applies a legendFormat; without one, Grafana names a series
// by its labels.
func legendName(format string, labels map[string]string) string {
	if format != "" && format != "__auto" {
		return legendRE.ReplaceAllStringFunc(format, func(m string) string {
			return labels[legendRE.FindStringSubmatch(m)[1]]
		})
	}
	var keys []string
	for k := range labels {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+`="`+labels[k]+`"`)
	}
	name := labels["__name__"]
	if len(parts) > 0 || name == "" {
		name += "{" + strings.Join(parts, ", ") + "}"
	}
	return name
}

// ---------------------------------------------------------------------------
// Page layout

const (
	gridCell   = 30 // Grafana's GRID_CELL_HEIGHT
	gridMargin = 8  // GRID_CELL_VMARGIN, and between columns
	pagePad    = 16
	topBarH    = 40
	controlsH  = 56
	panelHead  = 32
	panelPad   = 8
	footH      = 48
)

const footnote = "Rendered by grafana/render from grafana/dashboards/callmon.json and live Prometheus data — " +
	"an approximation of Grafana's rendering, not a Grafana screenshot."

type renderer struct {
	o      options
	client *http.Client
	dash   dashboardJSON
	top    float64 // y of grid row 0
}

type box struct{ x, y, w, h float64 }

func (r *renderer) box(g gridPos) box {
	gridW := float64(r.o.width - 2*pagePad)
	colW := (gridW - 23*gridMargin) / 24
	return box{
		x: pagePad + float64(g.X)*(colW+gridMargin),
		y: r.top + float64(g.Y)*(gridCell+gridMargin),
		w: float64(g.W)*colW + float64(g.W-1)*gridMargin,
		h: float64(g.H)*gridCell + float64(g.H-1)*gridMargin,
	}
}

// render reads the dashboard JSON, runs its queries and returns the page
// and its height in pixels.
func render(ctx context.Context, raw []byte, o options, client *http.Client) ([]byte, int, error) {
	r := &renderer{o: o, client: client, top: topBarH + controlsH}
	if err := json.Unmarshal(raw, &r.dash); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", o.dashboard, err)
	}
	var panels []panelJSON
	for _, p := range r.dash.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...) // a collapsed row's panels
	}
	bottom := 0
	var body strings.Builder
	for _, p := range panels {
		bottom = max(bottom, p.GridPos.Y+p.GridPos.H)
		b := r.box(p.GridPos)
		if p.Type == "row" {
			fmt.Fprintf(&body, `<div class="row" style="left:%s;top:%s;width:%s;height:%s">`+
				`<svg width="16" height="16" viewBox="0 0 16 16"><path d="M3.5 6 8 10.5 12.5 6" fill="none" stroke="%s" stroke-width="1.6"/></svg>%s</div>`+"\n",
				px(b.x), px(b.y), px(b.w), px(b.h), colText, esc(p.Title))
			continue
		}
		inner := box{w: b.w - 2*panelPad - 2, h: b.h - panelHead - panelPad - 2}
		svg, err := r.panel(ctx, p, inner)
		if err != nil {
			return nil, 0, err
		}
		info := ""
		if p.Description != "" {
			info = `<svg class="info" width="14" height="14" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.3"/>` +
				`<rect x="7.3" y="7" width="1.4" height="4.5" fill="currentColor"/><circle cx="8" cy="5" r="0.9" fill="currentColor"/></svg>`
		}
		fmt.Fprintf(&body, `<div class="panel" style="left:%s;top:%s;width:%s;height:%s"><div class="ph"><span class="pt">%s</span>%s</div>`+
			`<svg class="pc" width="%s" height="%s" viewBox="0 0 %s %s">%s</svg></div>`+"\n",
			px(b.x), px(b.y), px(b.w), px(b.h), esc(p.Title), info,
			num(inner.w), num(inner.h), num(inner.w), num(inner.h), svg)
	}
	gridH := float64(bottom)*(gridCell+gridMargin) - gridMargin
	height := int(math.Ceil(r.top + gridH + footH))

	var page bytes.Buffer
	page.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + esc(r.dash.Title) + "</title>\n<style>\n")
	fmt.Fprintf(&page, `html,body{margin:0;background:%[1]s;color:%[2]s;font-family:%[3]s;font-size:14px;-webkit-font-smoothing:antialiased}
body{position:relative;width:%[4]dpx;height:%[5]dpx;overflow:hidden}
svg text{font-family:%[3]s}
.top{position:absolute;left:0;top:0;width:100%%;height:%[6]dpx;box-sizing:border-box;border-bottom:1px solid %[7]s;background:%[8]s;display:flex;align-items:center;padding:0 16px;gap:8px;font-size:14px}
.crumb{color:%[9]s}.crumb b{color:%[2]s;font-weight:500}
.controls{position:absolute;left:16px;right:16px;top:%[6]dpx;height:%[10]dpx;display:flex;align-items:center;gap:8px}
.var{display:flex;height:32px;font-size:14px;line-height:30px}
.var .l{padding:0 8px;background:%[11]s;border:1px solid %[7]s;border-right:0;border-radius:2px 0 0 2px;font-weight:500}
.var .v{padding:0 8px;border:1px solid rgba(204,204,220,0.2);border-radius:0 2px 2px 0;background:%[1]s}
.spacer{flex:1}
.btn{height:32px;line-height:30px;box-sizing:border-box;padding:0 10px;border:1px solid rgba(204,204,220,0.2);border-radius:2px;background:%[11]s;font-size:14px;white-space:nowrap}
.row{position:absolute;display:flex;align-items:center;gap:6px;font-size:16px;font-weight:500;box-sizing:border-box}
.panel{position:absolute;box-sizing:border-box;background:%[8]s;border:1px solid %[7]s;border-radius:2px;overflow:hidden}
.ph{height:%[12]dpx;display:flex;align-items:center;gap:6px;padding:0 %[13]dpx;font-size:14px;font-weight:500;white-space:nowrap;overflow:hidden}
.pt{overflow:hidden;text-overflow:ellipsis}
.info{color:%[9]s;flex:none}
.pc{position:absolute;left:%[13]dpx;top:%[12]dpx}
.foot{position:absolute;left:16px;right:16px;top:%[14]dpx;height:%[15]dpx;display:flex;align-items:center;font-size:12px;color:%[9]s}
`, colBg, colText, fontFamily, o.width, height, topBarH, colBorder, colPanel, colSecondary, controlsH, colBg2,
		panelHead, panelPad, int(r.top+gridH), footH)
	page.WriteString("</style></head><body>\n")
	fmt.Fprintf(&page, `<div class="top"><svg width="22" height="22" viewBox="0 0 24 24"><circle cx="12" cy="12" r="9" fill="none" stroke="#F46800" stroke-width="3"/><circle cx="12" cy="12" r="3.5" fill="#FBCA0A"/></svg>`+
		`<span class="crumb">Home &#8250; Dashboards &#8250; <b>%s</b></span></div>`+"\n", esc(r.dash.Title))
	page.WriteString(`<div class="controls">`)
	for _, v := range r.dash.Templating.List {
		val := "Prometheus"
		if v.Type != "datasource" {
			val = strings.Join(o.queues, " + ")
			if val == "" {
				val = "All"
			}
		}
		label := cmp.Or(v.Label, v.Name)
		fmt.Fprintf(&page, `<div class="var"><span class="l">%s</span><span class="v">%s &#9662;</span></div>`, esc(label), esc(val))
	}
	const stamp = "2006-01-02 15:04:05"
	fmt.Fprintf(&page, `<span class="spacer"></span><span class="btn"><svg width="14" height="14" viewBox="0 0 16 16" style="vertical-align:-2px;margin-right:6px"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.4"/><path d="M8 4v4.3l2.8 1.7" fill="none" stroke="currentColor" stroke-width="1.4"/></svg>%s to %s &#9662;</span><span class="btn">&#8635;</span></div>`+"\n",
		o.from.In(o.loc).Format(stamp), o.to.In(o.loc).Format(stamp))
	page.WriteString(body.String())
	page.WriteString(`<div class="foot">` + esc(footnote) + "</div>\n")
	page.WriteString("</body></html>\n")
	return page.Bytes(), height, nil
}

// panel draws one panel's content into an SVG of size b.w × b.h.
func (r *renderer) panel(ctx context.Context, p panelJSON, b box) (string, error) {
	tm, err := r.timing(p, b.w)
	if err != nil {
		return "", err
	}
	var ss []series
	for _, t := range p.Targets {
		s, err := r.query(ctx, t, tm)
		if err != nil {
			return "", fmt.Errorf("panel %q, query %s: %w", p.Title, t.RefID, err)
		}
		ss = append(ss, s...)
	}
	var sb strings.Builder
	switch p.Type {
	case "stat":
		r.stat(&sb, p, ss, b)
	case "gauge":
		r.gauge(&sb, p, ss, b)
	case "timeseries", "barchart":
		r.timeSeries(&sb, p, ss, tm, b)
	case "bargauge":
		r.barGauge(&sb, p, ss, b)
	case "piechart":
		r.pie(&sb, p, ss, b)
	default:
		text(&sb, b.w/2, b.h/2, 14, colSecondary, "middle", "", "Panel type "+p.Type+" not rendered")
	}
	return sb.String(), nil
}

// ---------------------------------------------------------------------------
// SVG helpers

func esc(s string) string { return html.EscapeString(s) }

func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func px(v float64) string { return num(v) + "px" }

// text draws s with its baseline centred vertically on y.
func text(b *strings.Builder, x, y, size float64, color, anchor, weight, s string) {
	w := ""
	if weight != "" {
		w = ` font-weight="` + weight + `"`
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" font-size="%s" fill="%s" text-anchor="%s" dominant-baseline="central"%s>%s</text>`,
		num(x), num(y), num(size), color, anchor, w, esc(s))
}

// textWidth estimates the width of s in a Helvetica-like font.
func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			w += 0.556
		case c == ' ' || c == '.' || c == ',' || c == ':' || c == '\'' || c == '|' || c == '!':
			w += 0.278
		case c == 'i' || c == 'l' || c == 'j' || c == 'I' || c == 'f' || c == 't' || c == 'r':
			w += 0.3
		case c == '%':
			w += 0.889
		case c == 'm' || c == 'w' || c == 'M' || c == 'W' || c == '—':
			w += 0.85
		case c >= 'A' && c <= 'Z':
			w += 0.68
		case c == '_':
			w += 0.556
		default:
			w += 0.54
		}
	}
	return w * size
}

// fitFont is the largest font size, at most maxSize, at which s fits w × h.
func fitFont(s string, w, h, maxSize float64) float64 {
	return math.Max(1, math.Min(math.Min(maxSize, h/1.2), w/math.Max(textWidth(s, 1), 0.1)))
}

func rgba(hex string, alpha float64) string {
	if len(hex) != 7 || hex[0] != '#' {
		return hex
	}
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil {
		return hex
	}
	return fmt.Sprintf("rgba(%d,%d,%d,%s)", v>>16, (v>>8)&0xff, v&0xff, strconv.FormatFloat(alpha, 'f', -1, 64))
}

func noData(b *strings.Builder, bx box, s string) {
	text(b, bx.w/2, bx.h/2, 16, colSecondary, "middle", "", cmp.Or(s, "No data"))
}

// ---------------------------------------------------------------------------
// Stat

type statValue struct {
	name, text, color string
	s                 series
	f                 field
}

func (r *renderer) values(p panelJSON, ss []series) []statValue {
	var out []statValue
	for i, s := range ss {
		f := p.field(s)
		v := s.last()
		var t, c string
		if math.IsNaN(v) {
			t, c = cmp.Or(f.NoValue, "No data"), colSecondary
		} else {
			t, c = f.display(v, i)
		}
		out = append(out, statValue{name: s.name, text: t, color: c, s: s, f: f})
	}
	return out
}

func opt(p panelJSON, key, def string) string {
	if v, ok := p.Options[key].(string); ok {
		return v
	}
	return def
}

func (r *renderer) stat(b *strings.Builder, p panelJSON, ss []series, bx box) {
	vals := r.values(p, ss)
	if len(vals) == 0 {
		noData(b, bx, p.FieldConfig.Defaults.NoValue)
		return
	}
	textMode := opt(p, "textMode", "auto")
	showName := textMode == "value_and_name" || textMode == "name" || (textMode == "auto" && len(vals) > 1)
	colorMode := opt(p, "colorMode", "value")
	graph := opt(p, "graphMode", "none") == "area"
	n := float64(len(vals))
	across := bx.w > bx.h // Grafana's auto orientation: side by side when wide
	const gap = 8
	cw, ch := bx.w, bx.h
	if across {
		cw = (bx.w - gap*(n-1)) / n
	} else {
		ch = (bx.h - gap*(n-1)) / n
	}
	// One font size for all values and one for all names, as Grafana
	// aligns the values of a stat panel.
	valueFS, nameFS := 1000.0, 1000.0
	for _, v := range vals {
		th := ch
		if graph && len(v.s.ts) > 1 && ch > 60 {
			th = ch * 0.62
		}
		nh := 0.0
		if showName {
			nh = math.Min(th*0.3, 24)
			nameFS = math.Min(nameFS, math.Max(11, fitFont(v.name, cw*0.9, nh, 18)))
		}
		valueFS = math.Min(valueFS, fitFont(v.text, cw*0.8, (th-nh)*0.75, 72))
	}
	for i, v := range vals {
		x, y := 0.0, 0.0
		if across {
			x = float64(i) * (cw + gap)
		} else {
			y = float64(i) * (ch + gap)
		}
		textColor := v.color
		if colorMode == "background" {
			id := fmt.Sprintf("bg%d_%d", p.ID, i)
			fmt.Fprintf(b, `<defs><linearGradient id="%s" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="%s"/><stop offset="1" stop-color="%s"/></linearGradient></defs>`,
				id, rgba(v.color, 0.85), v.color)
			fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="2" fill="url(#%s)"/>`, num(x), num(y), num(cw), num(ch), id)
			textColor = "#ffffff"
		} else if colorMode == "none" {
			textColor = colText
		}
		th := ch
		if graph && len(v.s.ts) > 1 && ch > 60 {
			th = ch * 0.62
			sparkline(b, v.s, v.f, box{x, y + th, cw, ch - th}, v.color, r.o)
		}
		nh := 0.0
		if showName {
			nh = nameFS * 1.4
		}
		block := nh + valueFS*1.15
		top := y + (th-block)/2
		if showName {
			nameColor := colText
			if colorMode == "background" {
				nameColor = "#ffffff"
			}
			text(b, x+cw/2, top+nh/2, nameFS, nameColor, "middle", "", v.name)
		}
		text(b, x+cw/2, top+nh+valueFS*0.6, valueFS, textColor, "middle", "500", v.text)
	}
}

// sparkline draws a stat panel's area graph over the time range.
func sparkline(b *strings.Builder, s series, f field, bx box, color string, o options) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range s.vs {
		if !math.IsNaN(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if f.Min != nil {
		lo = *f.Min
	}
	if f.Max != nil {
		hi = *f.Max
	}
	if math.IsInf(lo, 0) {
		return
	}
	if hi <= lo {
		hi = lo + 1 // a flat line sits at the bottom
	}
	t0, t1 := float64(o.from.Unix()), float64(o.to.Unix())
	X := func(t float64) float64 { return bx.x + (t-t0)/(t1-t0)*bx.w }
	Y := func(v float64) float64 { return bx.y + bx.h - 2 - (v-lo)/(hi-lo)*(bx.h-4) }
	var pts []string
	first, last := math.NaN(), math.NaN()
	for i, t := range s.ts {
		if math.IsNaN(s.vs[i]) {
			continue
		}
		if math.IsNaN(first) {
			first = X(t)
		}
		last = X(t)
		pts = append(pts, num(X(t))+","+num(Y(s.vs[i])))
	}
	if len(pts) < 2 {
		return
	}
	line := strings.Join(pts, " ")
	fmt.Fprintf(b, `<polygon points="%s,%s %s %s,%s" fill="%s"/>`, num(first), num(bx.y+bx.h), line, num(last), num(bx.y+bx.h), rgba(color, 0.18))
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, line, color)
}

// ---------------------------------------------------------------------------
// Gauge: Grafana's flot gauge, an arc from 0.9π to 2.1π with the value
// in its centre and the thresholds as a thin outer band.

func arc(cx, cy, r, w, a1, a2 float64, fill string) string {
	if a2-a1 < 1e-6 {
		return ""
	}
	large := 0
	if a2-a1 > math.Pi {
		large = 1
	}
	ri := r - w
	p := func(rad, a float64) string { return num(cx+rad*math.Cos(a)) + " " + num(cy+rad*math.Sin(a)) }
	return fmt.Sprintf(`<path d="M%s A%s %s 0 %d 1 %s L%s A%s %s 0 %d 0 %sZ" fill="%s"/>`,
		p(r, a1), num(r), num(r), large, p(r, a2), p(ri, a2), num(ri), num(ri), large, p(ri, a1), fill)
}

func (r *renderer) gauge(b *strings.Builder, p panelJSON, ss []series, bx box) {
	vals := r.values(p, ss)
	if len(vals) == 0 {
		noData(b, bx, p.FieldConfig.Defaults.NoValue)
		return
	}
	n := float64(len(vals))
	cw := bx.w / n
	for i, v := range vals {
		x0 := float64(i) * cw
		titleH := 0.0
		if len(vals) > 1 {
			titleH = math.Min(bx.h*0.15, 20)
			text(b, x0+cw/2, titleH/2, titleH*0.75, colText, "middle", "", v.name)
		}
		h := bx.h - titleH
		dim := math.Min(cw, h)
		gw := math.Min(dim/5.5, 40)
		tw := gw / 5
		valueWidth := math.Min(cw, dim*1.3)*0.9 - (gw+tw)*2 - 10
		fs := fitFont(v.text, valueWidth, dim, 48)
		const cellMargin = 5.0
		valueMargin := math.Max(1, cw/30)
		hr := math.Sin(0.1 * math.Pi)
		maxRH := cw/2 - cellMargin - tw
		outerV := (h - 2*cellMargin) / (1 + hr)
		if outerV*hr < valueMargin+fs/2 {
			outerV = h - 2*cellMargin - valueMargin - fs/2
		}
		radius := math.Min(maxRH, outerV-tw)
		w := gw
		if w >= radius {
			w = math.Max(3, radius/3)
		}
		outer := tw + radius
		outerH := math.Max(outer*(1+hr), outer+valueMargin+fs/2)
		cx := x0 + cw/2
		cy := titleH + cellMargin + tw + radius + (h-2*cellMargin-outerH)/2
		lo, hi := 0.0, 100.0
		if v.f.Min != nil {
			lo = *v.f.Min
		}
		if v.f.Max != nil {
			hi = *v.f.Max
		}
		a1, a2 := 0.9*math.Pi, 2.1*math.Pi
		angle := func(x float64) float64 {
			if math.IsNaN(x) {
				return a1
			}
			return a1 + (a2-a1)*math.Min(1, math.Max(0, (x-lo)/(hi-lo)))
		}
		b.WriteString(arc(cx, cy, radius, w, a1, a2, colBg2))
		val := v.s.last()
		if !math.IsNaN(val) {
			b.WriteString(arc(cx, cy, radius-1, w-2, a1, angle(val), v.color))
		}
		if p.Options["showThresholdMarkers"] != false {
			steps := v.f.Thresholds.Steps
			from := a1
			for k, s := range steps {
				to := a2
				if k+1 < len(steps) && steps[k+1].Value != nil {
					to = angle(*steps[k+1].Value)
				}
				b.WriteString(arc(cx, cy, radius+tw, tw-2, from, to, namedColor(s.Color)))
				from = to
			}
		}
		text(b, cx, cy, fs, v.color, "middle", "500", v.text)
	}
}

// ---------------------------------------------------------------------------
// Bar gauge: horizontal bars, name above each bar, value to its right.

func (r *renderer) barGauge(b *strings.Builder, p panelJSON, ss []series, bx box) {
	vals := r.values(p, ss)
	if len(vals) == 0 {
		noData(b, bx, p.FieldConfig.Defaults.NoValue)
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if x := v.s.last(); !math.IsNaN(x) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	lo = math.Min(lo, 0)
	if d := p.FieldConfig.Defaults; d.Min != nil {
		lo = *d.Min
	}
	if d := p.FieldConfig.Defaults; d.Max != nil {
		hi = *d.Max
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	const gap = 8
	n := float64(len(vals))
	ch := math.Min((bx.h-gap*(n-1))/n, 300)
	nameH := math.Max(math.Min(ch*0.4, 22), 14)
	nameFS := math.Min(nameH/1.25, 15)
	barH := ch - nameH
	valueFS := math.Min(barH*0.7, 24)
	valueW := 0.0
	for _, v := range vals {
		valueW = math.Max(valueW, textWidth(v.text, valueFS))
	}
	valueW += 12
	barW := bx.w - valueW
	for i, v := range vals {
		y := float64(i) * (ch + gap)
		text(b, 0, y+nameH/2, nameFS, colText, "start", "", v.name)
		by := y + nameH
		fmt.Fprintf(b, `<rect x="0" y="%s" width="%s" height="%s" rx="2" fill="rgba(204,204,220,0.06)"/>`, num(by), num(barW), num(barH))
		x := v.s.last()
		if fw := barW * math.Min(1, math.Max(0, (x-lo)/(hi-lo))); fw > 0 {
			id := fmt.Sprintf("bg%d_%d", p.ID, i)
			fmt.Fprintf(b, `<defs><linearGradient id="%s" x1="0" x2="1" y1="0" y2="0"><stop offset="0" stop-color="%s"/><stop offset="1" stop-color="%s"/></linearGradient></defs>`,
				id, rgba(v.color, 0.25), v.color)
			fmt.Fprintf(b, `<rect x="0" y="%s" width="%s" height="%s" rx="2" fill="url(#%s)"/>`, num(by), num(fw), num(barH), id)
		}
		text(b, bx.w, by+barH/2, valueFS, v.color, "end", "500", v.text)
	}
}

// ---------------------------------------------------------------------------
// Pie chart: a donut with a table legend (value, percent) on the right.

func (r *renderer) pie(b *strings.Builder, p panelJSON, ss []series, bx box) {
	vals := r.values(p, ss)
	total := 0.0
	var shown []statValue
	for _, v := range vals {
		if x := v.s.last(); !math.IsNaN(x) && x > 0 {
			total += x
			shown = append(shown, v)
		}
	}
	if total == 0 {
		noData(b, bx, p.FieldConfig.Defaults.NoValue)
		return
	}
	// Legend table.
	const fs, rowH = 13.0, 22.0
	nameW, valW, pctW := textWidth("Name", fs), textWidth("Value", fs), textWidth("Percent", fs)
	pcts := make([]string, len(shown))
	for i, v := range shown {
		pcts[i] = toFixed(100*v.s.last()/total, nil) + "%"
		nameW = math.Max(nameW, textWidth(v.name, fs))
		valW = math.Max(valW, textWidth(v.text, fs))
		pctW = math.Max(pctW, textWidth(pcts[i], fs))
	}
	legendW := 20 + nameW + 16 + valW + 16 + pctW + 4
	lx := bx.w - legendW
	ly := math.Max(0, (bx.h-rowH*float64(len(shown)+1))/2)
	cols := []float64{lx + 20 + nameW + 16 + valW, bx.w - 4}
	text(b, cols[0], ly+rowH/2, fs, "#6e9fff", "end", "500", "Value")
	text(b, cols[1], ly+rowH/2, fs, "#6e9fff", "end", "500", "Percent")
	for i, v := range shown {
		y := ly + rowH*float64(i+1)
		fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, num(lx), num(bx.w), num(y), num(y), colGrid)
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="14" height="4" rx="2" fill="%s"/>`, num(lx), num(y+rowH/2-2), v.color)
		text(b, lx+20, y+rowH/2, fs, colText, "start", "", v.name)
		text(b, cols[0], y+rowH/2, fs, colText, "end", "", v.text)
		text(b, cols[1], y+rowH/2, fs, colText, "end", "", pcts[i])
	}
	// Donut.
	area := lx - 16
	rad := math.Min(area, bx.h)/2 - 4
	if rad < 10 {
		return
	}
	cx, cy := area/2, bx.h/2
	a := -math.Pi / 2
	for _, v := range shown {
		d := 2 * math.Pi * v.s.last() / total
		if d >= 2*math.Pi-1e-9 {
			d = 2*math.Pi - 1e-4
		}
		b.WriteString(strings.Replace(arc(cx, cy, rad, rad*0.4, a, a+d, v.color), "/>", ` stroke="`+colPanel+`" stroke-width="1"/>`, 1))
		a += d
	}
}

// ---------------------------------------------------------------------------
// Time series: lines (linear or step), or stacked bars; legend below.

// niceStep rounds a raw tick step up to 1, 2, 2.5 or 5 × 10^n.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag*1.0000001 {
			return m * mag
		}
	}
	return 10 * mag
}

// niceStepFor is niceStep, on round minutes and hours for durations.
func niceStepFor(raw float64, unit string) float64 {
	if unit == "s" && raw >= 1 {
		for _, c := range []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
			if raw <= c {
				return c
			}
		}
	}
	return niceStep(raw)
}

func customMap(f field, key string) map[string]any {
	m, _ := f.Custom[key].(map[string]any)
	return m
}

type legendItem struct {
	name, color string
	dashed      bool
}

// legend lays out items left to right in lines of width w and returns the
// SVG at y and its height.
func legend(items []legendItem, w, y float64) (string, float64) {
	const fs, lineH = 12.0, 20.0
	var b strings.Builder
	x, line := 0.0, 0
	for _, it := range items {
		iw := 14 + 6 + textWidth(it.name, fs)
		if x > 0 && x+iw > w {
			x, line = 0, line+1
		}
		ly := y + 6 + float64(line)*lineH + lineH/2
		dash := ""
		if it.dashed {
			dash = ` stroke-dasharray="4,3"`
		}
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="4"%s/>`, num(x), num(x+14), num(ly), num(ly), it.color, dash)
		text(&b, x+20, ly, fs, colText, "start", "", it.name)
		x += iw + 16
	}
	if len(items) == 0 {
		return "", 0
	}
	return b.String(), 6 + float64(line+1)*lineH
}

func (r *renderer) timeSeries(b *strings.Builder, p panelJSON, ss []series, tm timing, bx box) {
	def := field{fieldDefaults: p.FieldConfig.Defaults}
	fields := make([]field, len(ss))
	colors := make([]string, len(ss))
	var items []legendItem
	for i, s := range ss {
		fields[i] = p.field(s)
		colors[i] = fields[i].color(s.last(), i)
		ls := customMap(fields[i], "lineStyle")
		items = append(items, legendItem{name: s.name, color: colors[i], dashed: ls != nil && ls["fill"] == "dash"})
	}
	legendSVG, legendH := "", 0.0
	if lg, _ := p.Options["legend"].(map[string]any); lg == nil || lg["showLegend"] != false {
		legendSVG, legendH = legend(items, bx.w, 0) // measured first, drawn below the plot
	}
	const axisFS, xLabelH = 12.0, 20.0
	plotTop, plotBottom := 6.0, bx.h-legendH-xLabelH

	bars := def.str("drawStyle", "line") == "bars"
	stack := customMap(def, "stacking")
	stacked := stack != nil && stack["mode"] == "normal"

	// Y range.
	lo, hi := math.Inf(1), math.Inf(-1)
	sums := map[float64]float64{}
	for _, s := range ss {
		for i, v := range s.vs {
			if math.IsNaN(v) {
				continue
			}
			if stacked {
				sums[s.ts[i]] += v
				v = sums[s.ts[i]]
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		noData(b, bx, def.NoValue)
		return
	}
	thStyle := customMap(def, "thresholdsStyle")
	showTh := thStyle != nil && thStyle["mode"] != "off" && thStyle["mode"] != nil
	if showTh {
		for _, s := range def.Thresholds.Steps {
			if s.Value != nil && s.Color != "transparent" {
				hi = math.Max(hi, *s.Value)
			}
		}
	}
	lo = math.Min(lo, 0)
	if def.Min != nil {
		lo = *def.Min
	}
	nTicks := math.Max(2, (plotBottom-plotTop)/45)
	var step float64
	if def.Max != nil {
		hi = *def.Max
		step = niceStepFor((hi-lo)/nTicks, def.Unit)
	} else {
		if hi <= lo {
			hi = lo + 1
		}
		step = niceStepFor((hi-lo)/nTicks, def.Unit)
		if def.Decimals != nil && *def.Decimals == 0 {
			step = math.Max(step, 1)
		}
		// Like uPlot: 10 % headroom above the data, ticks only up to it.
		hi = lo + (hi-lo)*1.1
		if hi-lo < step*1.5 {
			hi = lo + step*1.5
		}
	}
	var ticks []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-6; v += step {
		ticks = append(ticks, v)
	}
	labelW := 0.0
	labels := make([]string, len(ticks))
	for i, v := range ticks {
		labels[i] = formatValue(v, def.Unit, def.Decimals)
		labelW = math.Max(labelW, textWidth(labels[i], axisFS))
	}
	left, right := labelW+10, bx.w-4
	plotW, plotH := right-left, plotBottom-plotTop
	Y := func(v float64) float64 { return plotBottom - (v-lo)/(hi-lo)*plotH }
	t0, t1 := float64(r.o.from.UnixMilli())/1000, float64(r.o.to.UnixMilli())/1000
	X := func(t float64) float64 { return left + (t-t0)/(t1-t0)*plotW }

	// Grid and axes.
	for i, v := range ticks {
		y := Y(v)
		fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, num(left), num(right), num(y), num(y), colGrid)
		text(b, left-8, y, axisFS, colText, "end", "", labels[i])
	}
	for _, t := range timeTicks(r.o.from, r.o.to, plotW, r.o.loc) {
		x := X(float64(t.Unix()))
		fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, num(x), num(x), num(plotTop), num(plotBottom), colGrid)
		label := t.Format("15:04")
		if r.o.to.Sub(r.o.from) > 24*time.Hour {
			label = t.Format("01/02 15:04")
		}
		text(b, x, plotBottom+xLabelH/2+2, axisFS, colText, "middle", "", label)
	}
	clip := fmt.Sprintf("clip%d", p.ID)
	fmt.Fprintf(b, `<defs><clipPath id="%s"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath></defs><g clip-path="url(#%s)">`,
		clip, num(left), num(plotTop-4), num(plotW), num(plotH+8), clip)

	stepS := tm.step.Seconds()
	if bars {
		slot := stepS / (t1 - t0) * plotW
		bw := math.Max(1, slot*0.6)
		align := def.num("barAlignment", 0)
		base := map[float64]float64{}
		for i, s := range ss {
			fo := fields[i].num("fillOpacity", 80) / 100
			for k, v := range s.vs {
				if math.IsNaN(v) || v == 0 {
					continue
				}
				t := s.ts[k]
				y0 := base[t]
				y1 := y0 + v
				if stacked {
					base[t] = y1
				} else {
					y0 = 0
				}
				x := X(t) - bw/2
				if align < 0 {
					x = X(t) - bw
				} else if align > 0 {
					x = X(t)
				}
				fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="%s" stroke-width="1"/>`,
					num(x), num(Y(y1)), num(bw), num(math.Max(0.5, Y(y0)-Y(y1))), rgba(colors[i], fo), colors[i])
			}
		}
	} else {
		for i, s := range ss {
			f := fields[i]
			interp := f.str("lineInterpolation", "linear")
			lw := f.num("lineWidth", 1)
			fo := f.num("fillOpacity", 0) / 100
			dash := ""
			if ls := customMap(f, "lineStyle"); ls != nil && ls["fill"] == "dash" {
				dash = ` stroke-dasharray="10,10"`
				if d, ok := ls["dash"].([]any); ok && len(d) == 2 {
					dash = fmt.Sprintf(` stroke-dasharray="%v,%v"`, d[0], d[1])
				}
			}
			// Segments between gaps: Grafana fills missing steps with
			// nulls, and spanNulls is off.
			var segs [][][2]float64
			var cur [][2]float64
			prevT := math.NaN()
			for k, v := range s.vs {
				t := s.ts[k]
				if math.IsNaN(v) || (!math.IsNaN(prevT) && t-prevT > 1.5*stepS) {
					if len(cur) > 0 {
						segs = append(segs, cur)
					}
					cur = nil
				}
				if !math.IsNaN(v) {
					cur = append(cur, [2]float64{X(t), Y(v)})
					prevT = t
				} else {
					prevT = math.NaN()
				}
			}
			if len(cur) > 0 {
				segs = append(segs, cur)
			}
			n := 0
			for _, sg := range segs {
				n += len(sg)
			}
			showPts := f.str("showPoints", "auto")
			pts := showPts == "always" || (showPts == "auto" && n > 0 && plotW/float64(n) > 4*f.num("pointSize", 5))
			for _, sg := range segs {
				path := make([][2]float64, 0, 2*len(sg))
				for k, pt := range sg {
					if k > 0 {
						prev := sg[k-1]
						switch interp {
						case "stepBefore":
							path = append(path, [2]float64{prev[0], pt[1]})
						case "stepAfter":
							path = append(path, [2]float64{pt[0], prev[1]})
						}
					}
					path = append(path, pt)
				}
				var sb strings.Builder
				for _, pt := range path {
					sb.WriteString(num(pt[0]) + "," + num(pt[1]) + " ")
				}
				line := strings.TrimSpace(sb.String())
				if fo > 0 && len(path) > 1 {
					y0 := Y(math.Max(lo, 0))
					fmt.Fprintf(b, `<polygon points="%s,%s %s %s,%s" fill="%s"/>`, num(path[0][0]), num(y0), line,
						num(path[len(path)-1][0]), num(y0), rgba(colors[i], fo))
				}
				if len(path) > 1 {
					fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%s" stroke-linejoin="round"%s/>`,
						line, colors[i], num(lw), dash)
				}
				if pts || len(sg) == 1 {
					for _, pt := range sg {
						fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="%s" fill="%s"/>`, num(pt[0]), num(pt[1]), num(f.num("pointSize", 5)/2), colors[i])
					}
				}
			}
		}
	}
	if showTh {
		dash := ""
		if m, _ := thStyle["mode"].(string); strings.HasPrefix(m, "dashed") {
			dash = ` stroke-dasharray="10,10"`
		}
		for _, s := range def.Thresholds.Steps {
			if s.Value == nil || s.Color == "transparent" {
				continue
			}
			y := Y(*s.Value)
			fmt.Fprintf(b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="1"%s/>`, num(left), num(right), num(y), num(y), namedColor(s.Color), dash)
		}
	}
	b.WriteString(`</g>`)
	if legendSVG != "" {
		fmt.Fprintf(b, `<g transform="translate(%s,%s)">%s</g>`, num(left), num(plotBottom+xLabelH), legendSVG)
	}
}

// timeTicks are the times of the x axis labels, at least about 80 px
// apart, on round local times.
func timeTicks(from, to time.Time, width float64, loc *time.Location) []time.Time {
	rng := to.Sub(from)
	every := 24 * time.Hour
	for _, d := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if float64(d)/float64(rng)*width >= 80 {
			every = d
			break
		}
	}
	l := from.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	var out []time.Time
	for ; !t.After(to); t = t.Add(every) {
		if !t.Before(from) {
			out = append(out, t)
		}
	}
	return out
}
