package aritest

import (
	"net/http"
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
	s.stateChange(c, "Up")
	if c.half != nil && c.role == roleCaller {
		s.stateChange(c.half, "Up")
	}
}

// ringChannel: indicating ringing to a caller changes nothing the app can see (its state stays
// Ring, direct-voicemail).
func (s *Server) ringChannel(q *request) reply {
	if _, errRep := s.stasisChannel(q); errRep != nil {
		return *errRep
	}
	return noContent
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
