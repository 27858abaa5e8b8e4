package aritest

import (
	"fmt"
	"strings"
	"time"
)

// role says which part a channel plays; it decides its dialplan, its hang-up sequence and what
// it looks like once destroyed.
type role int

const (
	roleCaller     role = iota // entered Stasis() from the dialplan ([from-pstn])
	roleCallerHalf             // the ;1 half of a Local caller: never in Stasis, never seen in events
	roleAgent                  // originated into the app: Local ;1 half, or the PJSIP channel
	roleAgentHalf              // the ;2 half of an originated Local pair; runs the agent's dialplan
)

type channel struct {
	id, name   string
	state      string
	protocolID string
	caller     callerJSON
	connected  callerJSON
	dialplan   dialplanJSON
	created    time.Time
	upAt       time.Time // the timestamp of its ChannelStateChange to Up

	role     role
	tech     string    // "Local" or "PJSIP"
	epName   string    // "PJSIP/pstn", "Local/agent-answer3@agents"
	endpoint *endpoint // only PJSIP channels belong to an endpoint
	half     *channel  // the other half of a Local pair
	call     *agentCall

	steps    int // dialplan priorities run so far
	answered bool
	inStasis bool
	bridge   *bridge
	vars     map[string]string
	// subs counts the app's subscriptions to the channel: explicit ones, the originate's and
	// Stasis' own. Channel events reach the app while it is positive.
	subs int
	dead bool

	// The channel's Stasis control runs one media command at a time, in order: what plays or
	// records now, and what waits behind it (playbacks, recordings, a continue).
	playing   *playback
	recording *liveRecording
	ops       []chanOp

	speech    []span            // when the caller talked (Caller.Speak), oldest first
	failRec   string            // Caller.FailRecording: the next recording fails with this cause
	ringing   bool              // POST /ring indication on
	continued *dialplanLocation // where POST /continue sent it
	truth     *callerTruth      // a caller's ground truth while it is up (truth.go)
	// hangupAnswered: CallSpec.HangupWhenAnswered, until it is due; gone is closed on destroy.
	hangupAnswered bool
	gone           chan struct{}
}

// chanOp is a command waiting on a channel's Stasis control: exactly one field is set.
type chanOp struct {
	pb   *playback
	rec  *liveRecording
	cont *dialplanLocation
}

// span is a stretch of time [from, to).
type span struct{ from, to time.Time }

// dialplanLocation is where POST /channels/{id}/continue sends a channel.
type dialplanLocation struct {
	context, exten, label string
	priority              int
}

func (c *channel) snapshot() channelJSON {
	return channelJSON{
		ID:           c.id,
		Name:         c.name,
		State:        c.state,
		ProtocolID:   c.protocolID,
		Caller:       c.caller,
		Connected:    c.connected,
		Accountcode:  "",
		Dialplan:     c.dialplan,
		Creationtime: stamp(c.created),
		Language:     "en",
	}
}

type bridge struct {
	id, name, typ string // typ "holding" or "mixing"
	created       time.Time
	members       []*channel
	// subs counts the app's subscriptions: addChannel adds one, removeChannel drops one (so
	// removing the last channel silences the bridge's deletion, as in queue-answered), and a
	// channel that leaves by hanging up drops none.
	subs    int
	moh     string
	dead    bool
	playing *playback
	queued  []*playback
}

// technology is what Asterisk reports: a two-party mixing bridge is a native simple_bridge,
// more parties need softmix.
func (b *bridge) technology() string {
	switch {
	case b.typ == "holding":
		return "holding_bridge"
	case len(b.members) > 2:
		return "softmix"
	default:
		return "simple_bridge"
	}
}

func (b *bridge) snapshot() bridgeJSON {
	ids := make([]string, 0, len(b.members))
	for _, c := range b.members {
		ids = append(ids, c.id)
	}
	return bridgeJSON{
		ID:           b.id,
		Technology:   b.technology(),
		BridgeType:   b.typ,
		BridgeClass:  "stasis",
		Creator:      "Stasis",
		Name:         b.name,
		Channels:     ids,
		Creationtime: stamp(b.created),
		VideoMode:    "talker",
	}
}

func (b *bridge) remove(c *channel) {
	for i, m := range b.members {
		if m == c {
			b.members = append(b.members[:i:i], b.members[i+1:]...)
			return
		}
	}
}

// endpoint is a phone or trunk (PJSIP/1001) or, for Local, a dialplan target standing for an
// agent (Local/agent-answer3@agents); Local ones are not ARI endpoints and are never listed.
type endpoint struct {
	tech, resource string
	state          string
	behaviour      Behaviour
	channels       []*channel
	subs           int // app subscriptions to endpoint:TECH/RESOURCE
}

func (e *endpoint) name() string { return e.tech + "/" + e.resource }

// listed: Local targets and numbers dialled through a trunk (PJSIP/+31612345678@pstn) are no
// ARI endpoints.
func (e *endpoint) listed() bool { return e.tech != "Local" && !strings.Contains(e.resource, "@") }

func (e *endpoint) snapshot() endpointJSON {
	ids := make([]string, 0, len(e.channels))
	for _, c := range e.channels {
		ids = append(ids, c.id)
	}
	return endpointJSON{Technology: e.tech, Resource: e.resource, State: e.state, ChannelIDs: ids}
}

func (e *endpoint) drop(c *channel) {
	for i, m := range e.channels {
		if m == c {
			e.channels = append(e.channels[:i:i], e.channels[i+1:]...)
			return
		}
	}
}

type playback struct {
	id, media, target string
	state             string // queued, playing, done
	ch                *channel
	br                *bridge
	stop              func() bool
}

func (p *playback) snapshot() playbackJSON {
	return playbackJSON{ID: p.id, MediaURI: p.media, TargetURI: p.target, Language: "en", State: p.state}
}

// splitEndpoint splits "PJSIP/1001" into its technology and resource.
func splitEndpoint(name string) (tech, resource string, ok bool) {
	tech, resource, ok = strings.Cut(name, "/")
	return tech, resource, ok && tech != "" && resource != ""
}

// parseCallerID reads ARI's callerId parameter: `"Name" <number>`, `Name <number>`, `<number>`
// or a bare number.
func parseCallerID(s string) callerJSON {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		name := strings.TrimSpace(s[:i])
		name = strings.TrimSuffix(strings.TrimPrefix(name, `"`), `"`)
		return callerJSON{Name: name, Number: s[i+1 : len(s)-1]}
	}
	if strings.Trim(s, "+0123456789*#") == "" {
		return callerJSON{Number: s}
	}
	return callerJSON{Name: s}
}

// uniqueid is how Asterisk names a channel nobody named: epoch seconds, a dot, a counter.
func (s *Server) uniqueid() string {
	id := fmt.Sprintf("%d.%d", s.now().Unix(), s.uniqueSeq)
	s.uniqueSeq++
	return id
}

// newChannel registers a live channel. Ids the app chose are used verbatim.
func (s *Server) newChannel(id, name string, r role, tech string) *channel {
	c := &channel{
		id:      id,
		name:    name,
		role:    r,
		tech:    tech,
		created: s.now(),
		vars:    make(map[string]string),
	}
	s.channels[id] = c
	s.chanOrder = append(s.chanOrder, c)
	return c
}

// historyLimit bounds the destroyed channels kept for Channels().
const historyLimit = 1024

func (s *Server) forget(c *channel) {
	delete(s.channels, c.id)
	for i, m := range s.chanOrder {
		if m == c {
			s.chanOrder = append(s.chanOrder[:i:i], s.chanOrder[i+1:]...)
			break
		}
	}
	s.history = append(s.history, c)
	if len(s.history) > historyLimit {
		s.history = s.history[len(s.history)-historyLimit:]
	}
}

func (s *Server) lookupEndpoint(name string) *endpoint { return s.endpoints[name] }
