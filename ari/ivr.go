package ari

import (
	"context"
	"fmt"
	"strings"
	"time"

	"callmon/callback/phone"
)

// Slot is a callback window the caller can choose.
type Slot struct{ Start, End time.Time }

// Booking is a callback the caller agreed to.
type Booking struct {
	Queue      string
	Number     string // E.164, e.g. +31612345678
	CallerName string
	Slot       Slot
	Key        string // the caller's channel id: booking twice stores once
}

// Callbacks is what the callback dialogue needs from package callback: free
// slots and durable storage (PostgreSQL, or the spool while it is down).
type Callbacks interface {
	NextSlots(queue string, after time.Time, n int) ([]Slot, error)
	Book(ctx context.Context, b Booking) error
}

// Prompts of the callback dialogue (sound files under callmon/ in the
// Asterisk sounds directory; see README).
const (
	promptOffer         = "sound:callmon/callback-offer"         // "press 1 to be called back"
	promptEnterNumber   = "sound:callmon/enter-number"           // "enter your phone number, then #"
	promptInvalidNumber = "sound:callmon/invalid-number"         // "that is not a valid number"
	promptBackToQueue   = "sound:callmon/back-to-queue"          // "you are back in the queue"
	promptChooseSlot1   = "sound:callmon/press-1-for"            // "press 1 for"
	promptChooseSlot2   = "sound:callmon/press-2-for"            // "press 2 for"
	promptConfirmed     = "sound:callmon/callback-confirmed"     // "we will call you back"
	promptBookingFailed = "sound:callmon/callback-not-available" // "we cannot schedule a callback now"
	promptGoodbye       = "sound:vm-goodbye"
)

// Timeouts of the dialogue, in call time.
const (
	offerTimeout = 10 * time.Second // to press 1 after the offer
	digitTimeout = 10 * time.Second // between digits of a number, and to choose a slot
	maxTries     = 3                // attempts at keying a valid number
)

type ivrStep int

const (
	ivrOffered ivrStep = iota // offer played, waiting for 1
	ivrNumber                 // collecting a number ending in #
	ivrSlot                   // two slots offered, waiting for 1 or 2
	ivrDone                   // booked, reading back
)

// ivr is a caller's callback dialogue.
type ivr struct {
	step    ivrStep
	digits  strings.Builder
	tries   int
	number  string // E.164
	slots   []Slot
	repeats int
}

// timerMsg arrives in the call's mailbox when a timer fires.
type timerMsg struct {
	gen  int
	what string
}

// after arms the call's single timer; a newer one replaces it.
func (c *queueCall) after(d time.Duration, what string) {
	c.cancelTimer()
	c.timerGen++
	gen := c.timerGen
	c.stopTimer = c.a.clock.AfterFunc(d, func() { c.mb.post(timerMsg{gen: gen, what: what}) })
}

func (c *queueCall) cancelTimer() {
	if c.stopTimer != nil {
		c.stopTimer()
		c.stopTimer = nil
	}
	c.timerGen++
}

func (c *queueCall) timer(m timerMsg) {
	if c.phase == phaseDone {
		return
	}
	if m.what == "announce" {
		if m.gen == c.annGen {
			c.announce()
		}
		return
	}
	if m.gen != c.timerGen {
		return
	}
	switch m.what {
	case "offer":
		if c.phase == phaseWaiting && c.ivr == nil {
			c.offerCallback()
		}
	case "ivr":
		c.ivrTimeout()
	case "fallback":
		c.fallback("hand the caller to the dialplan", nil)
	}
}

// scheduleOffer offers a callback at once when nobody could answer, else
// after the queue's callback_offer_after.
func (c *queueCall) scheduleOffer() {
	if c.a.cfg.Callbacks == nil {
		return
	}
	if c.a.agents.loggedIn(c.q.Name) == 0 {
		c.offerCallback()
		return
	}
	if c.q.CallbackOfferAfter > 0 {
		c.after(c.q.CallbackOfferAfter, "offer")
	}
}

func (c *queueCall) offerCallback() { c.offerCallbackThen(nil) }

// offerCallbackThen offers the callback; then, if not nil, runs when the offer has played
// (the music on hold that a welcome prompt's end would have started).
func (c *queueCall) offerCallbackThen(then func()) {
	c.a.m.CallbackOffered(c.q.Name)
	c.ivr = &ivr{step: ivrOffered}
	c.say(func() {
		if then != nil {
			then()
		}
		c.after(offerTimeout, "ivr")
	}, promptOffer)
}

func (c *queueCall) ivrDigit(d string) {
	v := c.ivr
	switch v.step {
	case ivrOffered:
		if d != "1" {
			return
		}
		c.stopPrompt()
		// From here the caller is in the dialogue, not waiting for an agent.
		if c.phase == phaseWaiting {
			c.a.agents.dequeue(c)
			for _, at := range c.attempts {
				c.a.hangup(at.ch)
				c.dropAttempt(at, 0)
			}
		}
		if n, ok := e164(c.callerNumber); ok {
			v.number = n
			c.offerSlots()
			return
		}
		c.askNumber()
	case ivrNumber:
		c.stopPrompt()
		if d != "#" {
			v.digits.WriteString(d)
			c.after(digitTimeout, "ivr")
			return
		}
		c.numberKeyed()
	case ivrSlot:
		i := map[string]int{"1": 0, "2": 1}[d]
		if (d != "1" && d != "2") || i >= len(v.slots) {
			return
		}
		c.stopPrompt()
		c.book(v.slots[i])
	}
}

func (c *queueCall) ivrTimeout() {
	v := c.ivr
	if v == nil {
		return
	}
	switch v.step {
	case ivrOffered:
		if c.phase != phaseWaiting {
			c.backToQueue() // closed: nothing to wait for
			return
		}
		c.ivr = nil // not taken: keep waiting
	case ivrNumber:
		c.numberKeyed()
	case ivrSlot:
		if v.repeats++; v.repeats < 2 {
			c.offerSlots()
			return
		}
		c.backToQueue()
	}
}

func (c *queueCall) askNumber() {
	c.ivr.step = ivrNumber
	c.ivr.digits.Reset()
	c.say(func() { c.after(digitTimeout, "ivr") }, promptEnterNumber)
}

// numberKeyed validates what the caller keyed: 10 digits starting with 0.
func (c *queueCall) numberKeyed() {
	v := c.ivr
	keyed := v.digits.String()
	if n, ok := e164(keyed); ok && len(keyed) == 10 {
		v.number = n
		c.offerSlots()
		return
	}
	v.tries++
	if v.tries >= maxTries {
		c.backToQueue()
		return
	}
	v.step = ivrNumber
	v.digits.Reset()
	c.say(func() { c.after(digitTimeout, "ivr") }, promptInvalidNumber, promptEnterNumber)
}

func (c *queueCall) offerSlots() {
	v := c.ivr
	if v.slots == nil {
		slots, err := c.a.cfg.Callbacks.NextSlots(c.q.Name, c.a.clock.Now(), 2)
		if err != nil || len(slots) == 0 {
			c.a.log.Error("no callback slot to offer", "call", c.id, "queue", c.q.Name, "err", err)
			c.say(c.backToQueue, promptBookingFailed)
			return
		}
		v.slots = slots
	}
	v.step = ivrSlot
	var media []string
	for i, s := range v.slots {
		media = append(media, []string{promptChooseSlot1, promptChooseSlot2}[i])
		media = append(media, c.slotMedia(s)...)
	}
	c.say(func() { c.after(digitTimeout, "ivr") }, media...)
}

// book stores the agreed callback, reads it back and ends the call.
func (c *queueCall) book(s Slot) {
	v := c.ivr
	c.cancelTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.a.cfg.Callbacks.Book(ctx, Booking{Queue: c.q.Name, Number: v.number, CallerName: c.callerName, Slot: s, Key: c.id})
	if err != nil {
		c.a.log.Error("callback could not be stored", "call", c.id, "err", err)
		c.say(c.backToQueue, promptBookingFailed)
		return
	}
	v.step = ivrDone
	c.a.m.CallbackAccepted(c.q.Name)
	at := c.a.clock.Now()
	c.callback = true
	if c.phase == phaseWaiting {
		c.a.m.Left(c.q.Name, c.id, "callback", at)
	}
	media := append([]string{promptConfirmed}, c.slotMedia(s)...)
	c.say(func() {
		c.a.hangup(c.id)
		c.end(c.a.clock.Now())
	}, append(media, promptGoodbye)...)
}

// backToQueue ends the dialogue; a waiting caller waits on where they were
// (their place is their entry time), a closed-hours caller hears goodbye.
func (c *queueCall) backToQueue() {
	c.ivr = nil
	c.cancelTimer()
	if c.phase != phaseWaiting {
		c.say(func() {
			c.a.hangup(c.id)
			c.end(c.a.clock.Now())
		}, promptGoodbye)
		return
	}
	c.say(c.moh, promptBackToQueue)
	c.a.agents.enqueue(c)
}

// slotMedia reads a slot's start back: "today"/"tomorrow"/weekday, then
// the hour and minutes, with Asterisk's core sounds.
func (c *queueCall) slotMedia(s Slot) []string {
	loc := c.a.cfg.Location
	if loc == nil {
		loc = time.Local
	}
	now := c.a.clock.Now().In(loc)
	st := s.Start.In(loc)
	day := fmt.Sprintf("sound:digits/day-%d", int(st.Weekday()))
	switch {
	case sameDay(st, now):
		day = "sound:digits/today"
	case sameDay(st, now.AddDate(0, 0, 1)):
		day = "sound:digits/tomorrow"
	}
	media := []string{day, fmt.Sprintf("number:%d", st.Hour())}
	if st.Minute() == 0 {
		return append(media, "sound:digits/oclock")
	}
	return append(media, fmt.Sprintf("number:%d", st.Minute()))
}

func sameDay(a, b time.Time) bool {
	return a.Year() == b.Year() && a.YearDay() == b.YearDay()
}

// e164 turns a Dutch number (0612345678, +31612345678, 0031...) into E.164;
// anything else (withheld, foreign, too short) is not accepted.
func e164(s string) (string, bool) {
	n, err := phone.E164(s)
	return n, err == nil
}
