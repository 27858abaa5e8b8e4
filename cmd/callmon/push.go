package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// pushOptions configure pushing the /metrics exposition to a
// VictoriaMetrics server, for sites whose Prometheus cannot scrape callmon.
type pushOptions struct {
	URL         string        // e.g. http://vm:8428/api/v1/import/prometheus; empty: no push
	Interval    time.Duration // between pushes
	ExtraLabels []string      // name=value, added to every series
}

// pushLabelFlag collects repeated --push.extra-label name=value flags.
type pushLabelFlag []string

func (f *pushLabelFlag) String() string { return strings.Join(*f, ",") }

func (f *pushLabelFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// check validates the options and returns the extra labels in the form
// VictoriaMetrics/metrics wants: name="value",name2="value2".
func (o pushOptions) check() (string, error) {
	if o.URL == "" {
		if len(o.ExtraLabels) > 0 {
			return "", errors.New("--push.extra-label without --push.url")
		}
		return "", nil
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--push.url %q: want an http(s) URL such as http://victoria-metrics:8428/api/v1/import/prometheus", redact(o.URL))
	}
	if o.Interval < time.Second {
		return "", fmt.Errorf("--push.interval %v: want at least 1s", o.Interval)
	}
	var labels []string
	seen := map[string]bool{}
	for _, l := range o.ExtraLabels {
		name, value, ok := strings.Cut(l, "=")
		switch {
		case !ok || !labelName.MatchString(name) || strings.HasPrefix(name, "__"):
			return "", fmt.Errorf("--push.extra-label %q: want name=value with a Prometheus label name, e.g. instance=callmon-1", l)
		case seen[name]:
			return "", fmt.Errorf("--push.extra-label %q: label %s given twice", l, name)
		case value == "":
			return "", fmt.Errorf("--push.extra-label %q: empty value", l)
		}
		seen[name] = true
		labels = append(labels, fmt.Sprintf("%s=%q", name, value))
	}
	return strings.Join(labels, ","), nil
}

// redact hides a password in a URL, for error messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// pusher pushes the registry's exposition every interval, and once more
// when stopped so that the last counts of a run arrive.
type pusher struct {
	url    string
	opts   *vm.PushOptions
	gather prometheus.Gatherer
	log    *slog.Logger
	errs   prometheus.Counter

	cancel context.CancelFunc
	done   sync.WaitGroup
}

func startPush(o pushOptions, reg prometheus.Registerer, gather prometheus.Gatherer, log *slog.Logger) (*pusher, error) {
	labels, err := o.check()
	if err != nil || o.URL == "" {
		return nil, err
	}
	p := &pusher{
		url:    o.URL,
		opts:   &vm.PushOptions{ExtraLabels: labels, Method: "POST"},
		gather: gather,
		log:    log,
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callmon_push_errors_total",
			Help: "Pushes of the metrics to --push.url that failed (the server was unreachable or refused them).",
		}),
	}
	if err := reg.Register(p.errs); err != nil {
		return nil, err
	}
	// The first push checks the URL at once; a failure is logged, not
	// fatal: the server may come up later.
	p.push(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Go(func() {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.push(ctx)
			}
		}
	})
	log.Info("pushing metrics", "url", redact(o.URL), "interval", o.Interval, "extra_labels", labels)
	return p, nil
}

func (p *pusher) push(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var werr error
	err := vm.PushMetricsExt(ctx, p.url, func(w io.Writer) { werr = p.write(w) }, p.opts)
	if err == nil {
		err = werr
	}
	if err != nil {
		p.errs.Inc()
		p.log.Warn("metrics push failed", "url", redact(p.url), "err", err)
	}
}

// write encodes the registry in the text format, as /metrics serves it.
func (p *pusher) write(w io.Writer) error {
	mfs, err := p.gather.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}

// Stop ends the periodic pushes and pushes a last time.
func (p *pusher) Stop() {
	if p == nil {
		return
	}
	p.cancel()
	p.done.Wait()
	p.push(context.Background())
}
