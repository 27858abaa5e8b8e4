package aritest

import (
	"fmt"
	"net/http"
	"strings"
)

// REST: /bridges.

func (s *Server) listBridges(*request) reply {
	out := make([]bridgeJSON, 0, len(s.bridgeOrd))
	for _, b := range s.bridgeOrd {
		out = append(out, b.snapshot())
	}
	return ok(out)
}

func (s *Server) getBridge(q *request) reply {
	b := s.bridges[q.path("id")]
	if b == nil {
		return fail(http.StatusNotFound, "Bridge not found")
	}
	return ok(b.snapshot())
}

// createBridge is POST /bridges and POST /bridges/{id}. The app gets no BridgeCreated for its
// own bridges: it is not subscribed to them until it adds a channel.
func (s *Server) createBridge(q *request) reply {
	id := q.path("id")
	if id == "" {
		id = q.params.str("bridgeId")
	}
	if id == "" {
		id = s.newUUID()
	}
	if b := s.bridges[id]; b != nil {
		return ok(b.snapshot())
	}
	typ := "mixing"
	// type is one string that Asterisk's bridge code splits on commas itself.
	for _, t := range strings.Split(q.params.str("type"), ",") {
		if strings.TrimSpace(t) == "holding" {
			typ = "holding"
		}
	}
	b := &bridge{id: id, name: q.params.str("name"), typ: typ, created: s.now()}
	s.bridges[id] = b
	s.bridgeOrd = append(s.bridgeOrd, b)
	return ok(b.snapshot())
}

// destroyBridge: channels still in it are put out (ChannelLeftBridge); BridgeDestroyed reaches
// the app only while it is subscribed to the bridge.
func (s *Server) destroyBridge(q *request) reply {
	b := s.bridges[q.path("id")]
	if b == nil {
		return fail(http.StatusNotFound, "Bridge not found")
	}
	for _, c := range append([]*channel(nil), b.members...) {
		s.leaveBridge(c, false)
	}
	s.stopBridgePlaybacks(b)
	b.dead = true
	s.bridgeDestroyed(b)
	delete(s.bridges, b.id)
	for i, m := range s.bridgeOrd {
		if m == b {
			s.bridgeOrd = append(s.bridgeOrd[:i:i], s.bridgeOrd[i+1:]...)
			break
		}
	}
	return noContent
}

// bridgeChannels resolves addChannel's and removeChannel's "channel" parameter as ARI does:
// 400 for a channel that does not exist, 422 for one outside Stasis.
func (s *Server) bridgeChannels(q *request) (*bridge, []*channel, *reply) {
	b := s.bridges[q.path("id")]
	if b == nil {
		r := fail(http.StatusNotFound, "Bridge not found")
		return nil, nil, &r
	}
	ids := q.params.list("channel")
	if len(ids) == 0 {
		r := fail(http.StatusBadRequest, "Missing parameter channel")
		return nil, nil, &r
	}
	var out []*channel
	for _, id := range ids {
		c := s.channels[id]
		switch {
		case c == nil:
			r := fail(http.StatusBadRequest, "Channel not found")
			return nil, nil, &r
		case !c.inStasis:
			r := fail(http.StatusUnprocessableEntity, "Channel not in Stasis application")
			return nil, nil, &r
		}
		out = append(out, c)
	}
	return b, out, nil
}

func (s *Server) addChannel(q *request) reply {
	b, chans, errRep := s.bridgeChannels(q)
	if errRep != nil {
		return *errRep
	}
	for _, c := range chans {
		b.subs++ // adding a channel subscribes the app to the bridge
		s.joinBridge(b, c)
	}
	return noContent
}

func (s *Server) removeChannel(q *request) reply {
	b, chans, errRep := s.bridgeChannels(q)
	if errRep != nil {
		return *errRep
	}
	for _, c := range chans {
		if c.bridge != b {
			return fail(http.StatusUnprocessableEntity, "Channel not in this bridge")
		}
	}
	for _, c := range chans {
		s.leaveBridge(c, true)
	}
	return noContent
}

// Music on hold plays through an announcer channel the app never hears of: no events.
func (s *Server) startMOH(q *request) reply {
	b := s.bridges[q.path("id")]
	if b == nil {
		return fail(http.StatusNotFound, "Bridge not found")
	}
	b.moh = q.params.str("mohClass")
	if b.moh == "" {
		b.moh = "default"
	}
	return noContent
}

func (s *Server) stopMOH(q *request) reply {
	b := s.bridges[q.path("id")]
	if b == nil {
		return fail(http.StatusNotFound, "Bridge not found")
	}
	b.moh = ""
	return noContent
}

func (s *Server) joinBridge(b *bridge, c *channel) {
	if c.bridge == b {
		return
	}
	s.leaveBridge(c, false) // a channel is in one bridge at a time: a move
	b.members = append(b.members, c)
	c.bridge = b
	s.bridgeChannelEvent("ChannelEnteredBridge", b, c)
	s.updatePeers(b)
	s.truthBridge(b, nil)
	s.hangupIfAnswered(b)
}

// leaveBridge takes c out of its bridge. explicit is removeChannel, which also ends the
// subscription its addChannel made.
func (s *Server) leaveBridge(c *channel, explicit bool) {
	b := c.bridge
	if b == nil {
		return
	}
	if c.vars["BRIDGEPEER"] != "" {
		s.varset(c, "BRIDGEPEER", "")
	}
	if c.vars["BRIDGEPVTCALLID"] != "" {
		s.varset(c, "BRIDGEPVTCALLID", "")
	}
	b.remove(c)
	c.bridge = nil
	if explicit && b.subs > 0 {
		b.subs--
	}
	s.bridgeChannelEvent("ChannelLeftBridge", b, c)
	s.updatePeers(b)
	s.truthBridge(b, c)
}

// updatePeers keeps what a mixing bridge tells its channels about each other: BRIDGEPEER (the
// other's name, or a list of names with more parties), BRIDGEPVTCALLID (the SIP Call-ID of a
// PJSIP peer) and the connected line (the peer's caller id; an update only if it changes, as
// for the PJSIP caller of sip-queue-answered). Holding bridges set none of it.
func (s *Server) updatePeers(b *bridge) {
	if b.typ != "mixing" || len(b.members) < 2 {
		return
	}
	for _, c := range b.members {
		var names []string
		for _, o := range b.members {
			if o != c {
				names = append(names, o.name)
			}
		}
		if peer := strings.Join(names, ","); c.vars["BRIDGEPEER"] != peer {
			s.varset(c, "BRIDGEPEER", peer)
		}
		if len(b.members) == 2 {
			if o := s.otherMember(b, c); o.tech == "PJSIP" && c.vars["BRIDGEPVTCALLID"] != o.protocolID {
				s.varset(c, "BRIDGEPVTCALLID", o.protocolID)
			}
		}
	}
	if len(b.members) != 2 {
		return
	}
	for _, c := range b.members {
		if o := s.otherMember(b, c); c.connected != o.caller {
			c.connected = o.caller
			s.chanEvent(c, nil, "ChannelConnectedLine")
		}
	}
}

func (s *Server) otherMember(b *bridge, c *channel) *channel {
	for _, o := range b.members {
		if o != c {
			return o
		}
	}
	return nil
}

// newUUID makes an id for an object the app did not name.
func (s *Server) newUUID() string {
	r := s.rng
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}
