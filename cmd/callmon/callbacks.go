package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"callmon/ari"
	"callmon/auth"
	"callmon/callback/calendar"
	"callmon/callback/spool"
	"callmon/callback/store"
	"callmon/callback/tasks"
	cbweb "callmon/callback/web"
	"callmon/cmd/callmon/config"
	"callmon/ui"
)

// spoolKindCallback marks agreed callbacks kept in the spool while
// PostgreSQL is unreachable.
const spoolKindCallback = "callback"

// callbacks connects the queue's callback dialogue (package ari) to the
// calendar and the task table: free slots respect each queue's capacity,
// and an agreed callback is stored durably, in PostgreSQL or the spool.
type callbacks struct {
	cal      *calendar.Calendar
	tasks    *tasks.Store
	rec      *store.Recorder
	capacity map[string]int
	log      *slog.Logger
}

func newCallbacks(cal *calendar.Calendar, ts *tasks.Store, rec *store.Recorder, capacity map[string]int, log *slog.Logger) *callbacks {
	c := &callbacks{cal: cal, tasks: ts, rec: rec, capacity: capacity, log: log}
	rec.Register(spoolKindCallback, c.writeSpooled)
	return c
}

// slotHorizon bounds how far ahead slots are searched (and counted).
const slotHorizon = 60 * 24 * time.Hour

func (c *callbacks) NextSlots(queue string, after time.Time, n int) ([]ari.Slot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	booked, err := c.tasks.Booked(ctx, queue, after, after.Add(slotHorizon))
	if err != nil {
		// Capacity cannot be checked without the database; offering a slot
		// that may be busy beats leaving the caller without a callback.
		c.log.Warn("callback slots offered without capacity check: PostgreSQL unavailable", "queue", queue, "err", err)
		booked = nil
	}
	byStart := make(map[int64]int, len(booked))
	for t, k := range booked {
		byStart[t.UnixMilli()] = k
	}
	var out []ari.Slot
	for _, s := range c.cal.NextSlots(after, n, c.capacity[queue], func(s calendar.Slot) int { return byStart[s.Start.UnixMilli()] }) {
		out = append(out, ari.Slot{Start: s.Start, End: s.End})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no free callback slot for queue %q in the next %d days", queue, int(slotHorizon.Hours()/24))
	}
	return out, nil
}

func (c *callbacks) Book(ctx context.Context, b ari.Booking) error {
	t := tasks.NewTask{Kind: tasks.KindQueueCallback, Queue: b.Queue, Number: b.Number, CallerName: b.CallerName,
		WindowStart: b.Slot.Start, WindowEnd: b.Slot.End, SourceKey: b.Key, Actor: "caller"}
	_, _, err := c.tasks.Create(ctx, t)
	if err == nil || errors.Is(err, tasks.ErrInvalid) {
		return err
	}
	// PostgreSQL is unreachable: the agreement must not be lost.
	data, jerr := json.Marshal(t)
	if jerr != nil {
		return jerr
	}
	if serr := c.rec.Spool(spoolKindCallback, b.Key, data); serr != nil {
		return fmt.Errorf("storing callback: %w; spooling it: %w", err, serr)
	}
	c.log.Warn("callback kept in the spool: PostgreSQL unavailable", "queue", b.Queue, "err", err)
	return nil
}

// writeSpooled creates the spooled callbacks; Create is idempotent on the
// source key, so a drain repeated after a crash stores each once.
func (c *callbacks) writeSpooled(ctx context.Context, _ *store.DB, entries []spool.Entry) error {
	for _, e := range entries {
		var t tasks.NewTask
		if err := json.Unmarshal(e.Data, &t); err != nil {
			return fmt.Errorf("%w: callback %s: %v", store.ErrBadEntry, e.Key, err)
		}
		if _, _, err := c.tasks.Create(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// newTasksWeb builds the agents' task API and pages from the configuration.
func newTasksWeb(ctx context.Context, cfg *config.Config, ts *tasks.Store, db *store.DB, cal *calendar.Calendar, cb *callbacks, vm cbweb.Voicemails, pres cbweb.PresenceService, a *auth.Authenticator, o daemonOptions) (*cbweb.Server, error) {
	agentQueues := map[string][]string{}
	var queues []string
	for _, q := range cfg.Queues {
		queues = append(queues, q.Name)
		for _, a := range q.Agents {
			agentQueues[a] = append(agentQueues[a], q.Name)
		}
	}
	ws := cbweb.New(cbweb.Options{
		Language:    ui.Setting(cfg.UI.Language),
		Store:       ts,
		Pool:        db.Pool(),
		Auth:        a,
		AgentQueues: func(id string) []string { return agentQueues[id] },
		Queues:      queues,
		Open:        cal.Contains,
		NextSlot: func(queue string, after time.Time) (time.Time, time.Time, bool) {
			slots, err := cb.NextSlots(queue, after, 1)
			if err != nil {
				return time.Time{}, time.Time{}, false
			}
			return slots[0].Start, slots[0].End, true
		},
		Location:   cal.Location(),
		Clock:      o.Clock.Now,
		Log:        o.Log,
		Voicemails: vm,
		Presence:   pres,
	})
	if err := ws.Start(ctx); err != nil {
		return nil, err
	}
	return ws, nil
}
