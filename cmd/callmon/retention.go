package main

import (
	"context"
	"log/slog"
	"net/http"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
	"github.com/prometheus/client_golang/prometheus"

	"callmon/callback/retention"
)

// storedRecordings deletes voicemail recordings in Asterisk for the
// retention job (DELETE /recordings/stored/{name}); 404 means already gone.
type storedRecordings struct{ rest func() *native.Client }

func (s storedRecordings) DeleteRecording(_ context.Context, name string) error {
	err := s.rest().StoredRecording().Delete(ariv5.NewKey(ariv5.StoredRecordingKey, name))
	if err != nil && native.CodeFromError(err) != http.StatusNotFound {
		return err
	}
	return nil
}

// retentionMetrics counts what the retention job removed, and whether its
// runs fail (the CallmonRetentionFailing alert).
type retentionMetrics struct {
	masked      *prometheus.CounterVec
	deleted     prometheus.Counter
	runs        *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastFailure prometheus.Gauge
	clock       clock
	log         *slog.Logger
}

func newRetentionMetrics(reg prometheus.Registerer, clk clock) (*retentionMetrics, error) {
	m := &retentionMetrics{clock: clk,
		masked: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callmon_retention_masked_total",
			Help: "Rows whose caller data was removed after the retention period, by table (call_records, tasks, voicemails)."}, []string{"table"}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "callmon_retention_recordings_deleted_total",
			Help: "Voicemail recordings deleted in Asterisk after the retention period."}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callmon_retention_runs_total",
			Help: "Runs of the retention job by this (active) process, by result (ok, error)."}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "callmon_retention_last_success_timestamp_seconds",
			Help: "When the retention job last finished without error (Unix time); 0 before the first."}),
		lastFailure: prometheus.NewGauge(prometheus.GaugeOpts{Name: "callmon_retention_last_failure_timestamp_seconds",
			Help: "When a retention run last failed (Unix time); 0 if none has. Later than the last success: it is failing now."}),
	}
	for _, t := range []string{"call_records", "tasks", "voicemails"} {
		m.masked.WithLabelValues(t)
	}
	m.runs.WithLabelValues("ok")
	m.runs.WithLabelValues("error")
	for _, c := range []prometheus.Collector{m.masked, m.deleted, m.runs, m.lastSuccess, m.lastFailure} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// report is the job's Report hook.
func (m *retentionMetrics) report(r retention.Result, err error) {
	m.masked.WithLabelValues("call_records").Add(float64(r.CallRecords))
	m.masked.WithLabelValues("tasks").Add(float64(r.Tasks))
	m.masked.WithLabelValues("voicemails").Add(float64(r.Voicemails))
	m.deleted.Add(float64(r.RecordingsDeleted))
	now := float64(m.clock.Now().UnixMilli()) / 1000
	if err != nil {
		m.runs.WithLabelValues("error").Inc()
		m.lastFailure.Set(now)
		return
	}
	m.runs.WithLabelValues("ok").Inc()
	m.lastSuccess.Set(now)
}
