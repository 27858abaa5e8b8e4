package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"

	"callmon/ari"
	"callmon/callback/store"
	"callmon/callback/tasks"
	"callmon/callback/voicemails"
	"callmon/cmd/callmon/config"
	"callmon/metrics"
	"callmon/voicemail"
)

// voicemailTaker connects ari's direct-dial flow to package voicemail (the
// recording dialogue) and to callback/voicemails (the row, the employee's
// task, the message-waiting indicator).
type voicemailTaker struct {
	rest     *native.Client
	vs       *voicemails.Store
	rec      *store.Recorder
	cfg      voicemail.Config
	assignee map[string]string // employee → the agent id who gets the task
	mailbox  map[string]string
	clock    clock
	log      *slog.Logger
	m        *metrics.Metrics

	// For streaming recordings from Asterisk.
	ariURL, ariUser, ariPassword string
	http                         *http.Client
}

func newVoicemailTaker(rest *native.Client, vs *voicemails.Store, rec *store.Recorder, c *config.Config, m *metrics.Metrics, clk clock, log *slog.Logger) *voicemailTaker {
	v := &voicemailTaker{rest: rest, vs: vs, rec: rec, clock: clk, log: log, m: m,
		assignee: map[string]string{}, mailbox: map[string]string{},
		cfg: voicemail.Config{MaxDuration: c.Voicemail.MaxDuration, MaxSilence: c.Voicemail.MaxSilence,
			MinDuration: c.Voicemail.MinDuration, DefaultGreeting: []string{"sound:vm-intro"}, Clock: clk}}
	for _, e := range c.Employees {
		v.assignee[e.ID] = e.TaskAssignee()
		v.mailbox[e.ID] = e.Mailbox
	}
	return v
}

func (v *voicemailTaker) Take(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, events <-chan ariv5.Event) (string, error) {
	var greeting []string
	if e.Greeting != "" {
		greeting = []string{e.Greeting}
	}
	received := v.clock.Now()
	res, err := voicemail.Run(ctx, v.rest, ch, greeting, v.cfg, events)
	return v.keep(ctx, ch, e, caller, received, res, err)
}

// ari takes the resumer as an optional interface: a drifted signature would
// silently restart adopted dialogues.
var _ ari.VoicemailResumer = (*voicemailTaker)(nil)

// Resume carries on the dialogue a previous process left (ari.VoicemailResumer).
func (v *voicemailTaker) Resume(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, events <-chan ariv5.Event) (string, bool, error) {
	// When the message was left is known only to the process that died: the
	// resume is the nearest (later by at most the message and the gap).
	received := v.clock.Now()
	res, err := voicemail.Resume(ctx, v.rest, ch, v.cfg, events)
	if errors.Is(err, voicemail.ErrNothingToResume) {
		return "", false, nil
	}
	outcome, err := v.keep(ctx, ch, e, caller, received, res, err)
	return outcome, true, err
}

// keep counts how a dialogue ended and stores a recorded message as the
// employee's voicemail.
func (v *voicemailTaker) keep(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, received time.Time, res voicemail.Result, err error) (string, error) {
	if err != nil {
		return string(voicemail.Failed), err
	}
	if res.Outcome == voicemail.Discarded {
		v.m.VoicemailDiscarded()
	}
	if res.Outcome != voicemail.Recorded {
		return string(res.Outcome), nil
	}
	v.m.VoicemailRecorded()
	nv := voicemails.NewVoicemail{Employee: e.ID, Assignee: v.assignee[e.ID], CallerNumber: caller.Number, CallerName: caller.Name,
		ReceivedAt: received, Duration: res.Duration, Recording: res.Recording, ChannelID: ch}
	if _, spooled, err := v.vs.SaveOrSpool(ctx, v.rec, nv); err != nil {
		// The recording itself is safe in Asterisk; say loudly that its task is missing.
		v.log.Error("voicemail recorded but not stored", "employee", e.ID, "recording", res.Recording, "err", err)
	} else if spooled {
		v.log.Warn("voicemail kept in the spool: PostgreSQL unavailable", "employee", e.ID)
	} else {
		v.updateMWI(ctx, e.ID)
	}
	return string(res.Outcome), nil
}

// updateMWI sets the employee's message-waiting indicator through ARI's
// mailboxes resource (res_mwi_external).
func (v *voicemailTaker) updateMWI(ctx context.Context, employee string) {
	newCount, oldCount, err := v.vs.Counts(ctx, employee)
	if err != nil {
		v.log.Warn("message-waiting indicator not updated", "employee", employee, "err", err)
		return
	}
	if err := v.setMailbox(ctx, v.mailbox[employee], oldCount, newCount); err != nil {
		v.log.Warn("message-waiting indicator not updated", "employee", employee, "err", err)
	}
}

// setMailbox is PUT /mailboxes/{name} with the counts in the query string.
// Not ari/v5's Mailbox().Update: it sends them as JSON strings, which
// Asterisk 22 answers with 204 and stores as 0 (ari-traces mailbox-counts).
func (v *voicemailTaker) setMailbox(ctx context.Context, name string, oldCount, newCount int) error {
	u := fmt.Sprintf("%s/mailboxes/%s?oldMessages=%d&newMessages=%d", v.ariURL, url.PathEscape(name), oldCount, newCount)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(v.ariUser, v.ariPassword)
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // keeps the connection reusable
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("PUT /mailboxes/%s: asterisk answered %s", name, resp.Status)
	}
	return nil
}

// The voicemail API (callback/web) reads through the taker.

func (v *voicemailTaker) List(ctx context.Context, employee string, unheardOnly bool) ([]voicemails.Voicemail, error) {
	return v.vs.List(ctx, employee, unheardOnly)
}

func (v *voicemailTaker) Get(ctx context.Context, id int64) (voicemails.Voicemail, error) {
	return v.vs.Get(ctx, id)
}

// MarkHeard also turns the employee's waiting indicator off (or down).
func (v *voicemailTaker) MarkHeard(ctx context.Context, id int64) (voicemails.Voicemail, error) {
	vm, err := v.vs.MarkHeard(ctx, id, v.clock.Now())
	if err == nil {
		v.updateMWI(ctx, vm.Employee)
	}
	return vm, err
}

func (v *voicemailTaker) Owner(employee string) string { return v.assignee[employee] }

// Audio streams Asterisk's stored recording (GET /recordings/stored/{name}/file).
func (v *voicemailTaker) Audio(ctx context.Context, vm voicemails.Voicemail, w http.ResponseWriter) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.ariURL+"/recordings/stored/"+url.PathEscape(vm.Recording)+"/file", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(v.ariUser, v.ariPassword)
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("asterisk answered %s for recording %q", resp.Status, vm.Recording)
	}
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if val := resp.Header.Get(h); val != "" {
			w.Header().Set(h, val)
		}
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", vm.Recording+".wav"))
	_, err = io.Copy(w, resp.Body)
	return err
}

// dialplanVoicemail serves sites on app_voicemail (voicemail.mode:
// dialplan): the caller continues into the configured context, whose
// VoiceMail() takes the message and lights the indicator; callmon records
// the outcome and gives the employee a task to call back.
type dialplanVoicemail struct {
	rest     *native.Client
	tasks    *tasks.Store
	context  string
	assignee map[string]string
	mailbox  map[string]string
	clock    clock
	log      *slog.Logger
}

func newDialplanVoicemail(ts *tasks.Store, c *config.Config, clk clock, log *slog.Logger) *dialplanVoicemail {
	d := &dialplanVoicemail{tasks: ts, context: c.Voicemail.Context, clock: clk, log: log,
		assignee: map[string]string{}, mailbox: map[string]string{}}
	for _, e := range c.Employees {
		d.assignee[e.ID] = e.TaskAssignee()
		d.mailbox[e.ID] = e.Mailbox
	}
	return d
}

// Take sends the caller to extension <mailbox user> of the context, e.g.
// [callmon-voicemail] exten => _X.,1,VoiceMail(${EXTEN}@default,u).
func (d *dialplanVoicemail) Take(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, _ <-chan ariv5.Event) (string, error) {
	box, _, _ := strings.Cut(d.mailbox[e.ID], "@")
	if err := d.rest.Channel().Continue(ariv5.NewKey(ariv5.ChannelKey, ch), d.context, box, 1); err != nil {
		return string(voicemail.Failed), fmt.Errorf("continue to %s,%s: %w", d.context, box, err)
	}
	now := d.clock.Now()
	number, _ := voicemails.E164(caller.Number)
	_, _, err := d.tasks.Create(ctx, tasks.NewTask{Kind: tasks.KindVoicemail, Queue: voicemails.Queue, Number: number,
		CallerName: caller.Name, WindowStart: now, WindowEnd: now.Add(24 * time.Hour), Assignee: d.assignee[e.ID],
		Notes: "Caller sent to app_voicemail mailbox " + d.mailbox[e.ID], SourceKey: "voicemail:" + ch, Actor: "caller"})
	if err != nil {
		d.log.Error("voicemail task not stored", "employee", e.ID, "err", err)
	}
	return outcomeContinued, nil
}

// outcomeContinued: the caller left Stasis for the dialplan's VoiceMail().
const outcomeContinued = "continued"
