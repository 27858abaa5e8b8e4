package ari

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// Automatic callbacks (DESIGN §4.3): at the start of a callback's window
// callmon rings an agent of the queue, announces the task to them, dials
// the customer and bridges the two. Package callback decides which task is
// due and records the outcome; this file only makes the call.

// CallbackCall is one automatic callback to make.
type CallbackCall struct {
	Queue      string // the queue whose agents call back
	Number     string // the customer, E.164: +31612345678
	CallerName string // the customer's name if known, shown on the agent's phone
	TaskID     string // the task's id, for channel ids and logs
	// Agent, when set, is rung rather than the longest-idle agent of the
	// queue if they can be rung now (the task's assignee).
	Agent string
	// RingTimeout is how long the customer's phone rings; 0: 30 s.
	RingTimeout time.Duration
	// BeforeCustomer, if set, runs right before the customer is dialled and
	// must make that durable (the task's store): a process that takes over
	// after a crash must not dial the customer again. An error stops the
	// dial: the customer is not called.
	BeforeCustomer func() error
}

// CallbackResult says what became of an automatic callback.
type CallbackResult string

// Results of DialCallback. Reached, NoAnswer and WrongNumber are attempts
// to reach the customer; AgentUnavailable is none.
const (
	// CallbackReached: the customer answered and is bridged with the agent.
	CallbackReached CallbackResult = "reached"
	// CallbackNoAnswer: the customer's phone was not answered in time, was
	// busy or unreachable, or the outbound call could not be made at all
	// (the trunk refused it: ARI's 4xx/5xx on the originate).
	CallbackNoAnswer CallbackResult = "no_answer"
	// CallbackWrongNumber: the network says the number does not exist —
	// the customer's channel ended with Q.850 cause 1 (unallocated), 22
	// (number changed) or 28 (invalid number format).
	CallbackWrongNumber CallbackResult = "wrong_number"
	// CallbackAgentUnavailable: the agent did not answer (timeout, busy,
	// unreachable), hung up before the customer answered, or was gone when
	// the customer answered. The customer was not reached and no attempt
	// counts; the agent is not rung for automatic callbacks for a while.
	CallbackAgentUnavailable CallbackResult = "agent_unavailable"
)

// CallbackOutcome is what DialCallback measured. Times are Asterisk's event
// timestamps, zero for what did not happen.
type CallbackOutcome struct {
	Result CallbackResult
	Agent  string // id of the agent rung
	// AgentAnswered: the agent's channel went Up.
	AgentAnswered time.Time
	// CustomerDialled: the customer's phone was dialled (the first Dial
	// event of their channel; callmon's clock if Asterisk sent none).
	CustomerDialled time.Time
	// CustomerAnswered: the customer's channel went Up.
	CustomerAnswered time.Time
	// Wait is CustomerDialled → CustomerAnswered in whole milliseconds;
	// zero unless reached.
	Wait time.Duration
	// Cause is the Q.850 cause of the customer's channel when it ended
	// unanswered (0 if unknown), CauseText Asterisk's words for it.
	Cause     int
	CauseText string
	// Detail says in words what happened (for the task's notes).
	Detail string
}

// Note is the outcome in one line, for a task's notes.
func (o CallbackOutcome) Note() string {
	s := "Automatic callback"
	if o.Agent != "" {
		s += " by agent " + o.Agent
	}
	return s + ": " + o.Detail
}

// Errors of DialCallback; with them no call was made, or it was abandoned
// before its outcome was known and its channels hung up.
var (
	// ErrNoAgent: no agent of the queue can be rung now (none logged in,
	// all busy or paused, or skipped after not taking a callback).
	ErrNoAgent = errors.New("no agent available for an automatic callback")
	// ErrStopped: the App is stopping.
	ErrStopped = errors.New("callmon is stopping")
)

// Announcement played to the agent before the customer is dialled: a
// sound file under callmon/ in the Asterisk sounds directory, like the
// callback dialogue's prompts.
const promptCallbackTask = "sound:callmon/callback-task" // "this is a callback; the customer is being called"

const (
	// appArgsCallback is the Stasis argument of both legs of an automatic
	// callback: a restarted callmon hangs up such legs it does not know.
	appArgsCallback     = "callback"
	defaultCustomerRing = 30 * time.Second
	dialGuardSlack      = 2 * time.Minute // announcement, REST and event delays
)

// e164Number is what a customer's number must look like.
var e164Number = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// DialCallback makes one automatic callback and returns its outcome as soon
// as it is known. It blocks while the agent and then the customer ring;
// with CallbackReached it returns when both are bridged, and the
// conversation goes on after it has returned: the agent stays on a call
// until one of them hangs up, then callmon hangs up the other. Any other
// outcome has hung up both legs before DialCallback returns.
//
// The flow: reserve the agent (req.Agent if available, else the queue's
// longest-idle available agent; none: ErrNoAgent at once, nothing dialled)
// → originate the agent's endpoint with the queue's ring timeout → when
// the agent answers, play promptCallbackTask to them → originate the
// customer on Config.OutboundEndpoint (caller id: the queue's first number)
// → when the customer answers, put both in a mixing bridge: reached. See
// CallbackResult for the other outcomes. The agent shows as ringing, then
// on_call, and is free again when the flow ends.
//
// Cancelling ctx before the outcome is known abandons the callback: both
// legs are hung up and ctx's error returned. Other errors (the request is
// invalid, Asterisk cannot be reached, no outcome within the ring timeouts
// plus two minutes) also mean the customer was not reached and nothing is
// left ringing.
func (a *App) DialCallback(ctx context.Context, req CallbackCall) (CallbackOutcome, error) {
	q := a.queue(req.Queue)
	switch {
	case q == nil:
		return CallbackOutcome{}, fmt.Errorf("ari: callback for unknown queue %q", req.Queue)
	case !e164Number.MatchString(req.Number):
		return CallbackOutcome{}, fmt.Errorf("ari: callback number %q is not an E.164 number like +31612345678", req.Number)
	case !strings.Contains(a.cfg.OutboundEndpoint, "{number}"):
		return CallbackOutcome{}, errors.New("ari: no outbound endpoint with {number} configured for automatic callbacks")
	}
	if err := ctx.Err(); err != nil {
		return CallbackOutcome{}, err
	}
	d := &dialCall{a: a, q: q, req: req, mb: newMailbox(), result: make(chan dialResult, 1)}
	if d.req.RingTimeout <= 0 {
		d.req.RingTimeout = defaultCustomerRing
	}
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return CallbackOutcome{}, ErrStopped
	}
	a.dialSeq++
	d.id = fmt.Sprintf("%scb%s-%s%d", idPrefix, idSafe(req.TaskID),
		strconv.FormatInt(a.clock.Now().UnixMilli(), 36), a.dialSeq)
	a.mu.Unlock()
	d.agentCh, d.custCh, d.mixID = d.id+"-agent", d.id+"-cust", d.id+"-mix"

	ag, ok := a.agents.reserveCallback(q.Name, req.Agent, d)
	if !ok {
		return CallbackOutcome{}, ErrNoAgent
	}
	d.agent = ag
	d.out.Agent = ag.ID

	a.mu.Lock()
	if a.stopped || a.inactive {
		a.mu.Unlock()
		a.agents.releaseCallback(ag.ID, d, false)
		return CallbackOutcome{}, ErrStopped
	}
	a.dials[d.id] = d
	for _, id := range []string{d.agentCh, d.agentCh + ";2", d.custCh, d.custCh + ";2"} {
		a.routes[id] = d
	}
	a.wg.Add(1)
	a.flows.Add(1)
	a.mu.Unlock()
	d.mb.post(dialStartMsg{})
	go func() {
		defer a.wg.Done()
		defer a.flows.Done()
		d.run()
	}()

	select {
	case r := <-d.result:
		return r.out, r.err
	case <-ctx.Done():
		d.mb.post(dialAbortMsg{err: ctx.Err()})
		r := <-d.result // the flow answers at once, also when the outcome beat the abort
		return r.out, r.err
	}
}

// CallbackAgents is the number of agents of queue who could be rung for an
// automatic callback now; a dispatcher claims no more tasks than this.
func (a *App) CallbackAgents(queue string) int { return a.agents.callbackAvailable(queue) }

// idSafe keeps what may stand in a channel id callmon chooses.
func idSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return -1
	}, s)
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

type dialPhase int

const (
	dialAgentRinging    dialPhase = iota // the agent's phone rings
	dialAnnouncing                       // the agent answered and hears the announcement
	dialCustomerRinging                  // the customer's phone rings
	dialTalking                          // bridged: reached
	dialDone
)

type (
	dialStartMsg struct{}
	dialAbortMsg struct{ err error }
	dialResult   struct {
		out CallbackOutcome
		err error
	}
)

// dialCall is the flow of one automatic callback: one goroutine takes its
// events and messages from mb, in order, as a queueCall does.
type dialCall struct {
	a      *App
	q      *Queue
	req    CallbackCall
	id     string
	agent  Agent
	mb     *mailbox
	result chan dialResult // gets exactly one value

	phase                  dialPhase
	agentCh, custCh, mixID string
	custDialled            bool      // the customer's originate was accepted
	custOriginated         time.Time // callmon's clock at that originate
	agentUpAt, custUpAt    time.Time
	playback               string
	seq                    int
	bridge                 bool // the mixing bridge exists
	reported               bool
	out                    CallbackOutcome
	stopGuard              func() bool
	guardGen               int
	released               bool
}

func (d *dialCall) inbox() *mailbox { return d.mb }

func (d *dialCall) run() {
	defer func() {
		d.mb.close()
		d.report(ErrStopped) // only if nothing was reported
		d.releaseAgent(false)
		d.cancelGuard()
		d.a.dialFinished(d)
	}()
	for d.phase != dialDone {
		msg, ok := d.mb.next()
		if !ok {
			return
		}
		d.handle(msg)
	}
}

func (d *dialCall) handle(msg any) {
	switch m := msg.(type) {
	case dialStartMsg:
		d.ringAgent()
	case dialAbortMsg:
		if !d.reported {
			d.a.log.Info("automatic callback abandoned", "task", d.req.TaskID, "agent", d.agent.ID, "err", m.err)
			d.fail(m.err)
		}
	case timerMsg:
		if m.gen == d.guardGen && !d.reported {
			d.a.log.Warn("automatic callback has no outcome in time; hanging up", "task", d.req.TaskID, "agent", d.agent.ID, "phase", d.phase)
			d.fail(fmt.Errorf("ari: automatic callback for task %s: no outcome in time", d.req.TaskID))
		}
	case resyncMsg:
		d.resync(m)
	case *ari.Dial:
		if m.Peer.ID == d.custCh && d.out.CustomerDialled.IsZero() {
			d.out.CustomerDialled = time.Time(m.Timestamp)
		}
	case *ari.ChannelStateChange:
		if m.Channel.State == "Up" {
			switch m.Channel.ID {
			case d.agentCh:
				if d.agentUpAt.IsZero() {
					d.agentUpAt = time.Time(m.Timestamp)
				}
			case d.custCh:
				if d.custUpAt.IsZero() {
					d.custUpAt = time.Time(m.Timestamp)
				}
			}
		}
	case *ari.StasisStart:
		switch m.Channel.ID {
		case d.agentCh:
			d.agentAnswered(time.Time(m.Timestamp))
		case d.custCh:
			d.customerAnswered(time.Time(m.Timestamp))
		}
	case *ari.PlaybackFinished:
		if m.Playback.ID == d.playback {
			d.playback = ""
			d.dialCustomer()
		}
	case *ari.ChannelHangupRequest:
		d.hungUp(m.Channel.ID)
	case *ari.StasisEnd:
		d.hungUp(m.Channel.ID)
	case *ari.ChannelDestroyed:
		d.destroyed(m.Channel.ID, m.Cause, m.CauseTxt)
	}
}

// ringAgent originates the reserved agent's endpoint.
func (d *dialCall) ringAgent() {
	d.armGuard(d.q.RingTimeout + d.req.RingTimeout + dialGuardSlack)
	name := d.req.CallerName
	if name == "" {
		name = "Callback"
	}
	_, err := d.a.rest.Channel().Originate(nil, ari.OriginateRequest{
		Endpoint:  d.agent.Endpoint,
		Timeout:   ringSeconds(d.q.RingTimeout),
		CallerID:  fmt.Sprintf("%q <%s>", name, d.req.Number),
		App:       d.a.cfg.Application,
		AppArgs:   appArgsCallback,
		ChannelID: d.agentCh,
	})
	if err == nil {
		return
	}
	if asteriskRefused(err) {
		// Offline, unregistered, unknown endpoint: like not answering.
		d.a.log.Warn("ringing agent for an automatic callback failed; skipping the agent",
			"task", d.req.TaskID, "agent", d.agent.ID, "endpoint", d.agent.Endpoint, "err", err)
		d.agentUnavailable("the agent's phone could not be rung")
		return
	}
	d.fail(fmt.Errorf("ari: ringing agent %s: %w", d.agent.ID, err))
}

// asteriskRefused reports whether Asterisk answered a request with an
// error, as opposed to not being reached.
func asteriskRefused(err error) bool {
	code := statusOf(err)
	return code >= http.StatusBadRequest && code < 600
}

func ringSeconds(d time.Duration) int {
	return max(1, int(d.Round(time.Second)/time.Second))
}

func (d *dialCall) agentAnswered(ts time.Time) {
	if d.phase != dialAgentRinging {
		return
	}
	d.phase = dialAnnouncing
	if d.agentUpAt.IsZero() {
		d.agentUpAt = ts
	}
	d.out.AgentAnswered = d.agentUpAt
	d.a.agents.callbackAnswered(d.agent.ID, d)
	d.seq++
	pb := fmt.Sprintf("%s-pb%d", d.id, d.seq)
	d.a.route(pb, d)
	if _, err := d.a.rest.Channel().Play(ari.NewKey(ari.ChannelKey, d.agentCh), pb, promptCallbackTask); err != nil {
		d.a.unroute(pb)
		if gone(err) {
			return // the agent hung up; the hang-up event follows
		}
		d.restErr("play announcement to agent", err)
		d.dialCustomer() // never leave the agent in silence
		return
	}
	d.playback = pb
}

// dialCustomer originates the customer once the agent has heard the task.
func (d *dialCall) dialCustomer() {
	if d.phase != dialAnnouncing {
		return
	}
	d.phase = dialCustomerRinging
	var callerID string
	if len(d.q.Numbers) > 0 {
		callerID = d.q.Numbers[0]
	}
	if d.req.BeforeCustomer != nil {
		if err := d.req.BeforeCustomer(); err != nil {
			d.fail(fmt.Errorf("ari: the customer's dial could not be noted in the task, so it is not made: %w", err))
			return
		}
	}
	d.custOriginated = d.a.clock.Now()
	_, err := d.a.rest.Channel().Originate(nil, ari.OriginateRequest{
		Endpoint:  strings.ReplaceAll(d.a.cfg.OutboundEndpoint, "{number}", d.req.Number),
		Timeout:   ringSeconds(d.req.RingTimeout),
		CallerID:  callerID,
		App:       d.a.cfg.Application,
		AppArgs:   appArgsCallback + ",customer",
		ChannelID: d.custCh,
	})
	if err != nil {
		if asteriskRefused(err) {
			d.a.log.Warn("dialling the customer of an automatic callback failed", "task", d.req.TaskID, "err", err)
			d.notReached(CallbackNoAnswer, "the call to the customer could not be made: "+err.Error())
			return
		}
		d.fail(fmt.Errorf("ari: dialling the customer: %w", err))
		return
	}
	d.custDialled = true
}

func (d *dialCall) customerAnswered(ts time.Time) {
	if d.phase != dialCustomerRinging {
		d.a.hangup(d.custCh)
		return
	}
	if d.custUpAt.IsZero() {
		d.custUpAt = ts
	}
	mix := ari.NewKey(ari.BridgeKey, d.mixID)
	if _, err := d.a.rest.Bridge().Create(mix, "mixing", "callback-"+d.q.Name+"-"+idSafe(d.req.TaskID)); err != nil {
		d.fail(fmt.Errorf("ari: create mixing bridge: %w", err))
		return
	}
	d.bridge = true
	if err := d.a.addToBridge(d.mixID, d.agentCh, d.custCh); err != nil {
		if notMember(err) {
			return // a party hung up: its hang-up event follows
		}
		d.fail(fmt.Errorf("ari: add agent and customer to mixing bridge: %w", err))
		return
	}
	d.phase = dialTalking
	d.out.Result = CallbackReached
	d.out.CustomerAnswered = d.custUpAt
	if d.out.CustomerDialled.IsZero() {
		// Asterisk sent no Dial event for the customer's channel (a
		// channel driver that signals nothing): callmon's clock stands in.
		d.out.CustomerDialled = d.custOriginated
	}
	d.out.Wait = time.Duration(max(0, d.custUpAt.UnixMilli()-d.out.CustomerDialled.UnixMilli())) * time.Millisecond
	d.out.Detail = fmt.Sprintf("customer answered after %.1f s", d.out.Wait.Seconds())
	d.a.log.Info("automatic callback reached the customer", "task", d.req.TaskID, "queue", d.q.Name,
		"agent", d.agent.ID, "wait_ms", d.out.Wait.Milliseconds())
	d.cancelGuard()
	d.report(nil)
}

// hungUp handles a hang-up request or StasisEnd. Before answering, legs
// are judged by their ChannelDestroyed, which carries the cause.
func (d *dialCall) hungUp(ch string) {
	switch {
	case ch == d.agentCh && d.phase != dialAgentRinging:
		d.agentGone()
	case ch == d.custCh && d.phase == dialTalking:
		d.end()
	}
}

func (d *dialCall) destroyed(ch string, cause int, causeTxt string) {
	switch ch {
	case d.agentCh:
		if d.phase == dialAgentRinging {
			d.a.log.Debug("agent did not take the automatic callback", "task", d.req.TaskID, "agent", d.agent.ID, "cause", causeTxt)
			d.agentUnavailable(fmt.Sprintf("the agent did not answer (%s)", causeText(cause, causeTxt)))
			return
		}
		d.agentGone()
	case d.custCh:
		if d.phase != dialCustomerRinging {
			if d.phase == dialTalking {
				d.end()
			}
			return
		}
		d.out.Cause, d.out.CauseText = cause, causeTxt
		switch cause {
		case 1, 22, 28: // unallocated, number changed, invalid number format
			d.notReached(CallbackWrongNumber, fmt.Sprintf("the number cannot be called (%s)", causeText(cause, causeTxt)))
		default:
			d.notReached(CallbackNoAnswer, fmt.Sprintf("the customer did not answer (%s)", causeText(cause, causeTxt)))
		}
	}
}

func causeText(cause int, txt string) string {
	if txt == "" {
		txt = "unknown"
	}
	return fmt.Sprintf("cause %d, %s", cause, txt)
}

// agentGone: the agent hung up after answering.
func (d *dialCall) agentGone() {
	switch d.phase {
	case dialDone:
	case dialTalking:
		d.end()
	default: // before the customer answered: the customer is not reached
		d.agentUnavailable("the agent hung up before the customer answered")
	}
}

// agentUnavailable ends the flow without an attempt; the agent is skipped.
func (d *dialCall) agentUnavailable(detail string) {
	d.out.Result, d.out.Detail = CallbackAgentUnavailable, detail
	d.releaseAgent(true)
	d.end()
	d.report(nil)
}

// notReached ends an attempt at the customer that failed.
func (d *dialCall) notReached(r CallbackResult, detail string) {
	d.out.Result, d.out.Detail = r, detail
	d.a.log.Info("automatic callback did not reach the customer", "task", d.req.TaskID, "queue", d.q.Name,
		"agent", d.agent.ID, "result", r, "detail", detail)
	d.end()
	d.report(nil)
}

// fail ends the flow with err when no outcome is known.
func (d *dialCall) fail(err error) {
	d.end()
	d.report(err)
}

func (d *dialCall) report(err error) {
	if d.reported {
		return
	}
	d.reported = true
	if err != nil {
		d.result <- dialResult{out: CallbackOutcome{Agent: d.agent.ID}, err: err}
		return
	}
	d.result <- dialResult{out: d.out}
}

// end hangs up whatever is left and frees the agent. The agent is freed
// before its channel is hung up, so whoever sees the hang-up finds the
// agent available.
func (d *dialCall) end() {
	if d.phase == dialDone {
		return
	}
	d.phase = dialDone
	d.cancelGuard()
	d.releaseAgent(false)
	if d.playback != "" {
		d.playback = "" // ends with the agent's channel
	}
	d.a.hangup(d.agentCh)
	if d.custDialled {
		d.a.hangup(d.custCh)
	}
	if d.bridge {
		d.bridge = false
		d.a.deleteBridge(d.mixID)
	}
}

func (d *dialCall) releaseAgent(skip bool) {
	if d.released || d.agent.ID == "" {
		return
	}
	d.released = true
	d.a.agents.releaseCallback(d.agent.ID, d, skip)
}

// resync applies GET /channels after a reconnect: a leg that vanished
// during the gap hung up then (cause unknown).
func (d *dialCall) resync(m resyncMsg) {
	if d.phase == dialDone {
		return
	}
	if !m.channels[d.agentCh] {
		d.destroyed(d.agentCh, 0, "")
		if d.phase == dialDone {
			return
		}
	}
	if d.custDialled && !m.channels[d.custCh] {
		d.destroyed(d.custCh, 0, "")
	}
}

func (d *dialCall) armGuard(after time.Duration) {
	d.cancelGuard()
	gen := d.guardGen
	d.stopGuard = d.a.clock.AfterFunc(after, func() { d.mb.post(timerMsg{gen: gen, what: "guard"}) })
}

func (d *dialCall) cancelGuard() {
	if d.stopGuard != nil {
		d.stopGuard()
		d.stopGuard = nil
	}
	d.guardGen++
}

func (d *dialCall) restErr(what string, err error) {
	if gone(err) {
		d.a.log.Debug(what+": already gone", "task", d.req.TaskID)
		return
	}
	d.a.log.Warn(what+" failed", "task", d.req.TaskID, "queue", d.q.Name, "err", err)
}

// dialFinished drops an automatic callback from the tables.
func (a *App) dialFinished(d *dialCall) {
	a.forget(d, func() { delete(a.dials, d.id) })
}
