package ari

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"callmon/callback/phone"
)

// promptUnknownNumber tells a caller the number they dialled has nobody
// behind it before they wait in the general queue.
const promptUnknownNumber = "sound:callmon/number-not-in-use"

// DirectQueue is the queue label direct-dial calls are measured under.
const DirectQueue = "direct"

// Employee is someone reachable on a direct number (DESIGN §4.2).
type Employee struct {
	ID, Name    string
	Numbers     []string // national form, e.g. 0503161234
	Endpoint    string
	Greeting    string // media of their own greeting; "" for the default
	Mailbox     string
	RingTimeout time.Duration // default 20s
}

// Voicemail takes a message on a caller's channel. Every event of that
// channel, its playbacks and its recording arrives on events, in order.
// The outcome is one of "recorded", "discarded", "to_queue", "failed",
// "hung_up", "continued" (handed to the dialplan, which kept a message) or
// "continued_no_message" (handed to the dialplan, no message kept); on
// "to_queue" and "failed" the caller is moved to the general queue.
type Voicemail interface {
	Take(ctx context.Context, channelID string, e Employee, caller CallerInfo, events <-chan ari.Event) (string, error)
}

// VoicemailResumer is a Voicemail that can carry on the dialogue a previous
// process left on an adopted caller: the recording still running, or the
// message finished while no process was connected. resumed is false when
// there was nothing to carry on (the recording had not begun); the dialogue
// then starts afresh with Take. Events and outcomes as for Take.
type VoicemailResumer interface {
	Voicemail
	Resume(ctx context.Context, channelID string, e Employee, caller CallerInfo, events <-chan ari.Event) (outcome string, resumed bool, err error)
}

// VoicemailAwaiter is a Voicemail that hands callers to the dialplan
// (voicemail.mode dialplan) and can wait for the end of the VoiceMail() an
// earlier process handed an adopted caller to: the caller is the dialplan's,
// only the outcome is still to come. Events and outcomes as for Take.
type VoicemailAwaiter interface {
	Voicemail
	Await(ctx context.Context, channelID string, e Employee, caller CallerInfo, events <-chan ari.Event) (outcome string, err error)
}

// VoicemailStatusVar is the variable app_voicemail's VoiceMail() sets when
// it ends: SUCCESS when it kept a message (also USEREXIT, FAILED). Its
// ChannelVarset reaches the Voicemail of a caller handed to the dialplan,
// if the application subscribed to the channel; other varsets are dropped.
const VoicemailStatusVar = "VMSTATUS"

// CallerInfo is who called.
type CallerInfo struct{ Name, Number string }

type directPhase int

const (
	directRinging directPhase = iota
	directTalking
	directVoicemail
	directDone
)

// directCall is a caller on an employee's direct number: ring the employee
// while the caller hears ringing; answered → bridged and measured under
// queue "direct"; otherwise voicemail.
type directCall struct {
	a      *App
	id     string
	emp    *Employee
	entry  time.Time
	caller CallerInfo
	mb     *mailbox

	phase    directPhase
	leg      string    // the employee's channel
	upAt     time.Time // employee Up (Asterisk time)
	answered bool
	joining  bool // both added to the mixing bridge; the employee's entry not yet seen
	mixID    string
	bridged  bool
	vm       chan ari.Event

	answeredAt time.Time
	// What a restart left unknown (CallRecord's flags of the same names).
	adopted, entryEstimated, answerEstimated, endUnobserved bool
}

// Direct dial is measured with the default threshold and short abandon.
const (
	directThreshold    = 30 * time.Second
	directShortAbandon = 5 * time.Second
)

// journal saves what a process taking over would need to carry the call on.
func (d *directCall) journal(stage string) {
	if d.a.cfg.Journal == nil || d.mb.isAbandoned() {
		return
	}
	r := CallRecord{ChannelID: d.id, Queue: DirectQueue, Kind: "direct", CallerNumber: d.caller.Number,
		Entry: d.entry, Threshold: directThreshold, Stage: stage, EntryEstimated: d.entryEstimated, Adopted: d.adopted,
		// The employee from the start: a caller handed to the dialplan's
		// VoiceMail() no longer shows the Stasis() arguments that name them.
		Agent: d.emp.ID}
	if stage == StageAnswered {
		r.Answered, r.AnswerEstimated = d.answeredAt, d.answerEstimated
	}
	d.a.cfg.Journal(r)
}

// record reports the finished direct call with the definitions of the
// metrics: an answered call waited until the employee's Up, any other until
// it left (at).
func (d *directCall) record(outcome string, at time.Time) {
	if d.a.cfg.Record == nil || d.mb.isAbandoned() {
		return // dropped: the active process records the call
	}
	r := CallRecord{ChannelID: d.id, Queue: DirectQueue, Kind: "direct", CallerNumber: d.caller.Number,
		Entry: d.entry, Ended: at, Outcome: outcome, Threshold: directThreshold,
		Adopted: d.adopted, EntryEstimated: d.entryEstimated, AnswerEstimated: d.answerEstimated, EndUnobserved: d.endUnobserved}
	if d.answered {
		r.Outcome, r.Answered, r.Agent = "answered", d.answeredAt, d.emp.ID
		r.WaitMS = max(0, d.answeredAt.UnixMilli()-d.entry.UnixMilli())
		r.WithinThreshold = r.WaitMS <= directThreshold.Milliseconds()
	} else {
		if outcome == "answered" { // the employee left before being bridged
			r.Outcome = "abandoned"
		}
		r.WaitMS = max(0, at.UnixMilli()-d.entry.UnixMilli())
		if r.Outcome == "abandoned" && r.WaitMS <= directShortAbandon.Milliseconds() {
			r.Outcome = "short_abandoned"
		}
	}
	d.a.cfg.Record(r)
}

type vmDoneMsg struct {
	outcome string
	err     error
	resumed bool // carried on from a previous process
}

func (d *directCall) inbox() *mailbox { return d.mb }

// directFor finds the employee for Stasis(callmon,direct,<number>).
func (a *App) directFor(e *ari.StasisStart) (*Employee, bool) {
	if len(e.Args) < 1 || e.Args[0] != "direct" {
		return nil, false
	}
	num := ""
	if len(e.Args) >= 2 {
		num = e.Args[1]
	}
	if n, err := phone.National(num); err == nil {
		num = n
	}
	for i := range a.cfg.Employees {
		for _, x := range a.cfg.Employees[i].Numbers {
			if x == num {
				return &a.cfg.Employees[i], true
			}
		}
	}
	return nil, true
}

func (a *App) startDirect(e *ari.StasisStart, emp *Employee) {
	var caller CallerInfo
	if cl := e.Channel.Caller; cl != nil {
		caller = CallerInfo{Name: cl.Name, Number: cl.Number}
	}
	d := newDirectCall(a, e.Channel.ID, emp, time.Time(e.Timestamp), caller)
	d.mb.post(e)
	a.spawn(func() bool { a.registerDirect(d); return true }, d.run)
}

func newDirectCall(a *App, id string, emp *Employee, entry time.Time, caller CallerInfo) *directCall {
	return &directCall{a: a, id: id, emp: emp, entry: entry, caller: caller, mb: newMailbox(),
		mixID: idPrefix + id + "-mix", leg: idPrefix + id + "-e1"}
}

// registerDirect routes the call's channels to it; a.mu is held.
func (a *App) registerDirect(d *directCall) {
	a.routes[d.id] = d
	a.routes[d.leg] = d
	a.routes[d.leg+";2"] = d
	a.directs[d.id] = d
}

// adopt carries a direct call on from the state in m (adopt.go).
func (d *directCall) adopt(m adoptMsg) {
	now := d.a.clock.Now()
	r, inv := m.r, m.inv
	leg, hasLeg := inv.channels[d.leg]
	if d.entryEstimated {
		d.journal(StageEntered)
	}
	switch {
	case inv.memberOf[d.id] == d.mixID:
		d.bridged = true
		d.phase = directTalking
		if !hasLeg || inv.memberOf[d.leg] != d.mixID {
			// The employee hung up while no process was connected.
			d.answered, d.answeredAt = !r.Answered.IsZero(), r.Answered
			if d.answered {
				d.a.m.Resumed(DirectQueue, d.id, d.entry, d.answeredAt)
			}
			d.endUnobserved = true
			d.record("answered", now)
			d.a.hangup(d.id)
			d.end()
			return
		}
		d.answered, d.answeredAt = true, r.Answered
		if d.answeredAt.IsZero() {
			d.answeredAt, d.answerEstimated = now, true
			d.journal(StageAnswered)
		}
		d.a.m.Resumed(DirectQueue, d.id, d.entry, d.answeredAt)
	case hasLeg && leg.State == "Up" && inv.app[d.leg]:
		// The employee answered while no process was connected.
		d.a.m.Resumed(DirectQueue, d.id, d.entry, time.Time{})
		d.upAt, d.answerEstimated = now, true
		d.employeeAnswered(now)
	case hasLeg:
		// Still ringing: Asterisk ends the ring at the originate's timeout.
		d.a.m.Resumed(DirectQueue, d.id, d.entry, time.Time{})
		d.phase = directRinging
	case m.inDialplan:
		// Handed to the dialplan's VoiceMail() by the previous process.
		d.a.m.Resumed(DirectQueue, d.id, d.entry, time.Time{})
		d.awaitDialplanVoicemail()
	case leg.State == "" && inv.channels[d.id].State == "Up":
		// Answered by callmon with no employee leg: the voicemail dialogue
		// was running. Its recording is carried on, not started again.
		d.a.m.Resumed(DirectQueue, d.id, d.entry, time.Time{})
		d.voicemail(true)
	default:
		d.a.m.Resumed(DirectQueue, d.id, d.entry, time.Time{})
		d.start()
	}
}

func (d *directCall) run() {
	defer func() {
		d.mb.close()
		d.a.forget(d, func() { delete(d.a.directs, d.id) })
	}()
	for d.phase != directDone {
		msg, ok := d.mb.next()
		if !ok {
			return
		}
		d.handle(msg)
	}
}

func (d *directCall) handle(msg any) {
	if d.phase == directVoicemail {
		switch m := msg.(type) {
		case vmDoneMsg:
			d.voicemailDone(m)
		case ari.Event:
			d.vm <- m
		case resyncMsg:
			if !m.channels[d.id] {
				d.vm <- &ari.StasisEnd{EventData: ari.EventData{Type: "StasisEnd", Timestamp: ari.DateTime(m.at)}, Channel: ari.ChannelData{ID: d.id}}
			}
		}
		return
	}
	switch m := msg.(type) {
	case adoptMsg:
		d.adopt(m)
	case *ari.StasisStart:
		if m.Channel.ID == d.id {
			d.start()
		} else if m.Channel.ID == d.leg && d.phase == directRinging {
			d.employeeAnswered(time.Time(m.Timestamp))
		}
	case *ari.ChannelStateChange:
		if m.Channel.ID == d.leg && m.Channel.State == "Up" && d.upAt.IsZero() {
			d.upAt = time.Time(m.Timestamp)
		}
	case *ari.ChannelHangupRequest:
		d.hungUp(m.Channel.ID, time.Time(m.Timestamp))
	case *ari.StasisEnd:
		d.hungUp(m.Channel.ID, time.Time(m.Timestamp))
	case *ari.ChannelDestroyed:
		if m.Channel.ID == d.leg {
			if d.phase == directRinging {
				// No answer, busy, congestion, rejected (DND): voicemail.
				d.a.log.Debug("employee did not answer", "call", d.id, "employee", d.emp.ID, "cause", m.CauseTxt)
				d.toVoicemail()
			} else {
				d.hungUp(d.leg, time.Time(m.Timestamp))
			}
		}
	case *ari.ChannelEnteredBridge:
		d.joined(m)
	case resyncMsg:
		if d.joining {
			d.talks() // the employee's ChannelEnteredBridge was lost with the connection (queueCall.resync)
		}
		switch {
		case !m.channels[d.id]:
			d.endUnobserved = true
			d.hungUp(d.id, m.at)
		case !m.channels[d.leg] && d.phase == directRinging:
			d.toVoicemail()
		case !m.channels[d.leg] && d.phase == directTalking:
			// The employee hung up while the websocket was down: the caller
			// must not stay alone in the bridge (queueCall.resync).
			d.endUnobserved = true
			d.hungUp(d.leg, m.at)
		}
	}
}

func (d *directCall) key() *ari.Key { return ari.NewKey(ari.ChannelKey, d.id) }

func (d *directCall) start() {
	if !d.adopted {
		d.a.m.Entered(DirectQueue, d.id, d.entry)
		d.journal(StageEntered)
	}
	// The caller hears ringing, unanswered, while the employee's phone rings.
	if err := d.a.rest.Channel().Ring(d.key()); err != nil && !gone(err) {
		d.a.log.Warn("ring caller failed", "call", d.id, "err", err)
	}
	timeout := d.emp.RingTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	callerID := ""
	if d.caller.Number != "" {
		callerID = fmt.Sprintf("%q <%s>", d.caller.Name, d.caller.Number)
	}
	_, err := d.a.rest.Channel().Originate(nil, ari.OriginateRequest{
		Endpoint: d.emp.Endpoint, Timeout: int(timeout.Round(time.Second) / time.Second), CallerID: callerID,
		App: d.a.cfg.Application, AppArgs: "agent", ChannelID: d.leg,
	})
	if err != nil {
		// Unreachable endpoint (500 Allocation failed) and the like.
		d.a.log.Info("employee unreachable; voicemail", "call", d.id, "employee", d.emp.ID, "err", err)
		d.toVoicemail()
	}
}

func (d *directCall) employeeAnswered(ts time.Time) {
	d.phase = directTalking
	at := d.upAt
	if at.IsZero() {
		at, d.answerEstimated = ts, true // as queueCall.agentAnswered
	}
	if err := d.a.rest.Channel().Answer(d.key()); err != nil && !gone(err) {
		d.a.log.Warn("answer caller failed", "call", d.id, "err", err)
	}
	mix := ari.NewKey(ari.BridgeKey, d.mixID)
	if _, err := d.a.rest.Bridge().Create(mix, "mixing", "direct-"+d.emp.ID+"-"+d.id); err != nil {
		d.a.log.Warn("create bridge failed", "call", d.id, "err", err)
		return
	}
	d.bridged = true
	if err := d.a.addToBridge(d.mixID, d.id, d.leg); err != nil {
		return // the caller or the employee is gone: their hang-up follows
	}
	// Answered once the employee's ChannelEnteredBridge lists the caller
	// (queueCall.joined: the caller may have left between the two joins).
	d.joining = true
	d.answeredAt = at
}

// joined handles the employee's ChannelEnteredBridge into the mixing bridge.
func (d *directCall) joined(m *ari.ChannelEnteredBridge) {
	if !d.joining || m.Channel.ID != d.leg || m.Bridge.ID != d.mixID {
		return
	}
	d.joining = false
	if slices.Contains(m.Bridge.ChannelIDs, d.id) {
		d.talks()
	}
}

// talks counts the call answered.
func (d *directCall) talks() {
	d.joining = false
	d.a.m.Answered(DirectQueue, d.id, d.answeredAt)
	d.answered = true
	d.journal(StageAnswered)
}

func (d *directCall) hungUp(ch string, at time.Time) {
	if d.phase == directDone {
		return
	}
	switch {
	case ch == d.id:
		if !d.answered {
			d.a.m.Abandoned(DirectQueue, d.id, at)
		}
		d.record("abandoned", at)
		d.a.hangup(d.leg)
		d.end()
	case ch == d.leg && d.phase == directTalking:
		d.record("answered", at)
		d.a.hangup(d.id)
		d.end()
	}
}

func (d *directCall) end() {
	if d.answered {
		d.a.m.Ended(DirectQueue, d.id) // a finished call (callmon_calls_total)
	}
	d.phase = directDone
	if d.bridged {
		d.a.deleteBridge(d.mixID)
	}
}

// toVoicemail hands the caller to the voicemail dialogue, which runs in its
// own goroutine and is fed this call's events.
func (d *directCall) toVoicemail() { d.voicemail(false) }

// voicemail starts the dialogue; adopted: carry on the one a previous process
// left, when the Voicemail can (VoicemailResumer).
func (d *directCall) voicemail(adopted bool) {
	d.a.hangup(d.leg)
	if d.a.cfg.Voicemail == nil {
		// No way to take a message: someone in the general queue helps.
		now := d.a.clock.Now()
		d.a.m.Left(DirectQueue, d.id, "transferred", now)
		d.record("transferred", now)
		d.phase = directDone
		d.a.transferToQueue(d.id, d.caller, now)
		return
	}
	d.phase = directVoicemail
	d.vm = make(chan ari.Event, 256)
	// Routed before the dialogue asks Asterisk anything: an end of the
	// recording after its look-up must reach it.
	d.a.route(vmRecordingName(d.id), d)
	for i := 1; i <= 8; i++ {
		d.a.route(fmt.Sprintf("%s%s-vm%d", idPrefix, d.id, i), d)
	}
	vm, emp := d.a.cfg.Voicemail, *d.emp
	r, resumable := vm.(VoicemailResumer)
	go func() {
		ctx := context.Background()
		if adopted && resumable {
			outcome, resumed, err := r.Resume(ctx, d.id, emp, d.caller, d.vm)
			if resumed {
				d.mb.post(vmDoneMsg{outcome: outcome, err: err, resumed: true})
				return
			}
		}
		outcome, err := vm.Take(ctx, d.id, emp, d.caller, d.vm)
		d.mb.post(vmDoneMsg{outcome: outcome, err: err})
	}()
}

// awaitDialplanVoicemail carries on a caller an earlier process handed to
// the dialplan's VoiceMail(): its outcome (a message kept or not) is still to
// come, as a ChannelVarset to the application's own subscription, which
// outlived that process.
func (d *directCall) awaitDialplanVoicemail() {
	aw, ok := d.a.cfg.Voicemail.(VoicemailAwaiter)
	if !ok {
		// Handed off under voicemail.mode dialplan, now configured otherwise:
		// the dialplan has the caller, and nothing here can tell the outcome.
		now := d.a.clock.Now()
		d.a.log.Warn("caller handed to the dialplan's voicemail; its outcome cannot be followed in this voicemail mode", "call", d.id)
		d.endUnobserved = true
		d.a.m.Abandoned(DirectQueue, d.id, now)
		d.record("abandoned", now)
		d.end()
		return
	}
	d.phase = directVoicemail
	d.vm = make(chan ari.Event, 256)
	emp := *d.emp
	go func() {
		outcome, err := aw.Await(context.Background(), d.id, emp, d.caller, d.vm)
		d.mb.post(vmDoneMsg{outcome: outcome, err: err, resumed: true})
	}()
}

// vmRecordingName is the stored recording of a call's message.
func vmRecordingName(channelID string) string {
	return "vm-" + strings.ReplaceAll(channelID, ".", "-")
}

func (d *directCall) voicemailDone(m vmDoneMsg) {
	d.a.log.Info("voicemail ended", "call", d.id, "outcome", m.outcome, "resumed", m.resumed, "err", m.err)
	now := d.a.clock.Now()
	if m.outcome == "failed" && !d.a.driving() {
		// Interrupted by the end of this process's term, not by Asterisk: the
		// recording goes on, and the next process carries it on.
		d.a.log.Info("voicemail left to the next active callmon", "call", d.id)
		d.phase = directDone
		return
	}
	switch m.outcome {
	case "continued":
		// The dialplan's VoiceMail() took the caller's message (voicemail.mode:
		// dialplan); the caller is the dialplan's, not to be hung up here.
		d.a.m.Left(DirectQueue, d.id, "voicemail", now)
		d.record("voicemail", now)
		d.end()
	case "continued_no_message":
		// Handed to VoiceMail(), which kept no message: unanswered and no
		// message, as a caller who hangs up during callmon's own greeting.
		d.a.m.Abandoned(DirectQueue, d.id, now)
		d.record("abandoned", now)
		d.end()
	case "recorded":
		d.a.m.Left(DirectQueue, d.id, "voicemail", now)
		d.record("voicemail", now)
		d.a.hangup(d.id)
		d.end()
	case "to_queue", "failed":
		if m.err != nil {
			d.a.log.Error("voicemail failed; caller moved to the general queue", "call", d.id, "err", m.err)
		}
		d.a.m.Left(DirectQueue, d.id, "transferred", now)
		d.record("transferred", now)
		d.phase = directDone
		d.a.transferToQueue(d.id, d.caller, now)
	default: // hung_up, discarded
		d.a.m.Abandoned(DirectQueue, d.id, now)
		d.record("abandoned", now)
		d.a.hangup(d.id)
		d.end()
	}
}

// transferToQueue makes a caller already in Stasis a new call of the
// general queue (the first configured queue), entering it now.
func (a *App) transferToQueue(id string, caller CallerInfo, at time.Time, notice ...string) {
	var q *Queue
	if len(a.cfg.Queues) > 0 {
		q = a.queue(a.cfg.Queues[0].Name)
	}
	if q == nil {
		a.hangup(id)
		return
	}
	e := &ari.StasisStart{
		EventData: ari.EventData{Type: "StasisStart", Timestamp: ari.DateTime(at)},
		Args:      []string{"queue", q.Name},
		Channel:   ari.ChannelData{ID: id, Caller: &ari.CallerID{Name: caller.Name, Number: caller.Number}},
	}
	c := newQueueCall(a, q, e)
	if len(notice) > 0 {
		c.notice = notice[0]
	}
	a.startQueueCall(c, e)
}
