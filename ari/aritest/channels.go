package aritest

import (
	"net/http"
	"strconv"
	"strings"
)

// REST: /channels.

func (s *Server) listChannels(*request) reply {
	out := make([]channelJSON, 0, len(s.chanOrder))
	for _, c := range s.chanOrder {
		out = append(out, c.snapshot())
	}
	return ok(out)
}

func (s *Server) getChannel(q *request) reply {
	c := s.channels[q.path("id")]
	if c == nil {
		return fail(http.StatusNotFound, "Channel not found")
	}
	return ok(c.snapshot())
}

// stasisChannel finds a channel the app controls: 404 if there is none, 409 if it is not in
// Stasis (ARI's find_control).
func (s *Server) stasisChannel(q *request) (*channel, *reply) {
	c := s.channels[q.path("id")]
	if c == nil {
		r := fail(http.StatusNotFound, "Channel not found")
		return nil, &r
	}
	if !c.inStasis {
		r := fail(http.StatusConflict, "Channel not in Stasis application")
		return nil, &r
	}
	return c, nil
}

// hangupChannel is DELETE /channels/{id}?reason=normal.
func (s *Server) hangupChannel(q *request) reply {
	c := s.channels[q.path("id")]
	if c == nil {
		return fail(http.StatusNotFound, "Channel not found")
	}
	switch c.role {
	case roleCaller:
		s.hangupCaller(c, false)
	case roleCallerHalf:
		s.hangupCaller(c.half, true) // the PSTN side went away
	case roleAgent:
		s.hangupAgentByApp(c.call)
	case roleAgentHalf:
		s.hangupAgentHalfByApp(c.call)
	}
	return noContent
}

func (s *Server) answerChannel(q *request) reply {
	c, errRep := s.stasisChannel(q)
	if errRep != nil {
		return *errRep
	}
	s.answer(c)
	return noContent
}

// answer puts a channel Up. For a Local caller both halves go Up; only the one in Stasis is
// seen by the app.
func (s *Server) answer(c *channel) {
	if c.answered {
		return
	}
	c.answered = true
	c.ringing = false
	s.stateChange(c, "Up")
	if c.half != nil && c.role == roleCaller {
		s.stateChange(c.half, "Up")
	}
}

// ringChannel is POST (start) and DELETE (stop) /channels/{id}/ring: indicating ringing to a
// caller changes nothing the app can see (no event, its state stays Ring: direct-voicemail);
// ChannelInfo.Ringing tells a test whether the caller hears it.
func (s *Server) ringChannel(q *request) reply {
	c, errRep := s.stasisChannel(q)
	if errRep != nil {
		return *errRep
	}
	c.ringing = q.r.Method == http.MethodPost && !c.answered
	return noContent
}

// continueChannel is POST /channels/{id}/continue: the channel leaves Stasis for the dialplan,
// once the commands queued before it (playbacks, a recording) are done. The location follows
// ast_ari_channels_continue_in_dialplan: no context keeps the channel's context (and, without
// an extension, its extension at the next priority); a context without an extension means "s";
// a numeric label is a priority. The fake knows no dialplan: a named label is recorded as it is
// (ChannelInfo.Label, priority 0), and nothing runs at the new location: the channel stays up,
// outside Stasis, until the caller hangs up.
func (s *Server) continueChannel(q *request) reply {
	c, errRep := s.stasisChannel(q)
	if errRep != nil {
		return *errRep
	}
	p := q.params
	ctx, exten, label := p.str("context"), p.str("extension"), p.str("label")
	loc := dialplanLocation{context: ctx, exten: exten}
	switch {
	case ctx == "":
		loc.context = c.dialplan.Context
		if exten == "" {
			loc.exten = c.dialplan.Exten
		}
	case exten == "":
		loc.exten = "s"
	}
	switch prio := p.integer("priority", 0); {
	case label != "":
		n, err := strconv.Atoi(label)
		switch {
		case err != nil:
			loc.label = label
		case n == 0:
			return fail(http.StatusBadRequest, "Requested priority is illegal")
		default:
			loc.priority = n
		}
	case prio != 0:
		loc.priority = prio
	case ctx == "" && exten == "":
		loc.priority = c.dialplan.Priority + 1
	default:
		loc.priority = 1
	}
	c.ops = append(c.ops, chanOp{cont: &loc})
	s.runOps(c)
	return noContent
}

// continueInDialplan runs a continue on the channel's control (app_control_continue): out of
// its bridge (ChannelLeftBridge), out of Stasis (StasisEnd; STASISSTATUS=SUCCESS for a
// subscriber), into the dialplan location.
func (s *Server) continueInDialplan(c *channel, loc dialplanLocation) {
	s.dropOps(c)
	s.leaveBridge(c, false)
	s.leaveStasis(c)
	s.truthContinued(c, loc)
	c.continued = &loc
	c.dialplan = dialplanJSON{Context: loc.context, Exten: loc.exten, Priority: loc.priority}
}

// channelNoop accepts operations that have no visible effect on the fake (DTMF sent to the
// channel, MOH on a single channel).
func (s *Server) channelNoop(q *request) reply {
	if _, errRep := s.stasisChannel(q); errRep != nil {
		return *errRep
	}
	return noContent
}

func (s *Server) getVariable(q *request) reply {
	c := s.channels[q.path("id")]
	if c == nil {
		return fail(http.StatusNotFound, "Channel not found")
	}
	name := q.params.str("variable")
	if name == "" {
		return fail(http.StatusBadRequest, "Variable name is required")
	}
	v, found := c.vars[name]
	switch {
	case name == "CALLERID(num)":
		v, found = c.caller.Number, true
	case name == "CALLERID(name)":
		v, found = c.caller.Name, true
	}
	if !found {
		return fail(http.StatusNotFound, "Provided variable was not found")
	}
	return ok(object{{"value", v}})
}

// setVariable: plain variables raise ChannelVarset; CALLERID(...) raises ChannelCallerId and
// other dialplan functions nothing (unknown-events).
func (s *Server) setVariable(q *request) reply {
	c, errRep := s.stasisChannel(q)
	if errRep != nil {
		return *errRep
	}
	name, value := q.params.str("variable"), q.params.str("value")
	switch {
	case name == "":
		return fail(http.StatusBadRequest, "Variable name is required")
	case name == "CALLERID(num)":
		c.caller.Number = value
		s.callerIDEvent(c)
	case name == "CALLERID(name)":
		c.caller.Name = value
		s.callerIDEvent(c)
	case strings.Contains(name, "("):
		c.vars[name] = value
	default:
		s.varset(c, name, value)
	}
	return noContent
}
