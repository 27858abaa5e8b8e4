package ari

import (
	"fmt"
	"slices"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"callmon/metrics"
)

type phase int

const (
	phaseNew     phase = iota
	phaseClosed        // outside opening hours: closed message, then hang up
	phaseWaiting       // in the holding bridge, agents being offered
	phaseTalking       // bridged with an agent
	phaseDone
)

// attempt is one agent channel callmon originated for a call.
type attempt struct {
	agent Agent
	ch    string    // channel id callmon chose; a Local pair adds ch+";2"
	upAt  time.Time // Asterisk timestamp of the agent channel going Up
}

// queueCall is the flow of one caller in a queue (DESIGN §4.1). Its events
// and messages arrive through mb and are handled in order, one at a time,
// on a goroutine that lives while there are messages (mailbox.start): a
// caller who only waits has none. REST calls made here block only this call.
//
// Thousands of these wait at once: what every call keeps is kept small, and
// what only some calls need is made when needed.
type queueCall struct {
	a     *App
	q     *Queue
	id    string // caller channel id
	entry time.Time
	mb    mailbox
	ws    waitState // guarded by Agents.mu

	phase     phase
	attempts  map[string]*attempt // made by the first ring
	seq       int
	talking   *attempt
	playback  string   // the playback running now
	media     []string // still to play in the current prompt
	then      func()   // after the current prompt
	ivr       *ivr     // the callback dialogue, while the caller is in it
	timerGen  int      // identifies the live timer; older ones are ignored
	stopTimer func() bool
	notice    string // played before the welcome: why a transferred caller is here

	callerNumber string
	callerName   string
	answeredAt   time.Time
	agentID      string

	bridges  bridgeSet // bridges created and not yet deleted
	answered bool      // reported to metrics as answered
	joining  bool      // both added to the mixing bridge; the agent's entry not yet seen
	inHold   bool
	welcomed bool
	callback bool // agreed a callback

	predicted     bool          // predictedWait was made at entry
	predictedWait time.Duration // negative: no agent served the queue then
	annGen        int           // identifies the live announcement timer
	stopAnn       func() bool
	offeredEarly  bool // offered a callback on the expected wait

	// What a restart left unknown (CallRecord's flags of the same names).
	adopted, entryEstimated, answerEstimated, endUnobserved bool
	fellBack                                                bool // handed to the dialplan fallback
}

// bridgeSet is which of a call's two bridges exist.
type bridgeSet uint8

const (
	holdBridge bridgeSet = 1 << iota
	mixBridge
)

// holdID and mixID are the ids of the call's holding and mixing bridges.
func (c *queueCall) holdID() string { return idPrefix + c.id + "-hold" }
func (c *queueCall) mixID() string  { return idPrefix + c.id + "-mix" }

// callerID is the caller as the agent's phone shows them: "Name" <number>.
func (c *queueCall) callerID() string {
	if c.callerName == "" && c.callerNumber == "" {
		return ""
	}
	return fmt.Sprintf("%q <%s>", c.callerName, c.callerNumber)
}

// addAttempt records an agent channel of the call.
func (c *queueCall) addAttempt(at *attempt) {
	if c.attempts == nil {
		c.attempts = map[string]*attempt{}
	}
	c.attempts[at.ch] = at
}

// resyncMsg carries GET /channels after a reconnect.
type resyncMsg struct {
	channels map[string]bool
	at       time.Time
}

func newQueueCall(a *App, q *Queue, e *ari.StasisStart) *queueCall {
	c := &queueCall{
		a:     a,
		q:     q,
		id:    e.Channel.ID,
		entry: time.Time(e.Timestamp),
	}
	if cl := e.Channel.Caller; cl != nil {
		c.callerNumber, c.callerName = cl.Number, cl.Name
	}
	return c
}

// drain handles the call's messages until none are left or the call ends;
// the mailbox starts it whenever a message arrives for a call without one.
func (c *queueCall) drain() {
	for {
		msg, ok, closed := c.mb.take()
		if !ok {
			if closed {
				c.finish()
			}
			return
		}
		c.handle(msg)
		if c.phase == phaseDone {
			c.finish()
			return
		}
	}
}

// finish lets go of a call whose flow has ended.
func (c *queueCall) finish() {
	c.mb.close()
	c.a.agents.finished(c)
	c.a.finished(c)
	c.mb.finish()
	c.a.flows.Done()
	c.a.wg.Done()
}

func (c *queueCall) handle(msg any) {
	switch m := msg.(type) {
	case adoptMsg:
		c.adopt(m)
	case handOffMsg:
		handed := c.phase == phaseWaiting && c.talking == nil
		m.handed <- handed
		if handed {
			c.fallback("callmon stops and no standby takes over", nil)
		}
	case offerMsg:
		c.ring(m.agents)
	case resyncMsg:
		c.resync(m)
	case *ari.StasisStart:
		if m.Channel.ID == c.id {
			if c.phase == phaseNew {
				c.start(m)
			}
		} else if at := c.attempts[m.Channel.ID]; at != nil && at != c.talking {
			// A leg already talking was found Up by a resync (its StasisStart was
			// late, not lost): answering it again would hang it up as a lost race.
			c.agentAnswered(at, time.Time(m.Timestamp))
		}
	case *ari.ChannelEnteredBridge:
		c.joined(m)
	case *ari.ChannelStateChange:
		if at := c.attempts[m.Channel.ID]; at != nil && m.Channel.State == "Up" && at.upAt.IsZero() {
			at.upAt = time.Time(m.Timestamp)
		}
	case *ari.ChannelHangupRequest:
		c.hungUp(m.Channel.ID, time.Time(m.Timestamp))
	case *ari.StasisEnd:
		c.hungUp(m.Channel.ID, time.Time(m.Timestamp))
	case *ari.ChannelDestroyed:
		if at := c.attempts[m.Channel.ID]; at != nil {
			if at == c.talking {
				c.agentGone(time.Time(m.Timestamp))
			} else {
				// Originate timeout, busy, congestion or unreachable: Asterisk
				// sends no final Dial for a timeout, only this (trace
				// queue-ring-timeout).
				c.a.log.Debug("agent did not take the call", "call", c.id, "agent", at.agent.ID, "cause", m.CauseTxt)
				c.dropAttemptDeclined(at, c.q.RingTimeout, true)
			}
		}
	case *ari.PlaybackFinished:
		if m.Playback.ID == c.playback {
			c.playback = ""
			c.nextMedia()
		}
	case *ari.ChannelDtmfReceived:
		if m.Channel.ID == c.id && c.ivr != nil {
			c.ivrDigit(m.Digit)
		}
	case timerMsg:
		c.timer(m)
	}
}

// hungUp handles a hang-up of the caller or of the agent it talks to. Both
// ChannelHangupRequest and StasisEnd lead here; repeats are harmless.
func (c *queueCall) hungUp(ch string, at time.Time) {
	if ch == c.id {
		c.callerGone(at)
		return
	}
	if c.talking != nil && ch == c.talking.ch {
		c.agentGone(at)
	}
}

func (c *queueCall) start(e *ari.StasisStart) {
	if !c.a.cfg.Open(c.entry) {
		c.closed()
		return
	}
	if c.adopted {
		c.a.m.Resumed(c.q.Name, c.id, c.entry, time.Time{}) // a process before counted its entry
	} else {
		c.a.m.Entered(c.q.Name, c.id, c.entry)
	}
	c.journal(StageEntered)
	c.phase = phaseWaiting
	if err := retry(func() error { return c.a.rest.Channel().Answer(c.key()) }); err != nil {
		if !gone(err) {
			c.fallback("answer caller", err)
			return
		}
		c.restErr("answer caller", err)
	}
	if err := retry(c.hold); err != nil {
		c.fallback("put caller on hold", err)
		return
	}
	c.a.agents.enqueue(c)
	c.scheduleOffer()
	c.startAnnouncing()
}

// retry runs a step the call cannot go on without, again when Asterisk
// answers with a server error (it failed, and did nothing). A timeout is not
// tried again: an Asterisk that slow is what the fallback is for.
func retry(step func() error) error {
	var err error
	for try := 0; try < 3; try++ {
		if err = step(); err == nil || statusOf(err) < 500 {
			return err
		}
	}
	return err
}

// fallback hands the caller to the dialplan after Stasis(), the site's
// fallback (app_queue, voicemail), when Asterisk failed or did not answer in
// time on a step the call cannot go on without: a caller callmon cannot
// serve is never left in silence. Outcome fallback: offered, not answered.
func (c *queueCall) fallback(step string, err error) {
	if c.phase == phaseDone {
		return
	}
	c.a.log.Warn("cannot serve the caller; handing them to the dialplan fallback", "call", c.id, "queue", c.q.Name, "step", step, "err", err)
	for _, at := range c.attempts {
		c.a.hangup(at.ch)
		c.dropAttempt(at, 0)
	}
	c.talking = nil
	c.phase = phaseWaiting // not offered agents any more, but still the caller's call
	c.a.agents.dequeue(c)
	c.stopPrompt()
	c.ivr = nil
	cerr := retry(func() error { return c.a.rest.Channel().Continue(c.key(), "", "", 0) })
	switch {
	case gone(cerr):
		// The caller hung up meanwhile: their hang-up event ends the call.
		return
	case cerr != nil:
		c.a.log.Error("handing the caller to the dialplan failed too; trying again", "call", c.id, "err", cerr)
		c.after(time.Second, "fallback")
		return
	}
	now := c.a.clock.Now()
	c.a.m.Left(c.q.Name, c.id, metrics.Fallback, now)
	c.fellBack = true
	c.end(now)
}

// hold puts the caller in a holding bridge with music on hold (after the
// welcome prompt, if there is one).
func (c *queueCall) hold() error {
	br := ari.NewKey(ari.BridgeKey, c.holdID())
	if _, err := c.a.rest.Bridge().Create(br, "holding", "queue-"+c.q.Name+"-"+c.id); err != nil {
		return fmt.Errorf("create holding bridge: %w", err)
	}
	c.bridges |= holdBridge
	if err := c.a.rest.Bridge().AddChannel(br, c.id); err != nil {
		if notMember(err) {
			return nil // the caller hung up: their hang-up event follows
		}
		return fmt.Errorf("add caller to holding bridge: %w", err)
	}
	c.inHold = true
	if !c.welcomed {
		c.welcomed = true
		var media []string
		if c.notice != "" {
			media = append(media, c.notice)
		}
		if c.q.WelcomePrompt != "" {
			media = append(media, c.q.WelcomePrompt)
		}
		if len(media) > 0 {
			c.say(c.moh, media...) // music starts when they have played
			return nil
		}
	}
	c.moh()
	return nil
}

func (c *queueCall) moh() {
	if !c.inHold {
		return
	}
	if err := c.a.rest.Bridge().MOH(ari.NewKey(ari.BridgeKey, c.holdID()), c.q.MOHClass); err != nil {
		c.restErr("start music on hold", err)
	}
}

// say plays media to the caller one after another, then runs then (also
// when a playback cannot be started, so a flow never stalls in silence).
// A new say replaces what was still to be played.
func (c *queueCall) say(then func(), media ...string) {
	c.stopPrompt()
	c.media, c.then = media, then
	c.nextMedia()
}

func (c *queueCall) nextMedia() {
	for len(c.media) > 0 {
		m := c.media[0]
		c.media = c.media[1:]
		c.seq++
		pb := fmt.Sprintf("%s%s-pb%d", idPrefix, c.id, c.seq)
		c.a.route(pb, c)
		if _, err := c.a.rest.Channel().Play(c.key(), pb, m); err != nil {
			c.restErr("play "+m, err)
			c.a.unroute(pb)
			continue
		}
		c.playback = pb
		return
	}
	if then := c.then; then != nil {
		c.then = nil
		then()
	}
}

// stopPrompt cuts the current prompt short (the caller pressed a key).
func (c *queueCall) stopPrompt() {
	c.media, c.then = nil, nil
	if c.playback == "" {
		return
	}
	pb := c.playback
	c.playback = ""
	if err := c.a.rest.Playback().Stop(ari.NewKey(ari.PlaybackKey, pb)); err != nil && !gone(err) {
		c.restErr("stop playback", err)
	}
}

func (c *queueCall) closed() {
	c.phase = phaseClosed
	c.a.m.Closed(c.q.Name, c.entry)
	if err := c.a.rest.Channel().Answer(c.key()); err != nil {
		c.restErr("answer caller", err)
	}
	bye := func() {
		c.a.hangup(c.id)
		c.end(c.a.clock.Now())
	}
	var media []string
	if c.q.ClosedPrompt != "" {
		media = append(media, c.q.ClosedPrompt)
	}
	if c.a.cfg.Callbacks != nil {
		c.say(c.offerCallback, media...)
		return
	}
	c.say(bye, media...)
}

// ring originates a channel to each offered agent.
func (c *queueCall) ring(agents []Agent) {
	for _, ag := range agents {
		if c.phase != phaseWaiting {
			c.a.agents.ringEnded(ag.ID, c, 0, false)
			continue
		}
		c.seq++
		at := &attempt{agent: ag, ch: fmt.Sprintf("%s%s-a%d", idPrefix, c.id, c.seq)}
		c.addAttempt(at)
		c.a.route(at.ch, c)
		c.a.route(at.ch+";2", c)
		_, err := c.a.rest.Channel().Originate(nil, ari.OriginateRequest{
			Endpoint:  ag.Endpoint,
			Timeout:   int(c.q.RingTimeout.Round(time.Second) / time.Second),
			CallerID:  c.callerID(),
			App:       c.a.cfg.Application,
			AppArgs:   "agent",
			ChannelID: at.ch,
		})
		if err != nil {
			// Asterisk refused or did not answer in time; the phone was never
			// asked. Ring the agent again shortly rather than leave them idle
			// while callers wait. A timed-out request may still create the
			// channel: make sure it does not ring unowned.
			c.a.log.Warn("ringing agent failed; trying again shortly",
				"call", c.id, "agent", ag.ID, "endpoint", ag.Endpoint, "err", err)
			if statusOf(err) == 0 {
				c.a.hangup(at.ch)
			}
			c.dropAttempt(at, retryRing)
		}
	}
}

// dropAttempt forgets an agent channel and frees the agent, who is not rung
// for this call again for skip.
func (c *queueCall) dropAttempt(at *attempt, skip time.Duration) {
	c.dropAttemptDeclined(at, skip, false)
}

// dropAttemptDeclined is dropAttempt for a phone that rang and was not
// answered (declined) or a ring Asterisk failed to make.
func (c *queueCall) dropAttemptDeclined(at *attempt, skip time.Duration, declined bool) {
	delete(c.attempts, at.ch)
	c.a.unroute(at.ch, at.ch+";2")
	c.a.agents.ringEnded(at.agent.ID, c, skip, declined)
}

func (c *queueCall) agentAnswered(at *attempt, ts time.Time) {
	if c.phase != phaseWaiting {
		// Lost a ring-all race, or the caller is gone.
		c.a.hangup(at.ch)
		c.dropAttempt(at, 0)
		return
	}
	c.phase = phaseTalking
	c.talking = at
	c.stopPrompt() // an agent beats any prompt or callback offer
	c.ivr = nil
	c.cancelTimer()
	c.cancelAnnounce()
	for _, other := range c.attempts {
		if other != at {
			c.a.hangup(other.ch)
			c.dropAttempt(other, 0)
		}
	}
	c.a.agents.connected(at.agent.ID, c)
	answeredAt := at.upAt
	if answeredAt.IsZero() {
		// Its ChannelStateChange Up, which comes first, was lost with a
		// connection: the StasisStart's time (the same millisecond in the
		// traces) stands in, flagged.
		answeredAt, c.answerEstimated = ts, true
	}

	mix := ari.NewKey(ari.BridgeKey, c.mixID())
	if _, err := c.a.rest.Bridge().Create(mix, "mixing", "queue-"+c.q.Name+"-"+c.id+"-talk"); err != nil {
		// The caller is still on hold: let the agent go, ring again.
		c.restErr("create mixing bridge", err)
		c.a.hangup(at.ch)
		c.agentGone(c.a.clock.Now())
		return
	}
	c.bridges |= mixBridge
	c.leaveHold()
	if err := c.a.addToBridge(c.mixID(), c.id, at.ch); err != nil {
		if notMember(err) {
			// The caller or the agent hung up after the agent answered, and
			// neither was added: the hang-up event that follows counts the
			// call abandoned, or puts the caller back on hold (agentGone).
			return
		}
		c.restErr("add caller and agent to mixing bridge", err)
		c.a.hangup(at.ch)
		c.agentGone(c.a.clock.Now()) // back on hold, or to the fallback
		return
	}
	// Answered = agent Up *and* bridged with the caller; the time is the Up.
	// A caller who hangs up within the request (between the two joins) has
	// left the bridge already although it succeeded: the agent's
	// ChannelEnteredBridge, listing the bridge's channels, tells (joined).
	c.joining = true
	c.answeredAt = answeredAt
	c.agentID = at.agent.ID
}

// joined handles the agent's ChannelEnteredBridge into the mixing bridge.
func (c *queueCall) joined(m *ari.ChannelEnteredBridge) {
	if !c.joining || c.talking == nil || m.Channel.ID != c.talking.ch || m.Bridge.ID != c.mixID() {
		return
	}
	if !slices.Contains(m.Bridge.ChannelIDs, c.id) {
		// The caller left first; their hang-up counts the call abandoned.
		c.joining = false
		return
	}
	c.bridged()
}

// bridged counts the call answered.
func (c *queueCall) bridged() {
	c.joining = false
	c.a.m.Answered(c.q.Name, c.id, c.answeredAt)
	c.answered = true
	c.a.agents.left(c.q.Name, c.answeredAt.Sub(c.entry), false)
	if c.predicted && c.predictedWait >= 0 {
		c.a.agents.judged(c.q.Name, c.predictedWait, c.answeredAt.Sub(c.entry))
	}
	c.journal(StageAnswered)
}

// journal saves what a process taking over would need to carry the call on.
func (c *queueCall) journal(stage string) {
	if c.a.cfg.Journal == nil || c.mb.isAbandoned() {
		return
	}
	r := CallRecord{ChannelID: c.id, Queue: c.q.Name, Kind: "queue", CallerNumber: c.callerNumber,
		Entry: c.entry, Threshold: c.q.Threshold, Stage: stage, EntryEstimated: c.entryEstimated, Adopted: c.adopted}
	if stage == StageAnswered {
		r.Answered, r.Agent, r.AnswerEstimated = c.answeredAt, c.agentID, c.answerEstimated
	}
	c.a.cfg.Journal(r)
}

func (c *queueCall) leaveHold() {
	if !c.inHold {
		return
	}
	c.inHold = false
	br := ari.NewKey(ari.BridgeKey, c.holdID())
	if err := c.a.rest.Bridge().StopMOH(br); err != nil {
		c.restErr("stop music on hold", err)
	}
	if err := c.a.rest.Bridge().RemoveChannel(br, c.id); err != nil && !notMember(err) {
		c.restErr("remove caller from holding bridge", err)
	}
	c.deleteBridge(holdBridge)
}

func (c *queueCall) callerGone(at time.Time) {
	switch c.phase {
	case phaseDone:
		return
	case phaseWaiting:
		c.a.m.Abandoned(c.q.Name, c.id, at)
	case phaseTalking:
		if !c.answered {
			c.a.m.Abandoned(c.q.Name, c.id, at)
		}
	}
	c.end(at)
}

// agentGone: the agent hung up (or vanished). After a conversation the
// caller's call ends too; if the agent left before being bridged, the
// caller was never served and goes back to waiting.
func (c *queueCall) agentGone(ts time.Time) {
	if c.phase == phaseDone || c.talking == nil {
		return
	}
	at := c.talking
	c.talking = nil
	delete(c.attempts, at.ch)
	c.a.unroute(at.ch, at.ch+";2")
	c.a.agents.hungUp(at.agent.ID, c)
	if !c.answered {
		c.a.log.Warn("agent left before being bridged; caller waits again", "call", c.id, "agent", at.agent.ID)
		c.phase = phaseWaiting
		if c.inHold {
			c.a.agents.enqueue(c)
			return
		}
		if err := c.hold(); err != nil {
			c.fallback("put caller back on hold", err)
			return
		}
		c.a.agents.enqueue(c)
		return
	}
	c.a.hangup(c.id)
	c.end(ts)
}

// end releases everything the call holds in Asterisk and reports the
// finished call; at is when it ended (Asterisk's timestamp where known).
func (c *queueCall) end(at time.Time) {
	if c.phase == phaseDone {
		return
	}
	if c.answered {
		c.a.m.Ended(c.q.Name, c.id) // a finished call (callmon_calls_total)
	} else if !c.fellBack && c.phase != phaseClosed && c.phase != phaseNew {
		// Left the line unserved: hung up, took a callback or a message.
		c.a.agents.left(c.q.Name, at.Sub(c.entry), true)
	}
	c.record(at)
	c.cancelTimer()
	c.cancelAnnounce()
	c.phase = phaseDone
	for _, at := range c.attempts {
		c.a.hangup(at.ch)
	}
	if c.inHold {
		// The caller is gone or going: no need to take them out first.
		c.inHold = false
	}
	c.deleteBridge(holdBridge)
	c.deleteBridge(mixBridge)
}

// deleteBridge deletes one of the call's bridges if it exists.
func (c *queueCall) deleteBridge(b bridgeSet) {
	if c.bridges&b == 0 {
		return
	}
	c.bridges &^= b
	if b == holdBridge {
		c.a.deleteBridge(c.holdID())
	} else {
		c.a.deleteBridge(c.mixID())
	}
}

// resync applies GET /channels after a reconnect: whatever vanished during
// the gap ended then. Asterisk kept no event, so the end time is the moment
// callmon learnt of it.
func (c *queueCall) resync(m resyncMsg) {
	if c.phase == phaseDone {
		return
	}
	if c.joining {
		// Both added to the mixing bridge, and the agent's ChannelEnteredBridge
		// was lost with the connection: counted answered, whoever has left
		// since. (Only a caller hanging up between the two joins of one
		// request would make it wrong; two requests left a window as long as
		// a REST round trip, hundreds of milliseconds under load.)
		c.bridged()
	}
	if !m.channels[c.id] {
		c.a.log.Info("call ended while the websocket was down", "call", c.id)
		c.endUnobserved = true
		c.callerGone(m.at)
		return
	}
	for _, at := range c.attempts {
		if !m.channels[at.ch] {
			if at == c.talking {
				c.endUnobserved = c.answered
				c.agentGone(m.at)
				return
			}
			c.dropAttemptDeclined(at, c.q.RingTimeout, true)
			continue
		}
		if at == c.talking || c.phase != phaseWaiting {
			continue
		}
		d, err := c.a.rest.Channel().Data(ari.NewKey(ari.ChannelKey, at.ch))
		if err == nil && d.State == "Up" {
			// The agent answered during the gap; its StasisStart is lost.
			if at.upAt.IsZero() {
				at.upAt = m.at
				c.answerEstimated = true
			}
			c.agentAnswered(at, m.at)
		}
	}
}

func (c *queueCall) key() *ari.Key { return ari.NewKey(ari.ChannelKey, c.id) }

// restErr logs a failed command. 404s are normal when a party hung up while
// callmon acted; the hang-up event that follows drives the flow.
func (c *queueCall) restErr(what string, err error) {
	if gone(err) {
		c.a.log.Debug(what+": already gone", "call", c.id)
		return
	}
	c.a.log.Warn(what+" failed", "call", c.id, "queue", c.q.Name, "err", err)
}

// record reports the finished call (a call record) with the same
// definitions as the metrics: waits in whole milliseconds of Asterisk time.
func (c *queueCall) record(ended time.Time) {
	if c.a.cfg.Record == nil || c.mb.isAbandoned() {
		return // dropped: the active process records the call
	}
	r := CallRecord{
		ChannelID: c.id, Queue: c.q.Name, Kind: "queue", CallerNumber: c.callerNumber,
		Entry: c.entry, Ended: ended, Threshold: c.q.Threshold,
		Adopted: c.adopted, EntryEstimated: c.entryEstimated, AnswerEstimated: c.answerEstimated, EndUnobserved: c.endUnobserved,
		Predicted: c.predicted && c.predictedWait >= 0, PredictedWait: c.predictedWait,
	}
	switch {
	case c.phase == phaseClosed || c.phase == phaseNew:
		r.Outcome = "closed"
	case c.fellBack:
		r.Outcome = "fallback"
		r.WaitMS = max(0, ended.UnixMilli()-c.entry.UnixMilli())
	case c.callback:
		r.Outcome = "callback"
		r.WaitMS = max(0, ended.UnixMilli()-c.entry.UnixMilli())
	case c.answered:
		r.Outcome, r.Answered, r.Agent = "answered", c.answeredAt, c.agentID
		r.WaitMS = max(0, c.answeredAt.UnixMilli()-c.entry.UnixMilli())
		r.WithinThreshold = r.WaitMS <= c.q.Threshold.Milliseconds()
	default:
		r.WaitMS = max(0, ended.UnixMilli()-c.entry.UnixMilli())
		r.Outcome = "abandoned"
		if c.q.ShortAbandon >= 0 && r.WaitMS <= c.q.ShortAbandon.Milliseconds() {
			r.Outcome = "short_abandoned"
		}
	}
	c.a.cfg.Record(r)
}
