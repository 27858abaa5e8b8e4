package main

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// receiver is a stand-in for VictoriaMetrics' import endpoint that keeps
// every body pushed to it.
type receiver struct {
	mu     sync.Mutex
	bodies []string
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body := io.Reader(req.Body)
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil || req.Method != http.MethodPost || req.URL.Path != "/api/v1/import/prometheus" {
		http.Error(w, "bad push", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	r.bodies = append(r.bodies, string(b))
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) last() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		return "", 0
	}
	return r.bodies[len(r.bodies)-1], len(r.bodies)
}

func TestPushSendsExpositionWithExtraLabels(t *testing.T) {
	recv := &receiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "callmon_service_level_ratio", Help: "h"}, []string{"queue", "window"})
	reg.MustRegister(g)
	g.WithLabelValues("general", "today").Set(0.9)

	p, err := startPush(pushOptions{URL: srv.URL + "/api/v1/import/prometheus", Interval: time.Hour,
		ExtraLabels: []string{"instance=callmon-1", "site=Zwolle \"HQ\""}}, reg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// The first push happens at start, before the first interval.
	body, n := recv.last()
	want := `callmon_service_level_ratio{instance="callmon-1",site="Zwolle \"HQ\"",queue="general",window="today"} 0.9`
	if n != 1 || !strings.Contains(body, want) {
		t.Fatalf("after start: %d pushes, last:\n%s\nwant a line %s", n, body, want)
	}
	// Stop pushes the last values once more.
	g.WithLabelValues("general", "today").Set(0.75)
	p.Stop()
	body, n = recv.last()
	if n != 2 || !strings.Contains(body, strings.Replace(want, "0.9", "0.75", 1)) {
		t.Errorf("after stop: %d pushes, last:\n%s", n, body)
	}
}

func TestPushFailureIsCountedNotFatal(t *testing.T) {
	recv := &receiver{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	u := strings.Replace(srv.URL, "http://", "http://vm:s3cret@", 1) + "/api/v1/import/prometheus"
	p, err := startPush(pushOptions{URL: u, Interval: time.Hour}, reg, reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var errs float64
	for _, mf := range mfs {
		if mf.GetName() == "callmon_push_errors_total" {
			errs = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if errs != 2 {
		t.Errorf("callmon_push_errors_total = %v, want 2 (start and stop)", errs)
	}
	if out := logs.String(); !strings.Contains(out, "metrics push failed") || strings.Contains(out, "s3cret") {
		t.Errorf("log should report the failure without the password:\n%s", out)
	}
}

func TestPushOptionsRejected(t *testing.T) {
	for name, o := range map[string]pushOptions{
		"not a URL":          {URL: "vm:8428", Interval: time.Second},
		"ftp":                {URL: "ftp://vm:8428/x", Interval: time.Second},
		"interval too short": {URL: "http://vm:8428/x", Interval: 10 * time.Millisecond},
		"label without =":    {URL: "http://vm:8428/x", Interval: time.Second, ExtraLabels: []string{"instance"}},
		"bad label name":     {URL: "http://vm:8428/x", Interval: time.Second, ExtraLabels: []string{"1x=a"}},
		"reserved name":      {URL: "http://vm:8428/x", Interval: time.Second, ExtraLabels: []string{"__name__=a"}},
		"empty value":        {URL: "http://vm:8428/x", Interval: time.Second, ExtraLabels: []string{"a="}},
		"twice":              {URL: "http://vm:8428/x", Interval: time.Second, ExtraLabels: []string{"a=1", "a=2"}},
		"labels without URL": {ExtraLabels: []string{"a=1"}},
	} {
		if _, err := o.check(); err == nil {
			t.Errorf("%s: %+v accepted", name, o)
		}
	}
	if l, err := (pushOptions{}).check(); err != nil || l != "" {
		t.Errorf("no push: %q, %v", l, err)
	}
	// A password in the URL never reaches the error message.
	if _, err := (pushOptions{URL: "http://u:s3cret@vm:8428/x"}).check(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("interval error = %v", err)
	}
}

func TestRunRejectsBadPushFlags(t *testing.T) {
	for _, cmd := range []string{"run", "demo"} {
		code, _, stderr := runMain(t, cmd, "--push.url", "ftp://vm/x")
		if code != 2 || !strings.Contains(stderr, "--push.url") {
			t.Errorf("%s: exit %d, stderr:\n%s", cmd, code, stderr)
		}
	}
}
