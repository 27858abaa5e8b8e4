package ari

import (
	"fmt"
	"math"
	"time"

	"callmon/prompts"
)

// Announcements (DESIGN §10.3): a waiting caller hears their position and expected wait at
// entry and every Queue.AnnounceEvery, played over the music on hold; the wait is told
// rounded up the way people say it, from the prediction plus the predictor's recent
// 80th-percentile error, and only while that error is within Queue.AnnounceErrorLimit — else
// the position alone. The sounds are under callmon/ and digits/ in the channel's language
// (package prompts generates a Dutch set).

// standing is a waiting caller's place: position (1 for the first in line), the wait still
// expected, and the bound to tell (told false: position only).
type standing struct {
	position int
	expected time.Duration // negative: no agent serves the queue
	bound    time.Duration
	told     bool
}

// standing reports c's place in line now.
func (s *Agents) standing(c *queueCall) standing {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st standing
	ahead := 0
	for _, o := range s.waiting {
		if o == c {
			break
		}
		if o.q.Name != c.q.Name {
			continue
		}
		st.position++
		if o.ws.ringing == 0 {
			ahead++
		}
	}
	st.position++
	st.expected = s.expectedLocked(c.q.Name, ahead)
	if c.ws.ringing > 0 {
		st.expected = -1 // an agent's phone rings for them now
		if est := s.est[c.q.Name]; est != nil {
			st.expected = est.RingTime()
		}
	}
	if est := s.est[c.q.Name]; est != nil && st.expected >= 0 {
		over, abs, ok := est.ErrorBound()
		st.bound = st.expected + max(over, 0)
		st.told = ok && abs <= c.q.AnnounceErrorLimit
	}
	return st
}

// judged feeds queue's predictor how an answered caller's prediction at entry fared.
func (s *Agents) judged(queue string, predicted, actual time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if est := s.est[queue]; est != nil {
		est.Judged(predicted, actual)
	}
}

// spokenMinutes rounds a wait up the way people say it: 0 for less than a minute, whole
// minutes up to 5, then fives up to half an hour, then tens.
func spokenMinutes(d time.Duration) int {
	m := d.Minutes()
	switch {
	case m <= 1:
		return 0
	case m <= 5:
		return int(math.Ceil(m))
	case m <= 30:
		return 5 * int(math.Ceil(m/5))
	default:
		return 10 * int(math.Ceil(m/10))
	}
}

// announcementMedia is what a caller hears for st.
func announcementMedia(st standing) []string {
	media := []string{"sound:" + prompts.YouAreNumber, fmt.Sprintf("number:%d", st.position), "sound:" + prompts.InLine}
	if !st.told {
		return media
	}
	switch m := spokenMinutes(st.bound); m {
	case 0:
		return append(media, "sound:"+prompts.LessThanAMinute)
	case 1:
		return append(media, "sound:"+prompts.ExpectedWait, "number:1", "sound:"+prompts.Minute)
	default:
		return append(media, "sound:"+prompts.ExpectedWait, fmt.Sprintf("number:%d", m), "sound:"+prompts.Minutes)
	}
}

// recheckOffer is how often a waiting caller's expected wait is compared with the queue's
// callback_offer_expected_wait when nothing is announced.
const recheckOffer = 30 * time.Second

// startAnnouncing makes the first announcement (or prediction check) of a caller who has just
// entered the line.
func (c *queueCall) startAnnouncing() {
	if c.q.AnnounceEvery > 0 || c.q.CallbackOfferExpected > 0 {
		c.announce()
	}
}

// scheduleAnnounce arms the call's announcement timer.
func (c *queueCall) scheduleAnnounce(d time.Duration) {
	c.cancelAnnounce()
	c.annGen++
	gen := c.annGen
	c.stopAnn = c.a.clock.AfterFunc(d, func() { c.mb.post(timerMsg{gen: gen, what: "announce"}) })
}

func (c *queueCall) cancelAnnounce() {
	if c.stopAnn != nil {
		c.stopAnn()
		c.stopAnn = nil
	}
	c.annGen++
}

// announce tells a waiting caller where they stand, or offers the callback when the wait
// expected is longer than the queue allows; then arms the next announcement.
func (c *queueCall) announce() {
	if c.phase != phaseWaiting || c.talking != nil || c.fellBack {
		return
	}
	every := c.q.AnnounceEvery
	if every == 0 && c.q.CallbackOfferExpected > 0 {
		every = recheckOffer // no announcements: only look at the prediction again
	}
	if every > 0 {
		c.scheduleAnnounce(every)
	}
	if c.ivr != nil || !c.ws.waiting {
		return // in the callback dialogue: not now
	}
	st := c.a.agents.standing(c)
	if c.offerOnPrediction(st.expected) {
		return
	}
	if c.q.AnnounceEvery > 0 {
		c.whenQuiet(func(then func()) { c.say(then, announcementMedia(st)...) })
	}
}

// offerOnPrediction offers the callback at once, once per call, when the wait expected
// exceeds the queue's limit; it reports whether it did.
func (c *queueCall) offerOnPrediction(expected time.Duration) bool {
	limit := c.q.CallbackOfferExpected
	if limit <= 0 || c.a.cfg.Callbacks == nil || c.offeredEarly || c.ivr != nil || expected <= limit {
		return false
	}
	c.offeredEarly = true
	c.a.log.Debug("expected wait over the limit: offering a callback", "call", c.id, "queue", c.q.Name, "expected", expected.Round(time.Second))
	c.cancelTimer() // the offer after a fixed wait is not needed any more
	c.whenQuiet(func(then func()) {
		c.offerCallbackThen(then)
	})
	return true
}

// whenQuiet runs play once what is playing now has ended (at once if nothing plays); play
// gets what was to run after the current prompt (the music on hold), to run in turn.
func (c *queueCall) whenQuiet(play func(then func())) {
	if c.playback == "" && len(c.media) == 0 {
		play(nil) // the music on hold plays on
		return
	}
	old := c.then
	c.then = func() { play(old) }
}
