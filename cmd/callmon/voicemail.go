package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	ariv5 "github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"

	"callmon/ari"
	"callmon/callback/store"
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
	if err := v.rest.Mailbox().Update(ariv5.NewKey(ariv5.MailboxKey, v.mailbox[employee]), oldCount, newCount); err != nil {
		v.log.Warn("message-waiting indicator not updated", "employee", employee, "err", err)
	}
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
