package aritest

// ChannelInfo is a snapshot of a channel for tests.
type ChannelInfo struct {
	ID, Name, State string
	Bridge          string // id of the bridge it is in, "" if none
	Endpoint        string // "PJSIP/pstn", "Local/agent-answer3@agents", "Local/0503164911@from-pstn"
	InStasis        bool
	Alive           bool
	// Where the channel is in the dialplan. After POST /continue that is the location it was
	// sent to (Continued), with a label the fake could not resolve in Label.
	Context, Exten string
	Priority       int
	Label          string
	Continued      bool
	Ringing        bool // the app indicates ringing to it (POST /ring, until DELETE /ring or answer)
}

// BridgeInfo is a snapshot of a bridge for tests.
type BridgeInfo struct {
	ID, Name, Type, Technology string
	Channels                   []string
	MOH                        string // music-on-hold class playing, "" if none
}

func (c *channel) info() ChannelInfo {
	i := ChannelInfo{ID: c.id, Name: c.name, State: c.state, Endpoint: c.epName, InStasis: c.inStasis, Alive: !c.dead,
		Context: c.dialplan.Context, Exten: c.dialplan.Exten, Priority: c.dialplan.Priority, Ringing: c.ringing}
	if c.bridge != nil {
		i.Bridge = c.bridge.id
	}
	if c.continued != nil {
		i.Continued, i.Label = true, c.continued.label
	}
	return i
}

// Continued reports where POST /channels/{id}/continue sent a channel (live or recently
// destroyed); ok is false if it never continued.
func (s *Server) Continued(id string) (context, exten string, ok bool) {
	info, found := s.Channel(id)
	if !found || !info.Continued {
		return "", "", false
	}
	return info.Context, info.Exten, true
}

// Channels returns the live channels in creation order, then the most recently destroyed ones
// (up to 1024, Alive false).
func (s *Server) Channels() []ChannelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelInfo, 0, len(s.chanOrder)+len(s.history))
	for _, c := range s.chanOrder {
		out = append(out, c.info())
	}
	for _, c := range s.history {
		out = append(out, c.info())
	}
	return out
}

// Channel returns one channel, live or recently destroyed.
func (s *Server) Channel(id string) (ChannelInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channels[id]; c != nil {
		return c.info(), true
	}
	for i := len(s.history) - 1; i >= 0; i-- {
		if c := s.history[i]; c.id == id {
			return c.info(), true
		}
	}
	return ChannelInfo{}, false
}

// Bridges returns the existing bridges in creation order.
func (s *Server) Bridges() []BridgeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]BridgeInfo, 0, len(s.bridgeOrd))
	for _, b := range s.bridgeOrd {
		snap := b.snapshot()
		out = append(out, BridgeInfo{ID: b.id, Name: b.name, Type: b.typ, Technology: snap.Technology, Channels: snap.Channels, MOH: b.moh})
	}
	return out
}
