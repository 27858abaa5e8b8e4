package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"callmon/ari"
	"callmon/callback/tasks"
	"callmon/cmd/callmon/config"
)

// newAutoDialer returns the dispatcher that dials the callback tasks of the
// queues with auto_dial (DESIGN §4.3) through the ARI app, or nil when no
// queue has it or it cannot work (no database, no outbound endpoint).
func newAutoDialer(cfg *config.Config, p *persistence, app *ari.App, cbs ari.Callbacks, o daemonOptions) (*tasks.Dispatcher, error) {
	var queues []string
	for _, q := range cfg.Queues {
		if q.AutoDial {
			queues = append(queues, q.Name)
		}
	}
	switch {
	case len(queues) == 0:
		return nil, nil
	case p == nil || cbs == nil:
		o.Log.Warn("auto_dial needs a database (DATABASE_URL); callbacks are not dialled automatically", "queues", queues)
		return nil, nil
	case cfg.ARI.OutboundEndpoint == "":
		o.Log.Warn("auto_dial needs ari.outbound_endpoint; callbacks are not dialled automatically", "queues", queues)
		return nil, nil
	}
	// The lease must outlast a dial: the agent's and the customer's rings
	// and the announcement (the ARI app gives up after both rings plus two
	// minutes).
	lease := tasks.DefaultDialLease
	for _, q := range cfg.Queues {
		lease = max(lease, q.RingTimeout+5*time.Minute)
	}
	host, _ := os.Hostname()
	return tasks.NewDispatcher(tasks.DispatcherConfig{
		Store:  tasks.New(p.db.Pool(), tasks.WithLogger(o.Log)),
		Dialer: autoDialer{app},
		Owner:  fmt.Sprintf("callmon@%s/%d", host, os.Getpid()),
		Queues: queues,
		Idle:   app.CallbackAgents,
		Lease:  lease,
		Next: func(queue string, after time.Time) (time.Time, time.Time, bool) {
			slots, err := cbs.NextSlots(queue, after, 1)
			if err != nil || len(slots) == 0 {
				return time.Time{}, time.Time{}, false
			}
			return slots[0].Start, slots[0].End, true
		},
		Clock: o.Clock,
		Log:   o.Log,
	})
}

// autoDialer makes the ARI app a tasks.Dialer.
type autoDialer struct{ app *ari.App }

var dialResults = map[ari.CallbackResult]tasks.Result{
	ari.CallbackReached:          tasks.Reached,
	ari.CallbackNoAnswer:         tasks.NoAnswer,
	ari.CallbackWrongNumber:      tasks.WrongNumber,
	ari.CallbackAgentUnavailable: tasks.AgentUnavailable,
}

func (a autoDialer) Dial(ctx context.Context, c tasks.Call) (tasks.Outcome, error) {
	out, err := a.app.DialCallback(ctx, ari.CallbackCall{Queue: c.Queue, Number: c.Number, CallerName: c.CallerName,
		TaskID: strconv.FormatInt(c.TaskID, 10), Agent: c.Assignee, BeforeCustomer: c.CustomerDialling})
	switch {
	case errors.Is(err, ari.ErrNoAgent):
		return tasks.Outcome{Result: tasks.AgentUnavailable, Note: err.Error()}, nil
	case err != nil:
		return tasks.Outcome{Agent: out.Agent}, err
	}
	return tasks.Outcome{Result: dialResults[out.Result], Agent: out.Agent, Note: out.Note()}, nil
}
