package aritest

import (
	"bufio"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"time"
)

// Ground truth: what happened to every caller, told by the telephony side the way Asterisk's
// CEL would, so that a test can compare it with what an app recorded. It is written as JSON
// lines (one TruthRecord each) to the writer given to RecordTruth:
//
//   - "caller": one per caller that reached the dialplan's Stasis(), written when its channel
//     is destroyed (so lines come in the order calls end), or at the end for callers still up
//     (Open). Direct-dial callers are callers like any other: Args says which.
//   - "refused": a call that came while no socket served the app; Asterisk's Stasis() failed
//     (STASISSTATUS=FAILED) and the dialplan fallback took it. Written at once.
//   - "originated": at the end, one per endpoint the app originated to, with the count.
//
// Times are the fake's clock in Asterisk's format (ms, "+0000"), and where the app can see them
// they are exactly the timestamp fields of the events it got.

// Truth kinds.
const (
	TruthCaller     = "caller"
	TruthRefused    = "refused"
	TruthOriginated = "originated"
)

// TruthRecord is one line of the ground truth.
type TruthRecord struct {
	Kind string `json:"kind"`

	// Callers and refused calls.
	Channel      string   `json:"channel,omitempty"` // the caller channel's id (the one in StasisStart)
	Exten        string   `json:"exten,omitempty"`   // the dialled number
	Args         []string `json:"args,omitempty"`    // Stasis arguments: ["queue","general"], ["direct","0503161234"]
	CallerNumber string   `json:"caller_number,omitempty"`
	// Stasis is true when the caller entered Stasis (the app was active), false when it was
	// refused (StasisStatus FAILED).
	Stasis       bool   `json:"stasis"`
	StasisStatus string `json:"stasis_status,omitempty"`
	// At is when the call reached Stasis(): StasisStart's timestamp, or the moment of refusal.
	At string `json:"at"`

	// Answered is the Up timestamp (ChannelStateChange) of the first agent channel that was then
	// in a mixing bridge together with the caller: DESIGN §3's answer time. Empty if none was.
	Answered     string `json:"answered,omitempty"`
	Bridged      string `json:"bridged,omitempty"`       // when that agent and the caller were first bridged
	Agent        string `json:"agent,omitempty"`         // that agent's endpoint, "PJSIP/1001"
	AgentChannel string `json:"agent_channel,omitempty"` // that agent channel's id
	Agents       int    `json:"agents,omitempty"`        // distinct agent channels bridged with the caller
	// AgentLeft is when a bridged agent first left the caller alone in the bridge (it hung up or
	// was taken out): the agent side ended the conversation.
	AgentLeft string `json:"agent_left,omitempty"`

	// Hangup is the timestamp of the caller channel's ChannelHangupRequest; HangupBy "caller"
	// (the PSTN side hung up) or "app" (DELETE /channels). EndedBy says who ended the call:
	// "caller", "agent" (AgentLeft came first) or "app". HangupUnseen: the caller was in Stasis
	// but no socket served the app when it hung up, so the app got no hang-up event.
	Hangup       string `json:"hangup,omitempty"`
	HangupBy     string `json:"hangup_by,omitempty"`
	EndedBy      string `json:"ended_by,omitempty"`
	HangupUnseen bool   `json:"hangup_unseen,omitempty"`

	// Continued is where POST /continue sent the caller (the app handed it to the dialplan).
	Continued *TruthContinue `json:"continued,omitempty"`
	// AloneMaxMS is the longest time the caller sat in a bridge alone after its other party
	// left: a caller nobody serves any more, stranded.
	AloneMaxMS int64 `json:"alone_max_ms,omitempty"`
	// Open: the caller was still up when the truth ended; Hangup is empty.
	Open bool `json:"open,omitempty"`

	// Originated: Endpoint was originated to Count times, first at At, last at Last. Outbound
	// marks a number dialled through a trunk (PJSIP/+31612345678@pstn): a customer.
	Endpoint string `json:"endpoint,omitempty"`
	Count    int    `json:"count,omitempty"`
	Last     string `json:"last,omitempty"`
	Outbound bool   `json:"outbound,omitempty"`
}

// TruthContinue is where a caller went back to the dialplan, and when (its StasisEnd).
type TruthContinue struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int    `json:"priority,omitempty"`
	Label    string `json:"label,omitempty"`
	At       string `json:"at"`
}

// TruthSummary counts what the truth wrote.
type TruthSummary struct {
	Callers    int // entered Stasis
	Refused    int // refused: the app was not active
	Answered   int // callers bridged with an agent
	Unanswered int // callers who ended without being bridged with an agent
	Continued  int // callers the app sent back to the dialplan
	Open       int // callers still up at the end
	Stranded   int // callers left alone in a bridge for StrandedAfter or longer
	// MaxOriginated is the highest number of originates to one outbound (trunk) number.
	MaxOriginated int
}

// StrandedAfter is how long a caller must sit alone in a bridge to count as stranded in
// TruthSummary; an app that hangs the caller up when the agent leaves takes milliseconds.
const StrandedAfter = time.Second

// truth is the writer's state; every method runs under Server.mu.
type truth struct {
	w       *bufio.Writer
	err     error
	done    bool
	sum     TruthSummary
	origins map[string]*TruthRecord
}

// callerTruth is what the truth keeps about a live caller channel.
type callerTruth struct {
	rec        TruthRecord
	agents     map[*channel]bool // agent channels bridged with the caller so far
	partner    *bridge           // a mixing bridge in which the caller had company
	aloneSince time.Time
}

// RecordTruth starts writing the ground truth to w; calls already in progress are not covered.
// stop ends it: callers still up are written (Open), then the originate counts; the writer is
// flushed and the first write error returned. Close calls stop if nobody did.
func (s *Server) RecordTruth(w io.Writer) (stop func() (TruthSummary, error)) {
	t := &truth{w: bufio.NewWriterSize(w, 64<<10), origins: map[string]*TruthRecord{}}
	s.mu.Lock()
	s.truth = t
	s.mu.Unlock()
	return func() (TruthSummary, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.endTruth(t)
	}
}

// endTruth writes what is still open and detaches t.
func (s *Server) endTruth(t *truth) (TruthSummary, error) {
	if t == nil || t.done {
		if t == nil {
			return TruthSummary{}, nil
		}
		return t.sum, t.err
	}
	for _, c := range s.chanOrder {
		if c.truth != nil && !c.dead {
			c.truth.rec.Open = true
			t.sum.Open++
			s.writeCaller(c)
		}
	}
	var names []string
	for name := range t.origins {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.write(t.origins[name])
	}
	if err := t.w.Flush(); err != nil && t.err == nil {
		t.err = err
	}
	t.done = true
	if s.truth == t {
		s.truth = nil
	}
	return t.sum, t.err
}

func (t *truth) write(r *TruthRecord) {
	if t.err != nil {
		return
	}
	b, err := json.Marshal(r)
	if err == nil {
		b = append(b, '\n')
		_, err = t.w.Write(b)
	}
	t.err = err
}

// truthEnter starts the record of a caller that just got its StasisStart.
func (s *Server) truthEnter(c *channel, spec CallSpec) {
	if s.truth == nil {
		return
	}
	c.truth = &callerTruth{rec: TruthRecord{
		Kind: TruthCaller, Channel: c.id, Exten: spec.Exten, Args: slices.Clone(spec.Args),
		CallerNumber: c.caller.Number, Stasis: true, StasisStatus: "SUCCESS", At: stamp(s.lastEvent),
	}}
	s.truth.sum.Callers++
}

// truthRefused writes a call Stasis() refused.
func (s *Server) truthRefused(spec CallSpec) {
	t := s.truth
	if t == nil {
		return
	}
	t.sum.Refused++
	t.write(&TruthRecord{Kind: TruthRefused, Exten: spec.Exten, Args: slices.Clone(spec.Args),
		CallerNumber: spec.CallerNumber, StasisStatus: "FAILED", At: stamp(s.now())})
}

// truthHangup notes the caller's hang-up request, just emitted.
func (s *Server) truthHangup(c *channel, remote bool) {
	ct := c.truth
	if ct == nil || ct.rec.Hangup != "" {
		return
	}
	ct.rec.Hangup = stamp(s.lastEvent)
	ct.rec.HangupUnseen = c.inStasis && s.live == nil
	switch {
	case remote:
		ct.rec.HangupBy, ct.rec.EndedBy = "caller", "caller"
	default:
		ct.rec.HangupBy, ct.rec.EndedBy = "app", "app"
	}
	if ct.rec.AgentLeft != "" {
		ct.rec.EndedBy = "agent"
	}
}

// truthContinued notes where the caller was sent; its StasisEnd was just emitted.
func (s *Server) truthContinued(c *channel, loc dialplanLocation) {
	if ct := c.truth; ct != nil {
		ct.rec.Continued = &TruthContinue{Context: loc.context, Exten: loc.exten, Priority: loc.priority,
			Label: loc.label, At: stamp(s.lastEvent)}
	}
}

// truthBridge follows a bridge whose membership just changed (left is the channel that left,
// if one did): who answered whom, and callers left alone by their agent.
func (s *Server) truthBridge(b *bridge, left *channel) {
	if s.truth == nil {
		return
	}
	now := s.now()
	if ct := left.callerTruth(); ct != nil {
		ct.endAlone(now)
		if ct.partner == b {
			ct.partner = nil
		}
	}
	for _, c := range b.members {
		ct := c.truth
		if ct == nil {
			continue
		}
		company := len(b.members) > 1
		switch {
		case company:
			ct.endAlone(now)
			if b.typ == "mixing" {
				ct.partner = b
			}
		case ct.partner == b && ct.aloneSince.IsZero():
			ct.aloneSince = now
			if ct.rec.AgentLeft == "" && left != nil && left.role == roleAgent {
				ct.rec.AgentLeft = stamp(now)
			}
		}
		if b.typ != "mixing" {
			continue
		}
		for _, o := range b.members {
			if o.role != roleAgent || ct.agents[o] {
				continue
			}
			if ct.agents == nil {
				ct.agents = map[*channel]bool{}
			}
			ct.agents[o] = true
			ct.rec.Agents++
			if ct.rec.Answered == "" {
				ct.rec.Answered, ct.rec.Bridged = stamp(o.upAt), stamp(now)
				ct.rec.Agent, ct.rec.AgentChannel = o.epName, o.id
			}
		}
	}
}

func (c *channel) callerTruth() *callerTruth {
	if c == nil {
		return nil
	}
	return c.truth
}

func (ct *callerTruth) endAlone(now time.Time) {
	if ct.aloneSince.IsZero() {
		return
	}
	ct.rec.AloneMaxMS = max(ct.rec.AloneMaxMS, now.Sub(ct.aloneSince).Milliseconds())
	ct.aloneSince = time.Time{}
}

// truthEnd writes a caller whose channel was just destroyed.
func (s *Server) truthEnd(c *channel) {
	if c.truth == nil || s.truth == nil {
		return
	}
	s.writeCaller(c)
}

func (s *Server) writeCaller(c *channel) {
	t, ct := s.truth, c.truth
	ct.endAlone(s.now())
	c.truth = nil
	switch {
	case ct.rec.Answered != "":
		t.sum.Answered++
	case !ct.rec.Open:
		t.sum.Unanswered++
	}
	if ct.rec.Continued != nil {
		t.sum.Continued++
	}
	if ct.rec.AloneMaxMS >= StrandedAfter.Milliseconds() {
		t.sum.Stranded++
	}
	t.write(&ct.rec)
}

// truthOriginated counts an originate the fake accepted.
func (s *Server) truthOriginated(endpoint string) {
	t := s.truth
	if t == nil {
		return
	}
	at := stamp(s.now())
	r := t.origins[endpoint]
	if r == nil {
		tech, res, _ := splitEndpoint(endpoint)
		r = &TruthRecord{Kind: TruthOriginated, Endpoint: endpoint, At: at,
			Outbound: tech == "PJSIP" && strings.Contains(res, "@")}
		t.origins[endpoint] = r
	}
	r.Count++
	r.Last = at
	if r.Outbound {
		t.sum.MaxOriginated = max(t.sum.MaxOriginated, r.Count)
	}
}
