package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"callmon/callback/tasks"
	"callmon/callback/voicemails"
)

// taskCollector reports the callback tasks, which live in PostgreSQL, at
// scrape time, with callmon_callbacks_up saying whether the read worked.
type taskCollector struct {
	store  *tasks.Store
	clock  clock
	queues []string

	up, pending, overdue, done, failed, attempts *prometheus.Desc
}

func newTaskCollector(s *tasks.Store, clk clock, queues []string) *taskCollector {
	q := []string{"queue"}
	return &taskCollector{store: s, clock: clk, queues: queues,
		up: prometheus.NewDesc("callmon_callbacks_up",
			"1 if the callback tasks could be read from PostgreSQL at this scrape, else 0 (the other callmon_callbacks_* are then missing).", nil, nil),
		pending: prometheus.NewDesc("callmon_callbacks_pending",
			"Callback tasks not yet done: pending, claimed by an agent or being dialled (voicemail tasks are reported by callmon_voicemails_*).", q, nil),
		overdue: prometheus.NewDesc("callmon_callbacks_overdue",
			"Pending or claimed callback tasks whose agreed window has ended: a promise being broken.", q, nil),
		done: prometheus.NewDesc("callmon_callbacks_completed_total",
			`Callback tasks done, by whether they were completed inside the agreed window (when="on_time") or after it (when="late").`, []string{"queue", "when"}, nil),
		failed: prometheus.NewDesc("callmon_callbacks_failed_total",
			"Callback tasks given up: wrong number, or no answer after the last attempt.", q, nil),
		attempts: prometheus.NewDesc("callmon_callbacks_attempts_total",
			"Attempts recorded on callback tasks (each reached, no answer or wrong number).", q, nil),
	}
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.pending, c.overdue, c.done, c.failed, c.attempts} {
		ch <- d
	}
}

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.Counts(ctx, c.clock.Now())
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	byQueue := map[string]tasks.Counts{}
	for _, q := range counts {
		byQueue[q.Queue] = q
	}
	// Every configured queue has series, also before its first task.
	names := append([]string(nil), c.queues...)
	for q := range byQueue {
		if !contains(names, q) {
			names = append(names, q)
		}
	}
	for _, name := range names {
		q := byQueue[name]
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(q.Pending), name)
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(q.Overdue), name)
		ch <- prometheus.MustNewConstMetric(c.done, prometheus.CounterValue, float64(q.DoneOnTime), name, "on_time")
		ch <- prometheus.MustNewConstMetric(c.done, prometheus.CounterValue, float64(q.DoneLate), name, "late")
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(q.Failed), name)
		ch <- prometheus.MustNewConstMetric(c.attempts, prometheus.CounterValue, float64(q.Attempts), name)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// voicemailCollector reports unheard voicemails per employee, read from
// PostgreSQL at scrape time.
type voicemailCollector struct {
	vs               *voicemails.Store
	clock            clock
	employees        []string
	waiting, overdue *prometheus.Desc
}

func newVoicemailCollector(vs *voicemails.Store, clk clock, employees []string) *voicemailCollector {
	e := []string{"employee"}
	return &voicemailCollector{vs: vs, clock: clk, employees: employees,
		waiting: prometheus.NewDesc("callmon_voicemails_waiting",
			"Voicemail messages not yet heard, per employee (missing when PostgreSQL could not be read; see callmon_callbacks_up).", e, nil),
		overdue: prometheus.NewDesc("callmon_voicemails_overdue",
			"Voicemail messages still unheard after the close of the next working day after they were left (the end of their task's window), per employee.", e, nil)}
}

func (c *voicemailCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.overdue
}

func (c *voicemailCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	backlog, err := c.vs.Waiting(ctx, c.clock.Now())
	if err != nil {
		return
	}
	for _, e := range c.employees {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(backlog[e].Unheard), e)
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(backlog[e].Overdue), e)
	}
}
