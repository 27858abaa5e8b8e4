package aritest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// CallSpec describes an incoming PSTN call, which the dialplan sends into Stasis as the lab's
// [from-pstn] does: NoOp at priority 1, Stasis(app,args) at priority 2.
type CallSpec struct {
	Exten   string   // dialled number, e.g. "0503164911"
	Context string   // default "from-pstn"
	Args    []string // Stasis arguments, e.g. ["queue", "general"]

	CallerName, CallerNumber string

	// Tech is "Local" (default: the lab's injected caller, a Local pair whose ;2 half
	// Local/<exten>@<context>-0000000N;2 enters Stasis) or "PJSIP" (a SIP trunk call,
	// PJSIP/<Endpoint>-0000000N, with a SIP Call-ID as protocol_id).
	Tech string
	// Endpoint is the PJSIP trunk's resource, default "pstn"; added as "offline" (an
	// unqualified trunk, as in the lab) if it was not added before.
	Endpoint string
	// HangupWhenAnswered: the caller hangs up (cause 16) as soon as the app has them in a
	// mixing bridge with an agent's channel that is up: a load generator's shortest answered
	// call.
	HangupWhenAnswered bool
}

// Caller is the PSTN side of a call.
type Caller struct {
	s    *Server
	ch   *channel
	gone chan struct{}
}

// Call brings a call into the app: StasisStart in state Ring, no ChannelCreated (unless the app
// watches the trunk's endpoint). It fails with ErrAppNotActive when no socket serves the app.
func (s *Server) Call(spec CallSpec) (*Caller, error) {
	if spec.Context == "" {
		spec.Context = "from-pstn"
	}
	if spec.Tech == "" {
		spec.Tech = "Local"
	}
	s.mu.Lock()
	if !s.appActive() || s.closed {
		if !s.closed {
			s.truthRefused(spec)
		}
		s.mu.Unlock()
		s.stats.rejected.Add(1)
		return nil, ErrAppNotActive
	}
	var c *channel
	switch spec.Tech {
	case "Local":
		c = s.newLocalCaller(spec)
	case "PJSIP":
		c = s.newSIPCaller(spec)
	default:
		s.mu.Unlock()
		return nil, fmt.Errorf("aritest: caller technology %q not emulated", spec.Tech)
	}
	c.hangupAnswered = spec.HangupWhenAnswered
	c.gone = make(chan struct{})
	gone := c.gone
	s.enterStasisFromDialplan(c, spec)
	s.truthEnter(c, spec)
	s.mu.Unlock()
	s.stats.calls.Add(1)
	s.notify()
	return &Caller{s: s, ch: c, gone: gone}, nil
}

func (s *Server) newLocalCaller(spec CallSpec) *channel {
	base := fmt.Sprintf("Local/%s@%s-%08x", spec.Exten, spec.Context, s.localSeq)
	s.localSeq++
	id1 := s.uniqueid()
	id2 := s.uniqueid()
	cid := callerJSON{Name: spec.CallerName, Number: spec.CallerNumber}

	// The ;1 half belongs to whoever placed the call; the app never hears of it, but
	// GET /channels lists it (reconnect-alive).
	one := s.newChannel(id1, base+";1", roleCallerHalf, "Local")
	one.state = "Down"
	one.caller, one.connected = cid, cid
	one.dialplan = dialplanJSON{Context: "callers", Exten: "wait", Priority: 1}

	two := s.newChannel(id2, base+";2", roleCaller, "Local")
	two.state = "Ring"
	two.caller, two.connected = cid, cid
	two.dialplan = dialplanJSON{Context: spec.Context, Exten: spec.Exten, Priority: 1}
	two.epName = "Local/" + spec.Exten + "@" + spec.Context
	one.half, two.half = two, one
	s.chanEvent(two, nil, "ChannelCreated")
	return two
}

func (s *Server) newSIPCaller(spec CallSpec) *channel {
	res := spec.Endpoint
	if res == "" {
		res = "pstn"
	}
	ep := s.lookupEndpoint("PJSIP/" + res)
	if ep == nil {
		ep = &endpoint{tech: "PJSIP", resource: res, state: "offline"}
		s.endpoints[ep.name()] = ep
	}
	c := s.newChannel(s.uniqueid(), fmt.Sprintf("PJSIP/%s-%08x", res, s.pjsipSeq), roleCaller, "PJSIP")
	s.pjsipSeq++
	c.state = "Ring"
	c.caller = callerJSON{Name: spec.CallerName, Number: spec.CallerNumber}
	c.dialplan = dialplanJSON{Context: spec.Context, Exten: spec.Exten, Priority: 1}
	c.endpoint, c.epName = ep, ep.name()

	// As in sip-endpoint-subscribed: the endpoint changes first, ChannelCreated has no Call-ID
	// yet, the first variable set on the channel already has it.
	ep.channels = append(ep.channels, c)
	s.endpointChange(ep)
	s.chanEvent(c, nil, "ChannelCreated")
	c.protocolID = s.callID()
	s.varset(c, "SIPDOMAIN", "127.0.0.1")
	return c
}

// callID makes a SIP Call-ID in SIPp's style.
func (s *Server) callID() string {
	return fmt.Sprintf("%d-%d@127.0.0.1", s.uniqueSeq, 18000+s.pjsipSeq)
}

// enterStasisFromDialplan runs the lab's [from-pstn] up to Stasis().
func (s *Server) enterStasisFromDialplan(c *channel, spec CallSpec) {
	from := c.caller.Number
	if c.caller.Name != "" {
		from = fmt.Sprintf("%q <%s>", c.caller.Name, c.caller.Number)
	}
	note := "PSTN call to DID " + spec.Exten + " from " + from
	if len(spec.Args) > 0 && spec.Args[0] == "queue" {
		note = "PSTN call to main number from " + from
	}
	s.dialplanStep(c, "NoOp", note)
	s.dialplanStep(c, "Stasis", strings.Join(append([]string{s.opt.App}, spec.Args...), ","))
	s.enterStasis(c, spec.Args)
}

// enterStasis hands a channel to the app; Stasis itself subscribes the app to it.
func (s *Server) enterStasis(c *channel, args []string) {
	s.varset(c, "STASISSTATUS", "")
	c.inStasis = true
	c.subs++
	s.stasisEvent(c, "StasisStart", args)
}

// leaveStasis is StasisEnd and the end of Stasis' own subscription; STASISSTATUS then reaches
// the app only if it subscribed to the channel itself (queue-answered vs -nosub).
func (s *Server) leaveStasis(c *channel) {
	if !c.inStasis {
		return
	}
	s.stasisEvent(c, "StasisEnd", nil)
	c.inStasis = false
	c.subs--
	s.varset(c, "STASISSTATUS", "SUCCESS")
}

// hangupCaller ends a caller: remote (the PSTN side hung up: cause 16) or by the app's DELETE
// (soft hang-up 32). The sequence is the traces': [RTP stats on PJSIP], ChannelHangupRequest,
// [BRIDGEPEER ""], ChannelLeftBridge, StasisEnd, then STASISSTATUS, the dialplan's own soft
// hang-up and ChannelDestroyed, which only a subscribed app sees.
func (s *Server) hangupCaller(c *channel, remote bool) {
	if c == nil || c.dead {
		return
	}
	if c.tech == "PJSIP" && c.answered {
		s.rtpStats(c)
	}
	if remote {
		s.hangupRequest(c, 16, false)
	} else {
		s.hangupRequest(c, 32, true)
	}
	s.truthHangup(c, remote)
	s.stopMedia(c)
	s.leaveBridge(c, false)
	wasInStasis := c.inStasis
	s.leaveStasis(c)
	if wasInStasis {
		s.hangupRequest(c, 16, true) // Stasis() returned into a hung-up channel
	}
	s.destroy(c, 16)
	if c.half != nil {
		s.destroy(c.half, 16)
	}
}

// rtpStats are the RTPAUDIOQOS* variables chan_pjsip sets when a call with media ends.
func (s *Server) rtpStats(c *channel) {
	s.varset(c, "RTPAUDIOQOS", "ssrc=571774215;themssrc=0;lp=1;rxjitter=0.000000;rxcount=0;txjitter=0.000000;txcount=150;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=87.231481")
	s.varset(c, "RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000000;avgrxjitter=000.000000;stdevrxjitter=000.000000;mintxjitter=000.000000;maxtxjitter=000.000000;avgtxjitter=000.000000;stdevtxjitter=000.000000;")
	s.varset(c, "RTPAUDIOQOSLOSS", "  minrxlost=001.000000;  maxrxlost=001.000000;  avgrxlost=001.000000;  stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;")
	s.varset(c, "RTPAUDIOQOSRTT", "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     stdevrtt=000.000000;")
	s.varset(c, "RTPAUDIOQOSMES", "   minrxmes=087.231481;   maxrxmes=087.231481;   avgrxmes=087.231481;   stdevrxmes=000.000000;   mintxmes=000.000000;   maxtxmes=000.000000;   avgtxmes=000.000000;   stdevtxmes=000.000000;")
}

// destroy ends a channel: ChannelDestroyed with the Q.850 cause, and the channel leaves its
// endpoint and every subscription.
func (s *Server) destroy(c *channel, cause int) {
	if c.dead {
		return
	}
	c.dead = true
	if c.gone != nil {
		close(c.gone)
	}
	if c.call != nil {
		c.call.cancelTimers()
	}
	if c.role == roleAgent {
		// An originated channel falls back to the dial's placeholder application.
		c.dialplan.Priority, c.dialplan.AppName, c.dialplan.AppData = 1, "AppDial2", "(Outgoing Line)"
	} else {
		c.dialplan.AppName, c.dialplan.AppData = "", ""
	}
	if b := c.bridge; b != nil { // gone without a goodbye (e.g. a half the app never bridged)
		b.remove(c)
		c.bridge = nil
		s.truthBridge(b, c)
	}
	s.stopMedia(c)
	s.chanEvent(c, nil, "ChannelDestroyed", member{"cause", cause}, member{"cause_txt", causeText(cause)})
	c.subs = 0
	s.forget(c)
	if e := c.endpoint; e != nil {
		e.drop(c)
		s.endpointChange(e)
	}
	s.truthEnd(c)
}

// ID is the caller channel's id, the one in StasisStart.
func (c *Caller) ID() string { return c.ch.id }

// Done is closed once the caller's channel is destroyed.
func (c *Caller) Done() <-chan struct{} { return c.gone }

// hangupIfAnswered hangs up, right after the request that bridged them, the callers of b that
// wait for an answer (CallSpec.HangupWhenAnswered) once an agent's channel that is up shares b.
func (s *Server) hangupIfAnswered(b *bridge) {
	if b.typ != "mixing" || !slices.ContainsFunc(b.members, func(c *channel) bool { return c.role == roleAgent && c.state == "Up" }) {
		return
	}
	for _, c := range b.members {
		if c.hangupAnswered && !c.dead {
			c.hangupAnswered = false
			s.after(0, func() { s.hangupCaller(c, true) })
		}
	}
}

// Name is the caller channel's name.
func (c *Caller) Name() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.name
}

// Hangup is the caller hanging up now: ChannelHangupRequest cause 16 without soft, and the rest
// of the traces' sequence.
func (c *Caller) Hangup() {
	c.s.mu.Lock()
	if !c.s.closed {
		c.s.hangupCaller(c.ch, true)
	}
	c.s.mu.Unlock()
	c.s.notify()
}

// EndVoiceMail plays the end of app_voicemail's VoiceMail() for a caller the app continued
// into the dialplan (POST /continue): VoiceMail() sets VMSTATUS to status (SUCCESS when it
// kept a message; USEREXIT, FAILED; "" sets nothing, as for a caller gone during the
// greeting), then the caller hangs up. A caller still in Stasis only hangs up.
//
// ASSUMED, not recorded (no trace ran app_voicemail): VMSTATUS raises a ChannelVarset like
// the plain variables the traces show (STASISSTATUS, BRIDGEPEER), which after StasisEnd
// reaches only an app subscribed to the channel, like the STASISSTATUS=SUCCESS of
// queue-answered. The fake runs no VoiceMail() itself: no greeting, no recording, no
// ChannelDialplan steps.
func (c *Caller) EndVoiceMail(status string) {
	c.s.mu.Lock()
	if !c.s.closed && !c.ch.dead {
		if status != "" && c.ch.continued != nil {
			c.s.varset(c.ch, "VMSTATUS", status)
		}
		c.s.hangupCaller(c.ch, true)
	}
	c.s.mu.Unlock()
	c.s.notify()
}

// HangupAfter schedules Hangup d from now on the server's clock.
func (c *Caller) HangupAfter(d time.Duration) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.after(d, func() { c.s.hangupCaller(c.ch, true) })
}

// SendDTMF is the caller pressing keys: one ChannelDtmfReceived (duration 100 ms) per digit; a
// terminateOn digit then ends the channel's recording (RecordingFinished, direct-voicemail-hash).
func (c *Caller) SendDTMF(digits string) {
	c.s.mu.Lock()
	for _, d := range digits {
		if c.ch.dead {
			break
		}
		c.s.chanEvent(c.ch, nil, "ChannelDtmfReceived", member{"digit", string(d)}, member{"duration_ms", 100})
		// A recording ends on a terminateOn digit, unless the beep still plays (its
		// ast_stream_and_wait takes no digits).
		if r := c.ch.recording; r != nil && !c.s.now().Before(r.audioFrom) && strings.ContainsRune(r.accept, d) {
			c.s.finishRecording(r, endDTMF)
		}
	}
	c.s.mu.Unlock()
	c.s.notify()
}
