package aritest_test

import (
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
)

// TestNativeClient drives the fake with the REST client callmon uses (ari/v5's native.New):
// every request it makes must be accepted and every answer decoded, and every event must
// decode with ari.DecodeEvent.
func TestNativeClient(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	cl := native.New(&native.Options{Application: "callmon", URL: f.s.URL(), Username: testUser, Password: testPass})
	caller := f.call(t)
	ck := ari.NewKey(ari.ChannelKey, caller.ID())
	app := ari.NewKey(ari.ApplicationKey, "callmon")

	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("subscribe", cl.Application().Subscribe(app, "channel:"+caller.ID()))
	data, err := cl.Application().Data(app)
	must("application data", err)
	if len(data.ChannelIDs) != 1 || data.ChannelIDs[0] != caller.ID() {
		t.Fatalf("application channel_ids %v", data.ChannelIDs)
	}
	must("answer", cl.Channel().Answer(ck))
	must("ring", cl.Channel().Ring(ck))
	hold, err := cl.Bridge().Create(ari.NewKey(ari.BridgeKey, "n-hold"), "holding", "queue-general-n-hold")
	must("create holding bridge", err)
	must("add to holding", hold.AddChannel(caller.ID()))
	must("moh", hold.MOH("default"))
	agent, err := cl.Channel().Originate(nil, ari.OriginateRequest{
		Endpoint: "Local/agent-answer3@agents", Timeout: 15, CallerID: `"PSTN Caller" <0612345678>`,
		App: "callmon", AppArgs: "agent", ChannelID: "n-agent1",
	})
	must("originate", err)
	f.clock.Advance(3 * time.Second)
	cd, err := cl.Channel().Data(agent.Key())
	must("agent data", err)
	if cd.State != "Up" {
		t.Fatalf("agent state %q after answering", cd.State)
	}
	mix, err := cl.Bridge().Create(ari.NewKey(ari.BridgeKey, "n-mix"), "mixing", "call-n-mix")
	must("create mixing bridge", err)
	must("stop moh", hold.StopMOH())
	must("remove from holding", hold.RemoveChannel(caller.ID()))
	must("delete holding", hold.Delete())
	must("add caller", mix.AddChannel(caller.ID()))
	must("add agent", mix.AddChannel("n-agent1"))
	bd, err := mix.Data()
	must("bridge data", err)
	if bd.Technology != "simple_bridge" || len(bd.ChannelIDs) != 2 {
		t.Fatalf("bridge %+v", bd)
	}
	pb, err := cl.Channel().Play(ck, "n-pb", "sound:beep")
	must("play", err)
	must("stop playback", pb.Stop())
	eps, err := cl.Endpoint().List(nil)
	must("endpoints", err)
	if len(eps) != 0 {
		t.Fatalf("Local targets listed as endpoints: %v", eps)
	}
	info, err := cl.Asterisk().Info(nil)
	must("asterisk info", err)
	if info.SystemInfo.EntityID != "02:fc:00:00:00:01" {
		t.Fatalf("entity id %q", info.SystemInfo.EntityID)
	}
	must("hang up caller", cl.Channel().Hangup(ck, "normal"))
	must("delete mix", mix.Delete())
	if _, err := cl.Channel().Data(ck); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("data of a hung-up channel: %v, want a 404", err)
	}

	waitFor(t, f.s, "events written", drained(f.s))
	n := 0
	for _, r := range f.s.Log() {
		if r.Kind != aritest.KindEvent {
			continue
		}
		n++
		ev, err := ari.DecodeEvent(r.Raw)
		if err != nil || ev == nil || ev.GetType() != r.Type {
			t.Errorf("ari.DecodeEvent(%s): %v, %v", r.Raw, ev, err)
		}
	}
	if n < 30 {
		t.Fatalf("only %d events for a whole answered queue call", n)
	}
}
