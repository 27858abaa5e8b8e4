package aritest_test

import (
	"testing"
	"time"

	"callmon/ari/aritest"
)

// A caller placed with HangupWhenAnswered hangs up once the app bridges them with an agent
// who answered, not before (holding bridge, ringing agent); one without it stays.
func TestCallerHangsUpWhenAnswered(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderEventsFirst})
	f.s.AddEndpoint("Local/agent@agents", "online", aritest.Behaviour{AnswerAfter: time.Second})
	spec := queueCall
	spec.HangupWhenAnswered = true
	quick, err := f.s.Call(spec)
	if err != nil {
		t.Fatal(err)
	}
	stays := f.call(t)
	gone := func(c *aritest.Caller) bool {
		select {
		case <-c.Done():
			return true
		default:
			return false
		}
	}

	f.rest(t, 204, "POST", "/channels/"+quick.ID()+"/answer", "")
	f.rest(t, 200, "POST", "/bridges/hold", `{"type":"holding"}`)
	f.rest(t, 204, "POST", "/bridges/hold/addChannel", `{"channel":"`+quick.ID()+`"}`)
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"Local/agent@agents","timeout":15,"app":"callmon","appArgs":"agent","channelId":"ag"}`)
	f.rest(t, 200, "POST", "/bridges/mix", `{"type":"mixing"}`)
	f.rest(t, 204, "POST", "/bridges/mix/addChannel", `{"channel":"`+quick.ID()+`"}`)
	f.clock.Advance(0)
	if gone(quick) {
		t.Fatal("the caller hung up alone in the mixing bridge, the agent still ringing")
	}

	f.clock.Advance(time.Second)
	waitFor(t, f.s, "the agent up", func() bool { ch, ok := f.s.Channel("ag"); return ok && ch.State == "Up" })
	f.rest(t, 204, "POST", "/bridges/mix/addChannel", `{"channel":"ag"}`)
	f.clock.Advance(0)
	waitFor(t, f.s, "the answered caller gone", func() bool { return gone(quick) })
	if ch, _ := f.s.Channel(quick.ID()); ch.Alive {
		t.Fatal("Done closed but the caller's channel is alive")
	}

	f.rest(t, 204, "POST", "/channels/"+stays.ID()+"/answer", "")
	f.rest(t, 204, "POST", "/bridges/mix/addChannel", `{"channel":"`+stays.ID()+`"}`)
	f.clock.Advance(time.Second)
	if gone(stays) {
		t.Fatal("a caller without HangupWhenAnswered hung up")
	}
}
