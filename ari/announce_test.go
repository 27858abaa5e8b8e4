package ari_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
	"callmon/prompts"
)

// playsTo lists the media played to one channel, in order.
func (h *harness) playsTo(ch string) []string {
	var out []string
	for _, r := range h.fake.Log() {
		if r.Kind == aritest.KindREST && r.Method == "POST" && strings.HasPrefix(r.Path, "/ari/channels/"+ch+"/play") && r.Status == 201 {
			var body struct{ Media string }
			if json.Unmarshal(r.Body, &body) == nil {
				out = append(out, body.Media)
			}
		}
	}
	return out
}

// awaitPlaysTo waits until ch has been played want, one after another, as its latest media:
// each time the next one has started, the clock moves on by its length so that it ends.
func (h *harness) awaitPlaysTo(ch string, want []string) {
	h.t.Helper()
	advanced, idle := 0, 0
	deadline := time.Now().Add(wait)
	for {
		got := h.playsTo(ch)
		k := 0 // how much of want got ends with
		for n := len(want); n > 0; n-- {
			if len(got) >= n && slices.Equal(got[len(got)-n:], want[:n]) {
				k = n
				break
			}
		}
		if k == len(want) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waiting for %q to be played to %s; played %q\nlog:\n%s", want, ch, got, h.logs)
		}
		// The medium has started; the clock moves on so that it ends. Once more if nothing
		// follows for a while: its PlaybackFinished may have been timed after that move.
		if idle++; k > advanced || (k > 0 && idle > 50) {
			advanced, idle = k, 0
			h.clock.Advance(aritest.DefaultMediaDuration)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var (
	youAre = "sound:" + prompts.YouAreNumber
	inLine = "sound:" + prompts.InLine
)

// A waiting caller hears their place at entry and every minute after; the expected wait is
// told only once the predictor has a record (20 answered calls judged), rounded up the way
// people say it, and never after an agent answers.
func TestAnnouncements(t *testing.T) {
	h := newHarness(t, harnessOptions{agents: 1, ringTimeout: 5 * time.Minute, announce: time.Minute})

	// No record yet: position only. A is being rung; B is second.
	h.fake.SetBehaviour(endpoint(1), aritest.Behaviour{NoAnswer: true})
	a := h.call("0612345671")
	h.awaitPlaysTo(a.ID(), []string{youAre, "number:1", inLine})
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	b := h.call("0612345672")
	h.awaitPlaysTo(b.ID(), []string{youAre, "number:2", inLine})
	// A minute later both hear it again; A hangs up, and B moves up.
	h.clock.Advance(time.Minute)
	h.eventually("second announcements begin", func() bool { return len(h.playsTo(a.ID())) >= 4 && len(h.playsTo(b.ID())) >= 4 })
	h.awaitPlaysTo(a.ID(), []string{youAre, "number:1", inLine})
	h.awaitPlaysTo(b.ID(), []string{youAre, "number:2", inLine})
	if na, nb := len(h.playsTo(a.ID())), len(h.playsTo(b.ID())); na != 6 || nb != 6 {
		t.Errorf("after a minute: %d and %d media played, want two announcements each", na, nb)
	}
	a.Hangup()
	h.eventually("A gone", func() bool { return h.finished() == 1 && h.app.Calls() == 1 })
	h.clock.Advance(time.Minute)
	h.awaitPlaysTo(b.ID(), []string{youAre, "number:1", inLine})
	b.Hangup()
	h.eventually("B gone", func() bool { return h.finished() == 2 })
	h.await("no phone ringing", func() bool { return h.totalRinging() == 0 })
	h.eventually("agent free", func() bool { return h.value("callmon_agents", "state", "available") == 1 })

	// 20 calls answered after 3 s and talking 2 minutes: predictions judged, occupancy 123 s.
	for i := range 20 {
		h.fake.SetBehaviour(endpoint(1), aritest.Behaviour{AnswerAfter: 3 * time.Second})
		c := h.call("0612345678")
		h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
		h.clock.Advance(3 * time.Second)
		h.eventually("answered", func() bool { return h.value("callmon_calls_answered_total") == float64(i+1) })
		h.clock.Advance(2 * time.Minute)
		c.Hangup()
		h.eventually("agent free", func() bool { return h.value("callmon_agents", "state", "available") == 1 })
		if n := slices.Index(h.playsTo(c.ID())[1:], youAre); n >= 0 {
			t.Fatalf("call %d: announced again: %q", i, h.playsTo(c.ID()))
		}
	}
	// The agent is on a call that stays: X is first in line, 123 s + 3 s expected: "about 3 minutes".
	h.fake.SetBehaviour(endpoint(1), aritest.Behaviour{AnswerAfter: 3 * time.Second})
	busy := h.call("0612345679")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(3 * time.Second)
	h.eventually("answered", func() bool { return h.value("callmon_calls_answered_total") == 21 })
	x := h.call("0612345670")
	h.awaitPlaysTo(x.ID(), []string{youAre, "number:1", inLine, "sound:" + prompts.ExpectedWait, "number:3", "sound:" + prompts.Minutes})
	busy.Hangup()
	x.Hangup()

	// Every medium played is in the Dutch set `callmon prompts generate` makes: each sound's
	// file, and the digits Asterisk's Dutch syntax plays for each number.
	dir := t.TempDir()
	if _, err := prompts.Generate(context.Background(), dir, "nl", prompts.Exec); err != nil {
		t.Fatal(err)
	}
	for _, m := range h.plays() {
		files := []string{strings.TrimPrefix(m, "sound:")}
		if n, ok := strings.CutPrefix(m, "number:"); ok {
			v, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("played %q", m)
			}
			files = prompts.NumberFiles(v)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, "nl", f+".wav")); err != nil {
				t.Errorf("played %s: no generated Dutch sound %s", m, f)
			}
		}
	}
}

// A caller whose expected wait at entry is over callback_offer_expected_wait is offered the
// callback at once, not after callback_offer_after; one with an agent free is not.
func TestCallbackOfferedOnTheExpectedWait(t *testing.T) {
	cb := &fakeCallbacks{}
	h := newHarness(t, harnessOptions{agents: 1, ringTimeout: 5 * time.Minute, callbacks: cb,
		offerAfter: 10 * time.Minute, offerWait: time.Minute,
		behaviour: aritest.Behaviour{AnswerAfter: 3 * time.Second}})
	first := h.call("0612345671")
	h.await("agent ringing", func() bool { return h.totalRinging() == 1 })
	h.clock.Advance(3 * time.Second)
	h.eventually("answered", func() bool { return h.value("callmon_calls_answered_total") == 1 })
	if n := h.countPlays(offer); n != 0 {
		t.Fatalf("offered %d times to a caller with an agent free", n)
	}
	// The agent is busy: the next caller expects the assumed 180 s occupancy, over a minute.
	second := h.call("0612345672")
	h.awaitPlaysTo(second.ID(), []string{offer})
	if got := h.value("callmon_callbacks_offered_total"); got != 1 {
		t.Errorf("callbacks offered = %v, want 1", got)
	}
	// Not taken: the caller waits on and is not offered again on the prediction; the
	// recheck every 30 s plays nothing more.
	h.clock.Advance(11 * time.Second)
	h.clock.Advance(time.Minute)
	if got := h.playsTo(second.ID()); len(got) != 1 {
		t.Errorf("played %q, want the one offer", got)
	}
	first.Hangup()
	second.Hangup()
}
