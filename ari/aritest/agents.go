package aritest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Behaviour is how an agent's phone reacts when the app originates a call to it.
type Behaviour struct {
	AnswerAfter time.Duration // ring this long, then answer; 0 (and NoAnswer false) answers at once
	NoAnswer    bool          // rings until the originate timeout or the app hangs up
	Busy        bool          // Busy() right away (queue-agent-busy)
	Congestion  bool          // Congestion() right away (queue-agent-congestion)
	TalkFor     time.Duration // agent hangs up this long after answering; 0 = stays until the app hangs up
	NoRinging   bool          // the phone gives no ringing indication
	// Unallocated: the number does not exist (a SIP 404 from the trunk): the channel ends at
	// once with Q.850 cause 1, without a final Dial event.
	Unallocated bool
	// DND: the phone is on do-not-disturb and rejects the call at once, without ringing. The
	// fake models the rejection as SIP 603 Decline, which chan_pjsip turns into Q.850 cause 21
	// "Call Rejected" (ast_sip_hangup_sip2cause): ChannelHangupRequest 21, a final Dial
	// NOANSWER (dial.c's status for a peer that hung up with a cause other than busy or
	// congestion; ARI has no DND status) and ChannelDestroyed 21. Phones that answer DND with
	// 486 Busy Here look like Busy instead. On a Local target it is the agent's dialplan doing
	// Hangup(21).
	DND bool
}

// describe is the NoOp text the agent's dialplan starts with, worded as the lab's [agents].
func (b Behaviour) describe() string {
	switch {
	case b.DND:
		return "agent is on do-not-disturb"
	case b.Busy:
		return "agent is busy"
	case b.Congestion:
		return "agent is congested"
	case b.Unallocated:
		return "number does not exist"
	case b.NoAnswer:
		return "agent never answers"
	case b.TalkFor > 0:
		return fmt.Sprintf("agent answers after %s s, talks %s s", seconds(b.AnswerAfter), seconds(b.TalkFor))
	default:
		return fmt.Sprintf("agent answers after %s s, stays", seconds(b.AnswerAfter))
	}
}

// seconds formats a duration as Wait()'s argument.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// stayWait is the Wait() of an agent that neither answers nor hangs up by itself (the lab's
// Wait(600)).
const stayWait = "600"

// AddEndpoint adds (or redefines) an agent's phone: "PJSIP/1001", or a Local dialplan target
// standing for one, "Local/agent-answer3@agents". State is "online" or "offline" (also
// "unknown", "unavailable"). Local targets are not ARI endpoints: GET /endpoints and
// subscriptions ignore them, as Asterisk does.
//
// A number dialled through a PJSIP trunk, "PJSIP/+31612345678@pstn", is added the same way,
// with the Behaviour of the phone at that number; its channels are named after the trunk
// (PJSIP/pstn-0000000N) and, like Local targets, it is no ARI endpoint of its own.
func (s *Server) AddEndpoint(name, state string, b Behaviour) {
	tech, res, valid := splitEndpoint(name)
	if !valid {
		panic("aritest: endpoint name must be TECH/RESOURCE, got " + strconv.Quote(name))
	}
	s.mu.Lock()
	if e := s.endpoints[name]; e != nil {
		e.behaviour = b
		s.setEndpointState(e, state)
	} else {
		s.endpoints[name] = &endpoint{tech: tech, resource: res, state: state, behaviour: b}
	}
	s.mu.Unlock()
	s.notify()
}

// AddLabEndpoints adds the lab's simulated agents (lab-config/extensions.conf, [agents]), all
// online: Local/agent-answer3@agents (rings 3 s, talks 4 s), agent-answer3-bye2 (talks 2 s),
// agent-answer3-stay, agent-noanswer, agent-busy, agent-congestion.
func (s *Server) AddLabEndpoints() {
	for name, b := range map[string]Behaviour{
		"agent-answer3":      {AnswerAfter: 3 * time.Second, TalkFor: 4 * time.Second},
		"agent-answer3-bye2": {AnswerAfter: 3 * time.Second, TalkFor: 2 * time.Second},
		"agent-answer3-stay": {AnswerAfter: 3 * time.Second},
		"agent-noanswer":     {NoAnswer: true},
		"agent-busy":         {Busy: true},
		"agent-congestion":   {Congestion: true},
	} {
		s.AddEndpoint("Local/"+name+"@agents", "online", b)
	}
}

// SetBehaviour changes how an endpoint reacts to calls originated from now on.
func (s *Server) SetBehaviour(endpoint string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.endpoints[endpoint]; e != nil {
		e.behaviour = b
	}
}

// SetEndpointState changes an endpoint's state; subscribers of endpoint:X get
// EndpointStateChange.
func (s *Server) SetEndpointState(endpoint, state string) {
	s.mu.Lock()
	if e := s.endpoints[endpoint]; e != nil {
		s.setEndpointState(e, state)
	}
	s.mu.Unlock()
	s.notify()
}

func (s *Server) setEndpointState(e *endpoint, state string) {
	if e.state == state {
		return
	}
	e.state = state
	s.endpointChange(e)
}

func reachable(e *endpoint) bool {
	return e != nil && e.state != "offline" && e.state != "unavailable"
}

// agentCall is an originate in progress: the channel the app named (x) and, for Local, the ;2
// half (x2) that runs the agent's dialplan.
type agentCall struct {
	s          *Server
	x, x2      *channel
	b          Behaviour
	dialstring string
	args       []string
	appData    string // Stasis' app_data once answered: "callmon,agent"
	answered   bool
	timers     []func() bool
}

func (a *agentCall) schedule(d time.Duration, f func()) {
	a.timers = append(a.timers, a.s.after(d, func() {
		if !a.x.dead {
			f()
		}
	}))
}

func (a *agentCall) cancelTimers() {
	for _, stop := range a.timers {
		stop()
	}
	a.timers = nil
}

// originate is POST /channels and POST /channels/{id}, checked in Asterisk's order.
func (s *Server) originate(q *request) reply {
	p := q.params
	target := p.str("endpoint")
	if target == "" {
		return fail(http.StatusBadRequest, "Endpoint must be specified")
	}
	tech, res, valid := splitEndpoint(target)
	if !valid {
		return fail(http.StatusBadRequest, "Invalid endpoint specified")
	}
	app := p.str("app")
	switch {
	case app == "" && p.str("extension") == "":
		return fail(http.StatusBadRequest, "Application or extension must be specified")
	case app == "":
		return fail(http.StatusNotImplemented, "aritest does not emulate originating into the dialplan")
	case app != s.opt.App:
		return fail(http.StatusNotImplemented, "aritest emulates only the application "+s.opt.App)
	}
	id := q.path("id")
	if id == "" {
		id = p.str("channelId")
	}
	other := p.str("otherChannelId")
	if (id != "" && s.channels[id] != nil) || (other != "" && s.channels[other] != nil) {
		return fail(http.StatusConflict, "Channel with given unique ID already exists")
	}
	a := &agentCall{
		s:          s,
		dialstring: res,
		appData:    app,
	}
	if args := p.str("appArgs"); args != "" {
		a.args = strings.Split(args, ",")
		a.appData += "," + args
	}
	cid := parseCallerID(p.str("callerId"))
	timeout := time.Duration(p.integer("timeout", 30)) * time.Second

	var rep reply
	switch tech {
	case "Local":
		rep = s.originateLocal(a, res, id, other, cid)
	case "PJSIP":
		rep = s.originatePJSIP(a, res, id, cid)
	default:
		return allocationFailed // no such channel driver
	}
	if rep.status == http.StatusOK {
		s.stats.originates.Add(1)
		s.truthOriginated(target)
		if !a.x.dead && !a.answered && timeout > 0 {
			a.schedule(timeout, a.timeout)
		}
	}
	return rep
}

// originateLocal creates the pair X (;1, in the app's hands) and X;2 (runs the target's
// dialplan). An unknown or offline target still gets a 200: the ;2 half finds no extension and
// both halves die with cause 0 (rest-errors, Local/unknown@nowhere).
func (s *Server) originateLocal(a *agentCall, res, id, other string, cid callerJSON) reply {
	exten, ctx, found := strings.Cut(res, "@")
	if !found {
		ctx = "default"
	}
	base := fmt.Sprintf("Local/%s-%08x", res, s.localSeq)
	s.localSeq++
	switch {
	case id == "":
		id, other = s.uniqueid(), s.uniqueid()
	case other == "":
		other = id + ";2"
	}
	x := s.newChannel(id, base+";1", roleAgent, "Local")
	x.state = "Down"
	x.dialplan = dialplanJSON{Context: ctx, Exten: exten, Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
	x2 := s.newChannel(other, base+";2", roleAgentHalf, "Local")
	x2.state = "Ring"
	x2.dialplan = dialplanJSON{Context: ctx, Exten: exten, Priority: 1}
	for _, c := range []*channel{x, x2} {
		c.caller, c.connected = cid, cid
		c.epName = "Local/" + res
		c.call = a
		c.subs++ // ARI's originate subscribes the app to both halves
	}
	x.half, x2.half = x2, x
	a.x, a.x2 = x, x2
	rep := ok(x.snapshot())

	s.callerIDEvent(x2)
	s.chanEvent(x2, nil, "ChannelConnectedLine")
	e := s.endpoints["Local/"+res]
	if !reachable(e) {
		s.destroy(x2, 0)
		s.destroy(x, 0)
		return rep
	}
	a.b = e.behaviour
	s.dial(a, "")
	s.dialplanStep(x2, "NoOp", a.b.describe())
	switch {
	case a.b.DND:
		s.decline(a)
	case a.b.Busy:
		s.reject(a, "Busy", "BUSY", 17)
	case a.b.Congestion:
		s.reject(a, "Congestion", "CONGESTION", 34)
	case a.b.Unallocated:
		a.fail(causeUnallocated)
	default:
		s.ring(a)
	}
	return rep
}

// originatePJSIP dials a phone. One channel, no ;2 half: the app sees the Local flow minus the
// ;2 events, with the Q.850 cause on X. An unknown, offline or unregistered endpoint cannot be
// dialled at all: chan_pjsip's request fails ("Could not create dialog ... Is endpoint
// registered and reachable?"), so ARI answers 500 Allocation failed and no channel exists.
func (s *Server) originatePJSIP(a *agentCall, res, id string, cid callerJSON) reply {
	e := s.endpoints["PJSIP/"+res]
	if !reachable(e) {
		return allocationFailed
	}
	if id == "" {
		id = s.uniqueid()
	}
	// PJSIP/<number>@<trunk> dials through the trunk: the channel is named after it.
	_, device, viaTrunk := strings.Cut(res, "@")
	if !viaTrunk {
		device = res
	}
	x := s.newChannel(id, fmt.Sprintf("PJSIP/%s-%08x", device, s.pjsipSeq), roleAgent, "PJSIP")
	s.pjsipSeq++
	x.state = "Down"
	x.caller, x.connected = cid, cid
	x.protocolID = s.callID()
	x.dialplan = dialplanJSON{Context: "default", Exten: "s", Priority: 1, AppName: "AppDial2", AppData: "(Outgoing Line)"}
	x.endpoint, x.epName, x.call = e, e.name(), a
	a.x, a.b = x, e.behaviour
	rep := ok(x.snapshot())

	e.channels = append(e.channels, x)
	s.endpointChange(e)
	s.chanEvent(x, nil, "ChannelCreated") // only an endpoint subscriber sees it
	x.subs++
	s.dial(a, "")
	switch {
	case a.b.DND:
		s.decline(a)
	case a.b.Busy:
		s.reject(a, "", "BUSY", 17)
	case a.b.Congestion:
		s.reject(a, "", "CONGESTION", 34)
	case a.b.Unallocated:
		a.fail(causeUnallocated)
	default:
		s.ring(a)
	}
	return rep
}

// reject is Busy()/Congestion() (a 486/503 on PJSIP): the useful cause is on the ;2 half, the
// ;1 half says 0 (queue-agent-busy).
func (s *Server) reject(a *agentCall, app, status string, cause int) {
	if a.x2 == nil {
		s.dial(a, status)
		s.destroy(a.x, cause)
		return
	}
	s.dialplanStep(a.x2, app, "")
	s.stateChange(a.x2, "Busy")
	s.dial(a, status)
	s.hangupRequest(a.x2, 0, false)
	s.destroy(a.x, 0)
	s.hangupRequest(a.x2, 16, true)
	s.destroy(a.x2, cause)
}

// causeRejected is Q.850's "Call Rejected" (SIP 603 Decline).
const causeRejected = 21

// decline is a do-not-disturb phone rejecting the call (Behaviour.DND). PJSIP: the 603 hangs
// the channel up with cause 21, dial.c reads the hang-up and reports NOANSWER. Local: the ;2
// half runs Hangup(21), which reaches X as a remote hang-up, in the order of agentHangsUp.
func (s *Server) decline(a *agentCall) {
	a.answered = true // no answer can come any more
	if a.x2 == nil {
		s.hangupRequest(a.x, causeRejected, false)
		s.dial(a, "NOANSWER")
		s.destroy(a.x, causeRejected)
		return
	}
	s.dialplanStep(a.x2, "Hangup", strconv.Itoa(causeRejected))
	s.hangupRequest(a.x2, causeRejected, true)
	s.hangupRequest(a.x, causeRejected, false)
	s.dial(a, "NOANSWER")
	s.destroy(a.x2, causeRejected)
	s.destroy(a.x, causeRejected)
}

// ring runs the phone until it answers (queue-answered: NoOp, Ringing(), X Ringing, Wait(3),
// Dial RINGING).
func (s *Server) ring(a *agentCall) {
	b := a.b
	if !b.NoRinging {
		if a.x2 != nil {
			s.dialplanStep(a.x2, "Ringing", "")
		}
		s.stateChange(a.x, "Ringing")
	}
	answerNow := !b.NoAnswer && b.AnswerAfter <= 0
	if a.x2 != nil && !answerNow {
		wait := stayWait
		if !b.NoAnswer {
			wait = seconds(b.AnswerAfter)
		}
		s.dialplanStep(a.x2, "Wait", wait)
	}
	if !b.NoRinging {
		s.dial(a, "RINGING")
	}
	switch {
	case answerNow:
		s.answerAgent(a)
	case !b.NoAnswer:
		a.schedule(b.AnswerAfter, func() { s.answerAgent(a) })
	}
}

// answerAgent: X;2 Up, X Up, Dial ANSWER, STASISSTATUS "", StasisStart X.
func (s *Server) answerAgent(a *agentCall) {
	if a.answered || a.x.dead {
		return
	}
	a.answered = true
	a.cancelTimers() // the originate timeout
	x, x2 := a.x, a.x2
	if x2 != nil {
		s.dialplanStep(x2, "Answer", "")
		s.stateChange(x2, "Up")
		x2.answered = true
	}
	s.stateChange(x, "Up")
	x.answered = true
	s.dial(a, "ANSWER")
	if !s.appActive() {
		// Stasis() fails on an absent app; the originated channel just ends.
		s.endAgent(a, 16)
		return
	}
	x.dialplan.AppName, x.dialplan.AppData = "Stasis", a.appData
	s.enterStasis(x, a.args)

	talk := func() {
		if a.b.TalkFor > 0 {
			a.schedule(a.b.TalkFor, func() { s.agentHangsUp(a) })
		}
	}
	if x2 == nil {
		talk()
		return
	}
	// Answer() waits 500 ms for media that a Local channel in Stasis never sends, then the
	// agent's dialplan talks (Wait) and hangs up: in the lab the hang-up came 4.5 s after the
	// answer of a "talks 4 s" agent.
	a.schedule(500*time.Millisecond, func() {
		wait := stayWait
		if a.b.TalkFor > 0 {
			wait = seconds(a.b.TalkFor)
		}
		s.dialplanStep(x2, "Wait", wait)
		talk()
	})
}

// timeout is the originate's timeout expiring while the phone rings: no Dial NOANSWER, no
// Stasis events, X destroyed with 19 (queue-ring-timeout).
func (a *agentCall) timeout() {
	if a.answered {
		return
	}
	a.fail(19)
}

// causeUnallocated is Q.850's "Unallocated (unassigned) number" (SIP 404).
const causeUnallocated = 1

// fail ends an unanswered originate with cause as the ring timeout does (queue-ring-timeout);
// an unallocated number is extrapolated to end the same way, with its own cause.
func (a *agentCall) fail(cause int) {
	s := a.s
	if a.x2 == nil {
		s.destroy(a.x, cause)
		return
	}
	s.hangupRequest(a.x2, cause, false)
	s.destroy(a.x, cause)
	s.hangupRequest(a.x2, 16, true)
	s.destroy(a.x2, cause)
}

// agentHangsUp is the agent ending the conversation (queue-answered): the ;2 half runs
// Hangup(), X is hung up remotely (16, not soft) and leaves bridge and Stasis.
func (s *Server) agentHangsUp(a *agentCall) {
	x, x2 := a.x, a.x2
	if x2 != nil {
		s.dialplanStep(x2, "Hangup", "")
		s.hangupRequest(x2, 16, true)
		s.hangupRequest(x, 16, false)
		s.destroy(x2, 16)
	} else {
		s.rtpStats(x)
		s.hangupRequest(x, 16, false)
	}
	s.endAgent(a, 16)
}

// endAgent takes X out of bridge and Stasis and destroys it.
func (s *Server) endAgent(a *agentCall, cause int) {
	x := a.x
	s.stopMedia(x)
	s.leaveBridge(x, false)
	s.leaveStasis(x)
	s.destroy(x, cause)
	if a.x2 != nil && !a.x2.dead {
		s.hangupRequest(a.x2, 16, true)
		s.destroy(a.x2, cause)
	}
}

// hangupAgentByApp is DELETE /channels/X: while ringing as queue-abandoned (Dial NOANSWER),
// while talking as queue-caller-ends.
func (s *Server) hangupAgentByApp(a *agentCall) {
	x, x2 := a.x, a.x2
	if x.dead {
		return
	}
	if x.answered && x2 == nil {
		s.rtpStats(x)
	}
	s.hangupRequest(x, 32, true)
	if a.answered {
		s.stopMedia(x)
		s.leaveBridge(x, false)
		s.leaveStasis(x)
	} else {
		a.answered = true // no answer can come any more
		s.dial(a, "NOANSWER")
	}
	if x2 != nil {
		s.hangupRequest(x2, 16, false)
	}
	s.destroy(x, 16)
	if x2 != nil {
		s.hangupRequest(x2, 16, true)
		s.destroy(x2, 16)
	}
}

// hangupAgentHalfByApp is DELETE of the ;2 half, which the app rarely does: approximated as
// the agent's side hanging up.
func (s *Server) hangupAgentHalfByApp(a *agentCall) {
	x, x2 := a.x, a.x2
	if x2.dead {
		return
	}
	s.hangupRequest(x2, 32, true)
	s.hangupRequest(x, 16, false)
	s.destroy(x2, 16)
	a.answered = true
	s.endAgent(a, 16)
}
