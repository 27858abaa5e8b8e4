package ari_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"callmon/ari"
	"callmon/ari/aritest"
)

// fakeCallbacks offers two fixed slots (tomorrow 09:00 and 09:15 in
// Amsterdam) and keeps bookings in memory: it stands in for package
// callback, whose PostgreSQL side has its own tests.
type fakeCallbacks struct {
	mu       sync.Mutex
	bookings []ari.Booking
	fail     bool
}

func (f *fakeCallbacks) NextSlots(queue string, after time.Time, n int) ([]ari.Slot, error) {
	a := after.In(amsterdam)
	first := time.Date(a.Year(), a.Month(), a.Day()+1, 9, 0, 0, 0, amsterdam)
	return []ari.Slot{{Start: first, End: first.Add(15 * time.Minute)},
		{Start: first.Add(15 * time.Minute), End: first.Add(30 * time.Minute)}}[:n], nil
}

func (f *fakeCallbacks) Book(ctx context.Context, b ari.Booking) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bookings = append(f.bookings, b)
	return nil
}

func (f *fakeCallbacks) all() []ari.Booking {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ari.Booking(nil), f.bookings...)
}

// plays lists the media callmon asked the fake to play, in order.
func (h *harness) plays() []string {
	var out []string
	for _, r := range h.fake.Log() {
		if r.Kind == aritest.KindREST && r.Method == "POST" && strings.Contains(r.Path, "/play") && r.Status == 201 {
			var body struct{ Media string }
			if json.Unmarshal(r.Body, &body) == nil {
				out = append(out, body.Media)
			}
		}
	}
	return out
}

func (h *harness) countPlays(media string) int {
	n := 0
	for _, m := range h.plays() {
		if m == media {
			n++
		}
	}
	return n
}

// awaitPlay waits until media has been played n times in all.
func (h *harness) awaitPlay(media string, n int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.fake.Await(ctx, func() bool { return h.countPlays(media) >= n }); err != nil {
		h.t.Fatalf("waiting for prompt %s (%d): %v; played so far: %q\nlog:\n%s", media, n, err, h.plays(), h.logs)
	}
}

// listen plays a sequence to its end: each prompt is awaited, then the
// clock moves on by its length.
func (h *harness) listen(media ...string) {
	h.t.Helper()
	want := map[string]int{}
	for _, m := range media {
		want[m]++
		h.awaitPlay(m, want[m])
		h.clock.Advance(aritest.DefaultMediaDuration)
	}
}

// key presses digits as a caller does, one after another: each key is a
// separate moment (Asterisk stamps each ChannelDtmfReceived when the key is
// released), so repeated digits are distinct events.
func (h *harness) key(c *aritest.Caller, digits string) {
	for _, d := range digits {
		c.SendDTMF(string(d))
		h.clock.Advance(200 * time.Millisecond)
	}
}

const (
	offer     = "sound:callmon/callback-offer"
	pressOne  = "sound:callmon/press-1-for"
	enterNum  = "sound:callmon/enter-number"
	invalid   = "sound:callmon/invalid-number"
	confirmed = "sound:callmon/callback-confirmed"
)

func TestCallbackOfferedAfterTheWait(t *testing.T) {
	cb := &fakeCallbacks{}
	h := newHarness(t, harnessOptions{agents: 1, ringTimeout: 5 * time.Minute, callbacks: cb,
		behaviour: aritest.Behaviour{NoAnswer: true}})
	c := h.call("0612345678")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(59 * time.Second)
	if h.countPlays(offer) != 0 {
		t.Fatal("callback offered before 60 s")
	}
	h.clock.Advance(time.Second)
	h.awaitPlay(offer, 1)
	h.key(c, "1")
	// The caller ID is a valid Dutch number: straight to the slots.
	h.awaitPlay(pressOne, 1)
	h.await("agent no longer rung", func() bool { return h.totalRinging() == 0 })
	h.key(c, "2")
	h.awaitPlay(confirmed, 1)
	// What is read back is the slot that was stored: tomorrow 09:15.
	h.listen(confirmed, "sound:digits/tomorrow", "number:9", "number:15", "sound:vm-goodbye")
	h.await("caller hung up", func() bool { return !h.alive(c.ID()) })
	b := cb.all()
	if len(b) != 1 {
		t.Fatalf("bookings = %+v, want 1", b)
	}
	if b[0].Number != "+31612345678" || b[0].Key != c.ID() || b[0].Queue != "general" ||
		b[0].Slot.Start.In(amsterdam).Format("Mon 15:04") != "Tue 09:15" {
		t.Errorf("booking = %+v", b[0])
	}
	h.eventually("outcome callback", func() bool { return h.value("callmon_calls_total", "outcome", "callback") == 1 })
	if o, a := h.value("callmon_callbacks_offered_total"), h.value("callmon_callbacks_accepted_total"); o != 1 || a != 1 {
		t.Errorf("callbacks offered/accepted = %v/%v, want 1/1", o, a)
	}
	if got := h.value("callmon_calls_abandoned_total") + h.value("callmon_calls_short_abandoned_total"); got != 0 {
		t.Errorf("a callback counted as abandoned (%v)", got)
	}
	h.eventually("record", func() bool { return len(h.recs.all()) == 1 })
	if r := h.recs.all()[0]; r.Outcome != "callback" || r.WaitMS < 60000 {
		t.Errorf("record = %+v, want outcome callback after a wait of at least 60 s", r)
	}
}

func TestCallbackOfferedAtOnceWithoutAgents(t *testing.T) {
	cb := &fakeCallbacks{}
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, callbacks: cb})
	c := h.call("0612345678")
	h.awaitPlay(offer, 1)
	h.key(c, "1")
	h.awaitPlay(pressOne, 1)
	h.key(c, "1")
	h.awaitPlay(confirmed, 1)
	h.listen(confirmed, "sound:digits/tomorrow", "number:9", "sound:digits/oclock", "sound:vm-goodbye")
	h.await("caller hung up", func() bool { return !h.alive(c.ID()) })
	if b := cb.all(); len(b) != 1 || b[0].Slot.Start.In(amsterdam).Format("15:04") != "09:00" {
		t.Errorf("bookings = %+v", b)
	}
}

func TestCallbackOfferedWhenClosed(t *testing.T) {
	cb := &fakeCallbacks{}
	h := newHarness(t, harnessOptions{agents: 1, closed: true, callbacks: cb})
	c := h.call("0612345678")
	h.listen("sound:custom/closed")
	h.awaitPlay(offer, 1)
	h.key(c, "1")
	h.awaitPlay(pressOne, 1)
	h.key(c, "1")
	h.awaitPlay(confirmed, 1)
	if len(cb.all()) != 1 {
		t.Fatal("no booking from a closed-hours call")
	}
	if got := h.value("callmon_calls_total", "outcome", "closed"); got != 1 {
		t.Errorf("closed = %v, want 1 (a closed call is never offered)", got)
	}
}

func TestCallbackWithheldCallerKeysANumber(t *testing.T) {
	cb := &fakeCallbacks{}
	h := newHarness(t, harnessOptions{agents: 1, noLogin: true, callbacks: cb})
	c, err := h.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "anonymous"})
	if err != nil {
		t.Fatal(err)
	}
	h.awaitPlay(offer, 1)
	h.key(c, "1")
	h.awaitPlay(enterNum, 1)
	h.key(c, "0201234567#")
	h.awaitPlay(pressOne, 1)
	h.key(c, "1")
	h.awaitPlay(confirmed, 1)
	if b := cb.all(); len(b) != 1 || b[0].Number != "+31201234567" {
		t.Errorf("bookings = %+v, want the keyed number in E.164", b)
	}
}

func TestCallbackInvalidNumberThreeTimesBackToQueue(t *testing.T) {
	cb := &fakeCallbacks{}
	h := newHarness(t, harnessOptions{agents: 1, callbacks: cb, ringTimeout: 5 * time.Minute,
		behaviour: aritest.Behaviour{NoAnswer: true}})
	c, err := h.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: ""})
	if err != nil {
		t.Fatal(err)
	}
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(time.Minute)
	h.awaitPlay(offer, 1)
	h.key(c, "1")
	for i, keyed := range []string{"123#", "06123#", "1612345678#"} {
		h.awaitPlay(enterNum, i+1)
		h.key(c, keyed)
		if i < 2 {
			h.awaitPlay(invalid, i+1)
			h.clock.Advance(aritest.DefaultMediaDuration)
		}
	}
	h.awaitPlay("sound:callmon/back-to-queue", 1)
	h.await("agent rung again", func() bool { return h.totalRinging() == 1 })
	if n := len(cb.all()); n != 0 {
		t.Errorf("%d bookings, want none", n)
	}
	if got := h.value("callmon_calls_waiting"); got != 1 {
		t.Errorf("waiting = %v, want 1: the caller is back in the queue", got)
	}
}

func TestHangUpAtEachPromptLeavesNoCallback(t *testing.T) {
	for _, stage := range []string{"offer", "number", "slot"} {
		t.Run(stage, func(t *testing.T) {
			cb := &fakeCallbacks{}
			h := newHarness(t, harnessOptions{agents: 1, noLogin: true, callbacks: cb})
			c, err := h.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "anonymous"})
			if err != nil {
				t.Fatal(err)
			}
			h.awaitPlay(offer, 1)
			if stage != "offer" {
				h.key(c, "1")
				h.awaitPlay(enterNum, 1)
				if stage == "slot" {
					h.key(c, "0612345678#")
					h.awaitPlay(pressOne, 1)
				} else {
					h.key(c, "0612")
				}
			}
			h.clock.Advance(time.Second)
			c.Hangup()
			h.eventually("abandon counted", func() bool { return h.finished() == 1 })
			h.eventually("record", func() bool { return len(h.recs.all()) == 1 })
			if n := len(cb.all()); n != 0 {
				t.Errorf("%d bookings after a hang-up at the %s prompt", n, stage)
			}
			if r := h.recs.all()[0]; r.Outcome == "callback" {
				t.Errorf("outcome %s", r.Outcome)
			}
		})
	}
}
