// Package aritest is a protocol-level fake Asterisk 22 for one ARI application: the REST
// interface as ari/v5's native client calls it, and the events websocket, with frames shaped
// byte for byte like those of the real Asterisk 22.10 recorded in testdata/*.jsonl (key order
// per event type, timestamps, causes, the order of events within a flow). callmon's tests,
// benchmarks and `callmon demo` run against it. It imports nothing of callmon.
//
// The fake owns the telephony side: callers (Call; what they say: Caller.Speak), agents' phones
// (AddEndpoint with a Behaviour, or AddLabEndpoints for the lab's [agents]), channels, bridges,
// playbacks, live and stored recordings, mailboxes and the app's subscriptions. Time comes from an injectable Clock; with a ManualClock a 30-second ring
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
// RecordTruth writes the fake's ground truth of every caller (truth.go): entry, answer, who
// hung up, as Asterisk's CEL would, for comparing with what an app recorded.
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
//   - Not emulated (501): channels/create, externalMedia, originating into the dialplan or to
//     another application, bridge recordings, pausing and muting live recordings.
//   - The 201 of a play or record request says "queued" or already "playing"/"recording" in
//     Asterisk, depending on a race between two of its threads; the fake says the started
//     state when it sends the events before the response (Options.Order), "queued" otherwise.
//   - Callers always send audio (a frame every 20 ms: speech during Caller.Speak, silence
//     otherwise), like a phone; the lab's Local callers in Wait() send none.
//   - POST /continue records where the channel was sent (Server.Continued, ChannelInfo) but runs
//     no dialplan there; labels are not resolved.
//   - A HEAD request gets Asterisk's 405 with its 28-byte body, and "Connection: close" (see
//     writeHead).
//   - HTTP sessions (sessions.go) are counted as main/http.c counts them: every TCP connection,
//     REST or websocket, from accept until it closes, against Options.SessionLimit (http.conf
//     sessionlimit, default 100). One more is closed before anything is read, without an HTTP
//     response, and "HTTP session count exceeded N sessions." goes to Options.Log; Sessions()
//     counts accepted, refused, open and peak. An idle keep-alive connection is closed after
//     Options.KeepAlive (session_keep_alive, default 15 s), measured on the wall clock. A new
//     connection gets max(10 s, KeepAlive) for its request headers, where Asterisk waits that
//     long for the first byte and then session_inactivity (30 s) for the rest. No session-limit
//     scenario was recorded: the refusal and the keep-alive are read from http.c; that an
//     events websocket holds its session for its whole life is read from res_http_websocket.c
//     (the protocol handler runs on the HTTP session's thread) and assumed for ARI's handler.
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
//   - Recordings (recordings.go) follow res_stasis_recording and ast_play_and_record (main/app.c):
//     commands on a channel run one at a time in order (a recording waits for the playback
//     before it, a continue for both); the durations and the file's length come from the
//     caller's speech frame by frame (the three direct-voicemail traces to the byte); the beep
//     lasts BeepDuration; "#" ends even a recording with terminateOn=none (Asterisk's empty
//     accept list falls back to its default "#"); a hang-up during the beep leaves no file and
//     a RecordingFinished without durations; DELETE /recordings/live/{name} deletes the file but
//     reports RecordingFinished "done" (record_file sets COMPLETE after the cancel); a
//     recording stopped or discarded while still queued vanishes without an event; a bridged
//     channel cannot record (RecordingFailed "Cannot record channel while in bridge").
//   - Behaviour.DND is a SIP 603 Decline: cause 21 "Call Rejected", final Dial NOANSWER (see
//     Behaviour).
//   - Caller.EndVoiceMail plays the end of the dialplan's VoiceMail() after POST /continue:
//     VMSTATUS as a ChannelVarset (to an app subscribed to the channel), then the hang-up.
//     ASSUMED: no trace ran app_voicemail.
//   - Mailboxes (PUT/GET/DELETE /mailboxes) keep counts only; Asterisk sends the app no event.
//     Counts are parsed as res_ari_mailboxes.c does (updateMailbox): JSON strings, as ari/v5
//     sends them, are stored as 0 (recorded: mailbox-counts).
//   - RESTFaults (SetRESTFaults, faults.go) are not Asterisk's behaviour but load it could be
//     under: answers delayed on the Clock (a delayed request keeps its HTTP session after its
//     client gives up and is still carried out, as a request stuck in Asterisk's HTTP thread
//     is), 500 {"error":"Allocation failed"} and connections dropped without a response
//     (neither has an effect), drawn from a seed. Stats counts them.
package aritest
