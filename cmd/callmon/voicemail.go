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
var _ ari.VoicemailAwaiter = (*dialplanVoicemail)(nil)

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
// the outcome and, when VoiceMail() kept a message, gives the employee a task
// to call back.
type dialplanVoicemail struct {
	rest     *native.Client
	tasks    *tasks.Store
	app      string // the ARI application, to subscribe it to the caller
	context  string
	assignee map[string]string
	mailbox  map[string]string
	clock    clock
	log      *slog.Logger
}

func newDialplanVoicemail(ts *tasks.Store, c *config.Config, clk clock, log *slog.Logger) *dialplanVoicemail {
	d := &dialplanVoicemail{tasks: ts, app: c.ARI.Application, context: c.Voicemail.Context, clock: clk, log: log,
		assignee: map[string]string{}, mailbox: map[string]string{}}
	for _, e := range c.Employees {
		d.assignee[e.ID] = e.TaskAssignee()
		d.mailbox[e.ID] = e.Mailbox
	}
	return d
}

// vmStatusWait bounds the wait for the end of VoiceMail(): a greeting, a
// message as long as app_voicemail's maxsecs allows and its review menu fit
// in it many times.
const vmStatusWait = 30 * time.Minute

// Take sends the caller to extension <mailbox user> of the context, e.g.
// [callmon-voicemail] exten => _[0-9a-zA-Z].,1,VoiceMail(${EXTEN}@default,u)
// (README: not _., which matches h), and
// waits until VoiceMail() says whether it kept a message (VMSTATUS=SUCCESS)
// or the caller is gone: a caller who hangs up during the greeting leaves
// no message and gets no task (24 tasks for 20 messages on Asterisk 22.10).
func (d *dialplanVoicemail) Take(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, events <-chan ariv5.Event) (string, error) {
	box, _, _ := strings.Cut(d.mailbox[e.ID], "@")
	// Stasis' own subscription ends with StasisEnd; the application's own
	// keeps the channel's events coming while the dialplan runs VoiceMail().
	appKey, source := ariv5.NewKey(ariv5.ApplicationKey, d.app), "channel:"+ch
	if err := d.rest.Application().Subscribe(appKey, source); err != nil {
		return string(voicemail.Failed), fmt.Errorf("subscribe to the caller's channel: %w", err)
	}
	if err := d.rest.Channel().Continue(ariv5.NewKey(ariv5.ChannelKey, ch), d.context, box, 1); err != nil {
		return string(voicemail.Failed), fmt.Errorf("continue to %s,%s: %w", d.context, box, err)
	}
	return d.outcome(ctx, ch, e, caller, events, false)
}

// Await carries on a caller an earlier process handed to VoiceMail()
// (ari.VoicemailAwaiter): the application's subscription to the channel
// outlived that process, so VMSTATUS still arrives here.
func (d *dialplanVoicemail) Await(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, events <-chan ariv5.Event) (string, error) {
	return d.outcome(ctx, ch, e, caller, events, true)
}

// outcome waits for the end of VoiceMail() and makes the employee's task
// when it kept a message; left: the caller's StasisEnd is already past.
func (d *dialplanVoicemail) outcome(ctx context.Context, ch string, e ari.Employee, caller ari.CallerInfo, events <-chan ariv5.Event, left bool) (string, error) {
	appKey, source := ariv5.NewKey(ariv5.ApplicationKey, d.app), "channel:"+ch
	status, known := d.awaitStatus(ctx, ch, events, left)
	// A dialplan that carries on after VoiceMail() is no concern of callmon's;
	// a channel already gone has no subscription left (the error says so).
	_ = d.rest.Application().Unsubscribe(appKey, source)
	if !known {
		d.log.Warn("no end of VoiceMail() seen; no voicemail task", "call", ch, "employee", e.ID, "within", vmStatusWait)
	}
	if status != "SUCCESS" {
		d.log.Info("caller left no message in app_voicemail", "call", ch, "employee", e.ID, "vmstatus", status)
		return outcomeNoMessage, nil
	}
	now := d.clock.Now()
	number, _ := voicemails.E164(caller.Number)
	_, _, err := d.tasks.Create(ctx, tasks.NewTask{Kind: tasks.KindVoicemail, Queue: voicemails.Queue, Number: number,
		CallerName: caller.Name, WindowStart: now, WindowEnd: now.Add(24 * time.Hour), Assignee: d.assignee[e.ID],
		Notes: "Message left in app_voicemail mailbox " + d.mailbox[e.ID], SourceKey: "voicemail:" + ch, Actor: "caller"})
	if err != nil {
		d.log.Error("voicemail task not stored", "employee", e.ID, "err", err)
	}
	return outcomeContinued, nil
}

// awaitStatus waits for VMSTATUS on channel ch; known is false when neither
// it nor the end of the channel came. left: the StasisEnd of the continue
// is past (an adopted caller).
func (d *dialplanVoicemail) awaitStatus(ctx context.Context, ch string, events <-chan ariv5.Event, left bool) (status string, known bool) {
	expired := make(chan struct{})
	stop := d.clock.AfterFunc(vmStatusWait, func() { close(expired) })
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return "", false
		case <-expired:
			return "", false
		case ev := <-events:
			switch e := ev.(type) {
			case *ariv5.ChannelVarset:
				if e.Channel.ID == ch && e.Variable == ari.VoicemailStatusVar {
					return e.Value, true
				}
			case *ariv5.ChannelDestroyed:
				if e.Channel.ID == ch {
					return "", true // hung up before VoiceMail() set anything
				}
			case *ariv5.StasisEnd:
				// The first is the continue's; another is callmon's own, after
				// a reconnect found the channel gone.
				if e.Channel.ID == ch {
					if left {
						return "", true
					}
					left = true
				}
			}
		}
	}
}

// The outcomes of a caller handed to the dialplan's VoiceMail() (ari.Voicemail).
const (
	outcomeContinued = "continued"            // a message was kept
	outcomeNoMessage = "continued_no_message" // none was
)
