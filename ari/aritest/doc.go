// Package aritest is a protocol-level fake Asterisk 22 for one ARI application: the REST
// interface as ari/v5's native client calls it, and the events websocket, with frames shaped
// byte for byte like those of the real Asterisk 22.10 recorded in testdata/*.jsonl (key order
// per event type, timestamps, causes, the order of events within a flow). callmon's tests,
// benchmarks and `callmon demo` run against it. It imports nothing of callmon.
//
// The fake owns the telephony side: callers (Call), agents' phones (AddEndpoint with a
// Behaviour, or AddLabEndpoints for the lab's [agents]), channels, bridges, playbacks and the
// app's subscriptions. Time comes from an injectable Clock; with a ManualClock a 30-second ring
// runs in microseconds and every timestamp is reproducible.
//
//	clock := aritest.NewManualClock(start)
//	s, _ := aritest.New(aritest.Options{User: "u", Password: "p", Clock: clock})
//	s.AddLabEndpoints()
//	// connect the app to s.WebsocketURL()+"?app=callmon", point its REST client at s.URL()
//	caller, _ := s.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}})
//	clock.Advance(3 * time.Second) // agents ring, answer, talk...
//	s.Await(ctx, func() bool { ... }) // wait for the app's reaction
//
// The conformance test (conformance_test.go) replays the app's side of each trace and checks
// that the fake says what Asterisk said. What the fake knowingly does differently:
//
//   - Where Asterisk races (the two halves of a Local pair going Up, the ;2 half's
//     ChannelDestroyed), the fake always uses one of the observed orders; and whether a REST
//     response or the events it causes come first is chosen per request (Options.Order).
//   - The MOH announcer channel is not modelled: it never shows in bridge snapshots.
//   - A Local caller's ;1 half exists (GET /channels lists it) but runs no dialplan.
//   - A call while the app is away is refused (ErrAppNotActive); the dialplan fallback it
//     would run is not modelled, so that channel does not show in GET /channels.
//   - subscribeAll is accepted and ignored: no BridgeCreated, DeviceStateChanged or events of
//     channels outside the app.
//   - Not emulated (501): recording, continue, channels/create, externalMedia, originating
//     into the dialplan or to another application. The stored-recordings list is empty.
//
// Extrapolated where the traces are silent (from Asterisk's source or the brief):
//   - An offline, unregistered or unknown PJSIP endpoint cannot be originated to: chan_pjsip
//     fails the request ("Could not create dialog ... Is endpoint registered and reachable?")
//     and ARI answers 500 {"error":"Allocation failed"}; no channel, no event. An offline or
//     unknown Local target behaves like rest-errors' Local/unknown@nowhere: 200, then both
//     halves are destroyed with cause 0.
//   - A PJSIP agent is one channel: the Local flow minus the ;2 half's events, the Q.850 cause
//     on the channel itself (busy 17, congestion 34, no answer 19), RTPAUDIOQOS* at hang-up.
//   - ApplicationReplaced is {"type","application","asterisk_id"} (app_update + app_send).
//   - A Local agent's Answer() waits 500 ms for media before its Wait(TalkFor), so it hangs up
//     TalkFor+500ms after answering, as measured in the lab; a PJSIP agent after TalkFor.
//   - A number dialled through a trunk, PJSIP/+31612345678@pstn, is a PJSIP agent whose channel
//     is named after the trunk (PJSIP/pstn-0000000N); AddEndpoint gives each number its
//     Behaviour, and a number not added cannot be dialled (500 Allocation failed). A number
//     that does not exist (Behaviour.Unallocated, a SIP 404) ends like a ring timeout, no final
//     Dial, with cause 1 "Unallocated (unassigned) number".
//   - Playbacks that end early (stopped, hung up) finish with state "done", like Asterisk.
package aritest
