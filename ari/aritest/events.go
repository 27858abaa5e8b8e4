package aritest

// Event construction and who gets them. Every event is built under s.mu, stamped with the
// clock, and handed to the live socket in emission order.
//
// Delivery follows Asterisk's subscription model as the traces show it:
//   - channel events (state, varset, dialplan, hang-up, destroyed, DTMF, Dial for its peer) are
//     forwarded once per subscription that covers the channel: one if the app is subscribed to
//     the channel (explicitly, by originating it, or because it is in Stasis), one more if it
//     is subscribed to the channel's endpoint; hence the byte-identical duplicates of
//     sip-endpoint-subscribed;
//   - StasisStart/StasisEnd go to the app once, whatever it subscribed to;
//   - ChannelEnteredBridge/ChannelLeftBridge go once if the app watches the bridge or the channel;
//   - BridgeDestroyed only while the app is subscribed to the bridge;
//   - EndpointStateChange only while it is subscribed to the endpoint.

// event lays out an event as Asterisk does: optional leading keys (ChannelHangupRequest's
// "cause"), type, timestamp, the type's own keys, asterisk_id and application last.
func (s *Server) event(lead object, typ string, body ...member) object {
	ev := make(object, 0, len(lead)+len(body)+4)
	ev = append(ev, lead...)
	s.lastEvent = s.now()
	ev = append(ev, member{"type", typ}, member{"timestamp", stamp(s.lastEvent)})
	ev = append(ev, body...)
	return append(ev, member{"asterisk_id", s.opt.AsteriskID}, member{"application", s.opt.App})
}

// channelCopies is how many times a channel event reaches the app.
func channelCopies(c *channel) int {
	n := 0
	if c.subs > 0 {
		n++
	}
	if c.endpoint != nil && c.endpoint.subs > 0 {
		n++
	}
	return n
}

// chanEvent emits a channel-topic event about c.
func (s *Server) chanEvent(c *channel, lead object, typ string, body ...member) {
	body = append(body, member{"channel", c.snapshot()})
	s.emit(typ, s.event(lead, typ, body...), channelCopies(c))
}

func (s *Server) stateChange(c *channel, state string) {
	if c.state == state {
		return
	}
	c.state = state
	s.chanEvent(c, nil, "ChannelStateChange")
	if state == "Up" && c.upAt.IsZero() {
		c.upAt = s.lastEvent
	}
}

func (s *Server) varset(c *channel, name, value string) {
	c.vars[name] = value
	s.chanEvent(c, object{{"variable", name}, {"value", value}}, "ChannelVarset")
}

// hangupRequest: a soft one carries a soft-hangup reason (32 after the app's DELETE, 16 on the
// far half of a Local pair); without soft the cause is Q.850.
func (s *Server) hangupRequest(c *channel, cause int, soft bool) {
	lead := object{{"cause", cause}}
	if soft {
		lead = append(lead, member{"soft", true})
	}
	s.chanEvent(c, lead, "ChannelHangupRequest")
}

// dialplanStep is the channel running its next dialplan priority (the first step runs the
// priority the channel was created at).
func (s *Server) dialplanStep(c *channel, app, data string) {
	if c.steps > 0 {
		c.dialplan.Priority++
	}
	c.steps++
	c.dialplan.AppName, c.dialplan.AppData = app, data
	s.chanEvent(c, nil, "ChannelDialplan", member{"dialplan_app", app}, member{"dialplan_app_data", data})
}

func (s *Server) callerIDEvent(c *channel) {
	s.chanEvent(c, nil, "ChannelCallerId",
		member{"caller_presentation", 0},
		member{"caller_presentation_txt", "Presentation Allowed, Not Screened"})
}

// dial is the Dial event of an ARI originate: no caller, the originated channel as peer.
func (s *Server) dial(a *agentCall, status string) {
	ev := s.event(nil, "Dial",
		member{"dialstatus", status},
		member{"forward", ""},
		member{"dialstring", a.dialstring},
		member{"peer", a.x.snapshot()})
	s.emit("Dial", ev, channelCopies(a.x))
}

// stasisEvent is StasisStart or StasisEnd, sent to the app itself.
func (s *Server) stasisEvent(c *channel, typ string, args []string) {
	var body []member
	if typ == "StasisStart" {
		body = append(body, member{"args", append([]string{}, args...)})
	}
	body = append(body, member{"channel", c.snapshot()})
	s.emit(typ, s.event(nil, typ, body...), 1)
}

func (s *Server) bridgeChannelEvent(typ string, b *bridge, c *channel) {
	n := 0
	if b.subs > 0 || c.subs > 0 {
		n = 1
	}
	s.emit(typ, s.event(nil, typ, member{"bridge", b.snapshot()}, member{"channel", c.snapshot()}), n)
}

func (s *Server) bridgeDestroyed(b *bridge) {
	n := 0
	if b.subs > 0 {
		n = 1
	}
	s.emit("BridgeDestroyed", s.event(nil, "BridgeDestroyed", member{"bridge", b.snapshot()}), n)
}

func (s *Server) endpointChange(e *endpoint) {
	if !e.listed() {
		return
	}
	n := 0
	if e.subs > 0 {
		n = 1
	}
	s.emit("EndpointStateChange", s.event(nil, "EndpointStateChange", member{"endpoint", e.snapshot()}), n)
}

func (s *Server) playbackEvent(p *playback, typ string) {
	s.emit(typ, s.event(nil, typ, member{"playback", p.snapshot()}), 1)
}

// causeText is Asterisk's text for the Q.850 causes the fake produces.
func causeText(cause int) string {
	switch cause {
	case 0:
		return "Unknown"
	case causeUnallocated:
		return "Unallocated (unassigned) number"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 19:
		return "User alerting, no answer"
	case causeRejected:
		return "Call Rejected"
	case 34:
		return "Circuit/channel congestion"
	default:
		return "Unknown"
	}
}
