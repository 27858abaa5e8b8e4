package aritest_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
)

var directCall = aritest.CallSpec{Exten: "0503161234", Args: []string{"direct", "0503161234"}, CallerName: "PSTN Caller", CallerNumber: "0612345678"}

// voicemail is the direct-voicemail flow up to the record request (made at the fixture's
// clock, t0): the caller is answered and recorded as in the traces.
func (f *fixture) voicemail(t *testing.T, record string) *aritest.Caller {
	t.Helper()
	c, err := f.s.Call(directCall)
	if err != nil {
		t.Fatal(err)
	}
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
	f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", record)
	return c
}

const vmRecord = `{"name":"m1","format":"wav","maxDurationSeconds":30,"maxSilenceSeconds":5,"beep":true,"terminateOn":"#"}`

// events returns the events of a type in the log, decoded.
func events(t *testing.T, s *aritest.Server, typ string) []map[string]json.RawMessage {
	t.Helper()
	waitFor(t, s, "events written", drained(s))
	var out []map[string]json.RawMessage
	for _, r := range s.Log() {
		if r.Kind == aritest.KindEvent && r.Type == typ {
			var ev map[string]json.RawMessage
			if err := json.Unmarshal(r.Raw, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// lastRecording is the "recording" of the last event of that type.
func lastRecording(t *testing.T, s *aritest.Server, typ string) string {
	t.Helper()
	evs := events(t, s, typ)
	if len(evs) == 0 {
		t.Fatalf("no %s in %v", typ, eventTypes(s.Log()))
	}
	return string(evs[len(evs)-1]["recording"])
}

// TestRecordingEnds: how a recording ends decides its durations and what the file keeps, as
// ast_play_and_record computes them (the caller talks 2 s from 0.2 s after the record request;
// the beep lasts 0.45 s, so 1.75 s of speech reach the file: 87 frames).
func TestRecordingEnds(t *testing.T) {
	const finished = `{"name":"m1","format":"wav","state":"done","target_uri":"channel:%s"%s}`
	for _, tc := range []struct {
		name   string
		record string
		script func(f *fixture, c *aritest.Caller)
		fields string // after target_uri
		frames int    // in the file; -1: no file
	}{
		{"hang-up keeps everything", vmRecord, func(f *fixture, c *aritest.Caller) {
			c.SpeakAfter(200*time.Millisecond, 2*time.Second)
			c.HangupAfter(6 * time.Second)
			f.clock.Advance(6 * time.Second)
		}, `,"duration":2,"talking_duration":2,"silence_duration":0`, 277},
		{"# trims the trailing silence", vmRecord, func(f *fixture, c *aritest.Caller) {
			c.SpeakAfter(200*time.Millisecond, 2*time.Second)
			f.clock.Advance(4 * time.Second)
			c.SendDTMF("#")
		}, `,"duration":2,"talking_duration":2,"silence_duration":0`, 97},
		{"silence ends it after 5 s", vmRecord, func(f *fixture, c *aritest.Caller) {
			c.SpeakAfter(200*time.Millisecond, 2*time.Second)
			f.clock.Advance(7209 * time.Millisecond)
			if _, recording := c.Recording(); !recording {
				t.Errorf("recording ended before 5 s of silence")
			}
			f.clock.Advance(time.Millisecond)
		}, `,"duration":2,"talking_duration":2,"silence_duration":0`, 97},
		{"a silent caller", vmRecord, func(f *fixture, c *aritest.Caller) {
			f.clock.Advance(5470 * time.Millisecond) // beep + 5.02 s
		}, `,"duration":1,"talking_duration":1,"silence_duration":0`, 10},
		{"maximum duration", `{"name":"m1","format":"wav","maxDurationSeconds":3,"maxSilenceSeconds":5,"beep":true}`, func(f *fixture, c *aritest.Caller) {
			c.Speak(10 * time.Second)
			f.clock.Advance(3449 * time.Millisecond)
			if _, recording := c.Recording(); !recording {
				t.Errorf("recording ended before its maximum duration")
			}
			f.clock.Advance(time.Millisecond)
		}, `,"duration":3,"talking_duration":3,"silence_duration":0`, 150},
		{"talk and silence", `{"name":"m1","format":"wav","maxSilenceSeconds":3}`, func(f *fixture, c *aritest.Caller) {
			c.Speak(2 * time.Second)
			f.clock.Advance(4 * time.Second) // 2 s of silence
			c.Speak(time.Second)
			f.clock.Advance(3 * time.Second) // 2 s of silence
			c.Hangup()
			// 7 s of audio, 2 s of trailing and 4 s of silence in all: Asterisk's arithmetic
			// (7 - 1.8/1 and 7 - 3.8/1 in integer seconds) says 6 and 4.
		}, `,"duration":6,"talking_duration":4,"silence_duration":2`, 350},
		{"without maxSilenceSeconds no talking_duration", `{"name":"m1","format":"wav","beep":true}`, func(f *fixture, c *aritest.Caller) {
			c.Speak(time.Second)
			f.clock.Advance(4 * time.Second)
			c.Hangup()
		}, `,"duration":3`, 177},
		{"hang-up during the beep", vmRecord, func(f *fixture, c *aritest.Caller) {
			f.clock.Advance(300 * time.Millisecond)
			c.Hangup()
		}, ``, -1},
		{"stop keeps the trailing silence", vmRecord, func(f *fixture, c *aritest.Caller) {
			c.SpeakAfter(200*time.Millisecond, 2*time.Second)
			f.clock.Advance(4 * time.Second)
			f.rest(t, 204, "POST", "/recordings/live/m1/stop", "")
		}, `,"duration":2,"talking_duration":2,"silence_duration":0`, 177},
		{"discard deletes the file", vmRecord, func(f *fixture, c *aritest.Caller) {
			c.SpeakAfter(200*time.Millisecond, 2*time.Second)
			f.clock.Advance(4 * time.Second)
			f.rest(t, 204, "DELETE", "/recordings/live/m1", "")
		}, `,"duration":2,"talking_duration":2,"silence_duration":0`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, aritest.Options{Order: aritest.OrderResponseFirst})
			c := f.voicemail(t, tc.record)
			f.rest(t, 200, "GET", "/recordings/live/m1", "")
			tc.script(f, c)
			if got, want := lastRecording(t, f.s, "RecordingFinished"), fmt.Sprintf(finished, c.ID(), tc.fields); got != want {
				t.Errorf("RecordingFinished\n got %s\nwant %s", got, want)
			}
			f.rest(t, 404, "GET", "/recordings/live/m1", "")
			if tc.frames < 0 {
				f.rest(t, 404, "GET", "/recordings/stored/m1/file", "")
				if got := f.s.StoredRecordings(); len(got) != 0 {
					t.Errorf("stored %+v, want none", got)
				}
				return
			}
			wav := f.rest(t, 200, "GET", "/recordings/stored/m1/file", "")
			if len(wav) != 44+320*tc.frames {
				t.Errorf("file of %d bytes, want %d frames (%d bytes)", len(wav), tc.frames, 44+320*tc.frames)
			}
			if got := f.s.StoredRecordings(); len(got) != 1 || got[0].Size != len(wav) || got[0].Length != time.Duration(tc.frames)*20*time.Millisecond {
				t.Errorf("StoredRecordings() = %+v", got)
			}
		})
	}
}

// TestRecordingFileIsWAV: a RIFF header for 16-bit 8 kHz mono PCM, silence where the caller was
// silent, sound where they spoke.
func TestRecordingFileIsWAV(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c := f.voicemail(t, `{"name":"m1","format":"wav","maxSilenceSeconds":5}`)
	f.clock.Advance(time.Second)
	c.Speak(time.Second)
	f.clock.Advance(2 * time.Second)
	c.Hangup()
	status, wav := restCall(t, f.s, "GET", "/recordings/stored/m1/file", nil)
	if status != 200 || len(wav) != 44+3*16000 {
		t.Fatalf("GET file: %d, %d bytes", status, len(wav))
	}
	le := binary.LittleEndian
	if string(wav[:4]) != "RIFF" || le.Uint32(wav[4:]) != uint32(len(wav)-8) || string(wav[8:16]) != "WAVEfmt " ||
		le.Uint16(wav[20:]) != 1 || le.Uint16(wav[22:]) != 1 || le.Uint32(wav[24:]) != 8000 || le.Uint16(wav[34:]) != 16 ||
		string(wav[36:40]) != "data" || le.Uint32(wav[40:]) != uint32(len(wav)-44) {
		t.Fatalf("header % x", wav[:44])
	}
	loud := func(from, to time.Duration) bool {
		for i := 44 + int(from/time.Millisecond)*16; i < 44+int(to/time.Millisecond)*16; i += 2 {
			if le.Uint16(wav[i:]) != 0 {
				return true
			}
		}
		return false
	}
	if loud(0, time.Second) || !loud(time.Second, 2*time.Second) || loud(2*time.Second, 3*time.Second) {
		t.Fatalf("the speech is not where the caller spoke")
	}
	req, _ := http.NewRequest("GET", f.s.URL()+"/recordings/stored/m1/file", nil)
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "audio/wav" || resp.ContentLength != int64(len(wav)) {
		t.Fatalf("Content-Type %q, Content-Length %d", resp.Header.Get("Content-Type"), resp.ContentLength)
	}
	for _, r := range f.s.Log() {
		if r.Kind == aritest.KindREST && strings.HasSuffix(r.Path, "/file") && (r.Response != nil || r.ContentType != "audio/wav" || r.Length != len(wav)) {
			t.Fatalf("log keeps %d bytes of audio, type %q, length %d", len(r.Response), r.ContentType, r.Length)
		}
	}
}

// TestCreatedState: the 201 of play and record says the started state exactly when the fake
// sent the started event before the response, and a recording waits for the playback before it.
func TestCreatedState(t *testing.T) {
	for _, tc := range []struct {
		order                   aritest.Order
		playState, recordState  string
		startedBeforeTheirReply bool
	}{
		{aritest.OrderEventsFirst, "playing", "queued", true},
		{aritest.OrderResponseFirst, "queued", "queued", false},
	} {
		f := newFixture(t, aritest.Options{Order: tc.order})
		c := f.call(t)
		var pb, rec struct{ State string }
		json.Unmarshal(f.rest(t, 201, "POST", "/channels/"+c.ID()+"/play/p1", `{"media":"sound:beep"}`), &pb)
		json.Unmarshal(f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", `{"name":"r1","format":"wav"}`), &rec)
		if pb.State != tc.playState || rec.State != tc.recordState {
			t.Errorf("order %d: play %q, record %q; want %q, %q", tc.order, pb.State, rec.State, tc.playState, tc.recordState)
		}
		f.clock.Advance(aritest.DefaultMediaDuration) // the playback ends, the recording starts
		json.Unmarshal(f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", `{"name":"r2","format":"wav"}`), &rec)
		if rec.State != "queued" {
			t.Errorf("order %d: a recording behind another says %q", tc.order, rec.State)
		}
		f.rest(t, 204, "POST", "/recordings/live/r1/stop", "")
		waitFor(t, f.s, "events written", drained(f.s))
		want := []string{"StasisStart", "PlaybackStarted", "PlaybackFinished", "ChannelStateChange", "RecordingStarted", "RecordingFinished", "RecordingStarted"}
		if got := eventTypes(f.s.Log()); !slices.Equal(got, want) {
			t.Errorf("order %d: events %v, want %v (the recording answers the channel and waits for the playback)", tc.order, got, want)
		}
		// The started event of a request that started its media sits before or after its reply.
		log := f.s.Log()
		for i, r := range log {
			if r.Kind != aritest.KindREST || r.Status != 201 || strings.Contains(string(r.Response), `"r2"`) {
				continue
			}
			before := slices.ContainsFunc(log[:i], func(e aritest.Record) bool { return e.Kind == aritest.KindEvent && e.Request == r.Seq })
			if strings.Contains(r.Path, "/play/") && before != tc.startedBeforeTheirReply {
				t.Errorf("order %d: PlaybackStarted before its 201: %v", tc.order, before)
			}
		}
	}
}

func TestRecordingErrors(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c := f.call(t)
	rec := "/channels/" + c.ID() + "/record"
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"Local/agent-noanswer@agents","app":"callmon","channelId":"a1"}`)
	for _, tc := range []struct {
		path, body string
		status     int
		message    string
	}{
		{rec, `{"name":"x","format":"wav","maxDurationSeconds":-1}`, 400, "max_duration_seconds cannot be negative"},
		{rec, `{"name":"x","format":"wav","maxSilenceSeconds":-1}`, 400, "max_silence_seconds cannot be negative"},
		{"/channels/nobody/record", `{"name":"x","format":"wav"}`, 404, "Channel not found"},
		{"/channels/a1/record", `{"name":"x","format":"wav"}`, 409, "Channel not in Stasis application"},
		{rec, `{"name":"x","format":"wav","terminateOn":"5"}`, 400, "terminateOn invalid"},
		{rec, `{"name":"x","format":"wav","ifExists":"keep"}`, 400, "ifExists invalid"},
		{rec, `{"name":"x","format":"mp3"}`, 422, "specified format is unknown on this system"},
		{rec, `{"name":"x"}`, 422, "specified format is unknown on this system"},
		{rec, `{"format":"wav"}`, 500, "Error parsing request"},
		{"/recordings/live/nothing/stop", ``, 404, "Recording not found"},
		{"/recordings/stored/nothing", ``, 404, "Recording not found"},
		{"/bridges/b1/record", `{"name":"x","format":"wav"}`, 501, "not emulated by aritest"},
	} {
		method := "POST"
		if strings.HasPrefix(tc.path, "/recordings/stored") {
			method = "GET"
		}
		resp := f.rest(t, tc.status, method, tc.path, tc.body)
		if want := `{"message":"` + tc.message + `"}`; string(resp) != want {
			t.Errorf("%s %s: %s, want %s", tc.path, tc.body, resp, want)
		}
	}
	// A name in use: live, or stored with ifExists=fail.
	f.rest(t, 201, "POST", rec, `{"name":"x","format":"wav"}`)
	if resp := f.rest(t, 409, "POST", rec, `{"name":"x","format":"wav","ifExists":"overwrite"}`); string(resp) != `{"message":"Recording 'x' already exists and can not be overwritten"}` {
		t.Errorf("live name twice: %s", resp)
	}
	f.s.AddStoredRecording("old", "wav", time.Second)
	f.rest(t, 409, "POST", rec, `{"name":"old","format":"wav"}`)
	if got := lastRecording(t, f.s, "RecordingStarted"); !strings.Contains(got, `"x"`) {
		t.Errorf("RecordingStarted %s", got)
	}
}

func TestRecordingFailed(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c := f.call(t)
	c.FailRecording("")
	f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", `{"name":"f1","format":"wav"}`)
	want := `{"name":"f1","format":"wav","state":"failed","target_uri":"channel:` + c.ID() + `","cause":"Failed to answer channel"}`
	if got := lastRecording(t, f.s, "RecordingFailed"); got != want {
		t.Errorf("RecordingFailed %s, want %s", got, want)
	}
	f.rest(t, 404, "GET", "/recordings/live/f1", "")
	f.rest(t, 404, "GET", "/recordings/stored/f1", "")
	if info, _ := f.s.Channel(c.ID()); info.State != "Ring" {
		t.Errorf("a failed recording answered the channel: %+v", info)
	}

	// Only the next one fails; a bridged channel cannot record.
	f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", `{"name":"f2","format":"wav"}`)
	f.rest(t, 204, "POST", "/recordings/live/f2/stop", "")
	f.rest(t, 200, "POST", "/bridges/h1", `{"type":"holding"}`)
	f.rest(t, 204, "POST", "/bridges/h1/addChannel", `{"channel":"`+c.ID()+`"}`)
	f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", `{"name":"f3","format":"wav"}`)
	if got := lastRecording(t, f.s, "RecordingFailed"); !strings.Contains(got, `"f3"`) || !strings.Contains(got, `"cause":"Cannot record channel while in bridge"`) {
		t.Errorf("RecordingFailed %s", got)
	}
	waitFor(t, f.s, "events written", drained(f.s))
	want2 := []string{"StasisStart", "RecordingFailed", "ChannelStateChange", "RecordingStarted", "RecordingFinished", "ChannelEnteredBridge", "RecordingFailed"}
	if got := eventTypes(f.s.Log()); !slices.Equal(got, want2) {
		t.Errorf("events %v, want %v", got, want2)
	}
}

// TestTerminateOn: the digits that end a recording, and none during the beep.
func TestTerminateOn(t *testing.T) {
	for _, tc := range []struct {
		terminateOn, digits string
		beep                bool
		ends                bool
	}{
		{"#", "#", false, true},
		{"#", "*1", false, false},
		{"*", "#", false, false},
		{"*", "*", false, true},
		{"none", "#", false, true}, // Asterisk's default accept list
		{"none", "*", false, false},
		{"any", "5", false, true},
		{"any", "A", false, false}, // "#*0123456789abcd"
		{"#", "#", true, false},    // during the beep
	} {
		f := newFixture(t, aritest.Options{})
		c := f.voicemail(t, fmt.Sprintf(`{"name":"t","format":"wav","terminateOn":%q,"beep":%v}`, tc.terminateOn, tc.beep))
		f.clock.Advance(100 * time.Millisecond)
		c.SendDTMF(tc.digits)
		if _, recording := c.Recording(); recording == tc.ends {
			t.Errorf("terminateOn %q, digits %q, beep %v: ended %v, want %v", tc.terminateOn, tc.digits, tc.beep, !recording, tc.ends)
		}
	}
}

// TestIfExists: overwrite replaces a stored recording (after the beep), append adds to it.
func TestIfExists(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderResponseFirst})
	f.s.AddStoredRecording("r", "wav", 2*time.Second)
	c := f.voicemail(t, `{"name":"r","format":"wav","ifExists":"overwrite","beep":true}`)
	if got := f.s.StoredRecordings(); len(got) != 1 || got[0].Length != 2*time.Second {
		t.Fatalf("during the beep: %+v, want the old file", got)
	}
	f.clock.Advance(BeepThenSeconds(1))
	if got := f.s.StoredRecordings(); len(got) != 1 || got[0].Length != time.Second {
		t.Fatalf("after a second of recording: %+v", got)
	}
	f.rest(t, 204, "POST", "/recordings/live/r/stop", "")
	f.rest(t, 201, "POST", "/channels/"+c.ID()+"/record", `{"name":"r","format":"wav","ifExists":"append"}`)
	c.Speak(time.Second)
	f.clock.Advance(2 * time.Second)
	f.rest(t, 204, "POST", "/recordings/live/r/stop", "")
	if got := f.s.StoredRecordings(); len(got) != 1 || got[0].Length != 3*time.Second || got[0].Talking != time.Second {
		t.Fatalf("after appending 2 s: %+v", got)
	}
	if got := lastRecording(t, f.s, "RecordingFinished"); !strings.Contains(got, `"duration":3`) {
		t.Errorf("appended recording %s, want the whole file's duration", got)
	}
}

// BeepThenSeconds is the beep and n seconds of recording.
func BeepThenSeconds(n int) time.Duration { return aritest.BeepDuration + time.Duration(n)*time.Second }

func TestStoredRecordings(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	f.s.AddStoredRecording("vm-b", "wav", time.Second)
	f.s.AddStoredRecording("vm-a", "gsm", 2*time.Second)
	if got := string(f.rest(t, 200, "GET", "/recordings/stored", "")); got != `[{"name":"vm-a","format":"gsm"},{"name":"vm-b","format":"wav"}]` {
		t.Errorf("list %s", got)
	}
	if got := string(f.rest(t, 200, "GET", "/recordings/stored/vm-a", "")); got != `{"name":"vm-a","format":"gsm"}` {
		t.Errorf("get %s", got)
	}
	if got := f.rest(t, 200, "GET", "/recordings/stored/vm-a/file", ""); len(got) != 100*33 {
		t.Errorf("2 s of gsm: %d bytes", len(got))
	}
	if got := string(f.rest(t, 200, "POST", "/recordings/stored/vm-b/copy?destinationRecordingName=vm-c", "")); got != `{"name":"vm-c","format":"wav"}` {
		t.Errorf("copy %s", got)
	}
	f.rest(t, 409, "POST", "/recordings/stored/vm-b/copy", `{"destinationRecordingName":"vm-a"}`)
	f.rest(t, 204, "DELETE", "/recordings/stored/vm-b", "")
	f.rest(t, 404, "DELETE", "/recordings/stored/vm-b", "")
	f.rest(t, 404, "GET", "/recordings/stored/vm-b/file", "")
	if got := f.s.StoredRecordings(); len(got) != 2 || got[1].Name != "vm-c" || got[1].Size != 44+50*320 {
		t.Errorf("StoredRecordings() = %+v", got)
	}

	// HEAD: Go's client sees the 405 without a body...
	if status, body := restCall(t, f.s, "HEAD", "/recordings/stored/vm-a/file", nil); status != 405 || len(body) != 0 {
		t.Errorf("HEAD: %d %q", status, body)
	}
	// ...which Asterisk sends all the same.
	u, _ := url.Parse(f.s.URL())
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	auth := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPass))
	fmt.Fprintf(conn, "HEAD /ari/recordings/stored/vm-a/file HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n\r\n", u.Host, auth)
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	head += "\r\n"
	if !strings.HasPrefix(head, "HTTP/1.1 405 Method Not Allowed\r\n") || !strings.Contains(head, "\r\nContent-Length: 28\r\n") ||
		!strings.Contains(head, "\r\nContent-Type: application/json\r\n") || body != `{"message":"Invalid method"}` {
		t.Errorf("raw HEAD response:\n%s", raw)
	}
	// The connection after a HEAD still serves the next request on a fresh one.
	resp, err := http.DefaultClient.Do(mustRequest(t, "GET", f.s.URL()+"/recordings/stored"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after HEAD: %d", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	return req
}

func TestMailboxes(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	if _, _, ok := f.s.Mailbox("1001@default"); ok {
		t.Fatal("a mailbox before any PUT")
	}
	f.rest(t, 204, "PUT", "/mailboxes/1001@default?oldMessages=1&newMessages=2", "")
	f.rest(t, 204, "PUT", "/mailboxes/0503161234", `{"oldMessages":0,"newMessages":1}`)
	if old, n, ok := f.s.Mailbox("1001@default"); !ok || old != 1 || n != 2 {
		t.Errorf("Mailbox = %d, %d, %v", old, n, ok)
	}
	if got := string(f.rest(t, 200, "GET", "/mailboxes", "")); got != `[{"name":"0503161234","old_messages":0,"new_messages":1},{"name":"1001@default","old_messages":1,"new_messages":2}]` {
		t.Errorf("list %s", got)
	}
	if got := string(f.rest(t, 200, "GET", "/mailboxes/0503161234", "")); got != `{"name":"0503161234","old_messages":0,"new_messages":1}` {
		t.Errorf("get %s", got)
	}
	f.rest(t, 204, "PUT", "/mailboxes/0503161234?oldMessages=1&newMessages=0", "")
	if old, n, _ := f.s.Mailbox("0503161234"); old != 1 || n != 0 {
		t.Errorf("after the update: %d, %d", old, n)
	}
	f.rest(t, 204, "DELETE", "/mailboxes/0503161234", "")
	if got := string(f.rest(t, 404, "DELETE", "/mailboxes/0503161234", "")); got != `{"message":"Mailbox does not exist"}` {
		t.Errorf("delete twice: %s", got)
	}
	if got := string(f.rest(t, 404, "GET", "/mailboxes/0503161234", "")); got != `{"message":"Mailbox is does not exist"}` {
		t.Errorf("get deleted: %s", got)
	}
	if _, _, ok := f.s.Mailbox("0503161234"); ok {
		t.Error("a deleted mailbox is still there")
	}
	waitFor(t, f.s, "events written", drained(f.s))
	if got := eventTypes(f.s.Log()); len(got) != 0 {
		t.Errorf("mailboxes sent events %v", got)
	}
}

func TestRing(t *testing.T) {
	f := newFixture(t, aritest.Options{})
	c, _ := f.s.Call(directCall)
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/ring", "")
	if info, _ := f.s.Channel(c.ID()); !info.Ringing || info.State != "Ring" {
		t.Errorf("after POST ring: %+v", info)
	}
	f.rest(t, 204, "DELETE", "/channels/"+c.ID()+"/ring", "")
	if info, _ := f.s.Channel(c.ID()); info.Ringing {
		t.Errorf("after DELETE ring: %+v", info)
	}
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/ring", "")
	f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
	if info, _ := f.s.Channel(c.ID()); info.Ringing {
		t.Errorf("after answer: %+v", info)
	}
	f.rest(t, 404, "POST", "/channels/nobody/ring", "")
	if got := eventTypes(f.s.Log()); !slices.Equal(got, []string{"StasisStart", "ChannelStateChange"}) {
		t.Errorf("events %v", got)
	}
}

func TestContinue(t *testing.T) {
	for _, tc := range []struct {
		body                 string
		context, exten       string
		priority             int
		label                string
		status               int
		bridged, playing     bool
		wantTypesAfterAnswer []string
	}{
		{body: `{"context":"vm-direct","extension":"0503161234","priority":1}`, context: "vm-direct", exten: "0503161234", priority: 1},
		{body: `{"context":"","extension":"","priority":0}`, context: "from-pstn", exten: "0503161234", priority: 3}, // ari/v5's empty request: the next priority
		{body: `{"context":"vm"}`, context: "vm", exten: "s", priority: 1},
		{body: `{"extension":"9"}`, context: "from-pstn", exten: "9", priority: 1},
		{body: `{"context":"vm","label":"5"}`, context: "vm", exten: "s", priority: 5},
		{body: `{"context":"vm","label":"record"}`, context: "vm", exten: "s", label: "record"},
		{body: `{"context":"vm","label":"0"}`, status: 400},
		{body: `{"context":"vm","extension":"s"}`, context: "vm", exten: "s", priority: 1, bridged: true,
			wantTypesAfterAnswer: []string{"ChannelEnteredBridge", "ChannelLeftBridge", "StasisEnd"}},
		{body: `{"context":"vm","extension":"s"}`, context: "vm", exten: "s", priority: 1, playing: true,
			wantTypesAfterAnswer: []string{"PlaybackStarted", "PlaybackFinished", "StasisEnd"}},
	} {
		f := newFixture(t, aritest.Options{})
		c, _ := f.s.Call(directCall)
		f.rest(t, 204, "POST", "/channels/"+c.ID()+"/answer", "")
		if tc.bridged {
			f.rest(t, 200, "POST", "/bridges/h1", `{"type":"holding"}`)
			f.rest(t, 204, "POST", "/bridges/h1/addChannel", `{"channel":"`+c.ID()+`"}`)
		}
		if tc.playing {
			f.rest(t, 201, "POST", "/channels/"+c.ID()+"/play/p1", `{"media":"sound:vm-nobodyavail"}`)
		}
		status := tc.status
		if status == 0 {
			status = 204
		}
		f.rest(t, status, "POST", "/channels/"+c.ID()+"/continue", tc.body)
		if status != 204 {
			if _, _, ok := f.s.Continued(c.ID()); ok {
				t.Errorf("%s: continued after a %d", tc.body, status)
			}
			continue
		}
		if tc.playing {
			if info, _ := f.s.Channel(c.ID()); !info.InStasis {
				t.Errorf("%s: left Stasis before the playback ended", tc.body)
			}
			f.clock.Advance(aritest.DefaultMediaDuration)
		}
		ctx, exten, ok := f.s.Continued(c.ID())
		info, _ := f.s.Channel(c.ID())
		if !ok || ctx != tc.context || exten != tc.exten || info.Priority != tc.priority || info.Label != tc.label || info.InStasis || !info.Alive || !info.Continued {
			t.Errorf("%s: Continued = %q %q %v, info %+v", tc.body, ctx, exten, ok, info)
		}
		f.rest(t, 409, "POST", "/channels/"+c.ID()+"/answer", "") // out of Stasis
		waitFor(t, f.s, "events written", drained(f.s))
		want := append([]string{"StasisStart", "ChannelStateChange"}, tc.wantTypesAfterAnswer...)
		if tc.wantTypesAfterAnswer == nil {
			want = append(want, "StasisEnd")
		}
		if got := eventTypes(f.s.Log()); !slices.Equal(got, want) {
			t.Errorf("%s: events %v, want %v", tc.body, got, want)
		}
		c.Hangup() // nothing more for the app: Stasis is over and it never subscribed
		waitFor(t, f.s, "events written", drained(f.s))
		if got := eventTypes(f.s.Log()); len(got) != len(want) {
			t.Errorf("%s: the hang-up of a continued caller sent %v", tc.body, got[len(want):])
		}
		if _, _, ok := f.s.Continued(c.ID()); !ok {
			t.Errorf("%s: Continued forgets a hung-up channel", tc.body)
		}
	}
	f := newFixture(t, aritest.Options{})
	f.rest(t, 404, "POST", "/channels/nobody/continue", "")
}

// TestDND: a phone on do-not-disturb rejects the call at once: cause 21, Dial NOANSWER.
func TestDND(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderResponseFirst})
	f.s.AddEndpoint("PJSIP/1001", "online", aritest.Behaviour{DND: true})
	f.s.AddEndpoint("Local/agent-dnd@agents", "online", aritest.Behaviour{DND: true})
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"PJSIP/1001","timeout":20,"app":"callmon","appArgs":"agent","channelId":"e1"}`)
	f.rest(t, 200, "POST", "/channels", `{"endpoint":"Local/agent-dnd@agents","timeout":20,"app":"callmon","appArgs":"agent","channelId":"e2"}`)
	waitFor(t, f.s, "events written", drained(f.s))
	type ev struct {
		Type       string
		Cause      int
		CauseTxt   string `json:"cause_txt"`
		Soft       bool
		Dialstatus string
		Channel    struct{ ID string }
		Peer       struct{ ID string }
	}
	var got []string
	for _, r := range f.s.Log() {
		if r.Kind != aritest.KindEvent {
			continue
		}
		var e ev
		json.Unmarshal(r.Raw, &e)
		id := e.Channel.ID + e.Peer.ID
		switch e.Type {
		case "ChannelHangupRequest":
			got = append(got, fmt.Sprintf("%s %s %d soft=%v", e.Type, id, e.Cause, e.Soft))
		case "ChannelDestroyed":
			got = append(got, fmt.Sprintf("%s %s %d %s", e.Type, id, e.Cause, e.CauseTxt))
		case "Dial":
			got = append(got, fmt.Sprintf("%s %s %q", e.Type, id, e.Dialstatus))
		case "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine":
		default:
			got = append(got, e.Type+" "+id)
		}
	}
	want := []string{
		`Dial e1 ""`, "ChannelHangupRequest e1 21 soft=false", `Dial e1 "NOANSWER"`, "ChannelDestroyed e1 21 Call Rejected",
		`Dial e2 ""`, "ChannelHangupRequest e2;2 21 soft=true", "ChannelHangupRequest e2 21 soft=false", `Dial e2 "NOANSWER"`,
		"ChannelDestroyed e2;2 21 Call Rejected", "ChannelDestroyed e2 21 Call Rejected",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	f.clock.Advance(30 * time.Second) // no timeout left over
	waitFor(t, f.s, "events written", drained(f.s))
	if n := len(events(t, f.s, "ChannelDestroyed")); n != 3 {
		t.Errorf("%d ChannelDestroyed, want 3", n)
	}
}

// TestNativeVoicemail drives the voicemail resources with ari/v5's native client, as callmon
// does: every request accepted, every answer and event decoded.
func TestNativeVoicemail(t *testing.T) {
	f := newFixture(t, aritest.Options{Order: aritest.OrderResponseFirst})
	cl := native.New(&native.Options{Application: "callmon", URL: f.s.URL(), Username: testUser, Password: testPass})
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	c, err := f.s.Call(directCall)
	must("call", err)
	ck := ari.NewKey(ari.ChannelKey, c.ID())
	must("ring", cl.Channel().Ring(ck))
	must("stop ring", cl.Channel().StopRing(ck))
	must("answer", cl.Channel().Answer(ck))
	rec, err := cl.Channel().Record(ck, "vm-n1", &ari.RecordingOptions{Format: "wav", MaxDuration: 180 * time.Second, MaxSilence: 5 * time.Second, Beep: true, Terminate: "#"})
	must("record", err)
	c.Speak(3 * time.Second)
	f.clock.Advance(3 * time.Second)
	d, err := rec.Data()
	must("live recording data", err)
	if d.State != "recording" || d.Name != "vm-n1" || d.TargetURI != "channel:"+c.ID() {
		t.Fatalf("live recording %+v", d)
	}
	must("stop recording", rec.Stop())
	keys, err := cl.StoredRecording().List(nil)
	must("stored recordings", err)
	if len(keys) != 1 || keys[0].ID != "vm-n1" {
		t.Fatalf("stored %v", keys)
	}
	sd, err := cl.StoredRecording().Data(keys[0])
	must("stored recording data", err)
	if sd.Format != "wav" {
		t.Fatalf("stored %+v", sd)
	}
	mk := ari.NewKey(ari.MailboxKey, "0503161234")
	// ari/v5 sends the counts as JSON strings: Asterisk answers 204 and stores 0 (trace
	// mailbox-counts), which is why callmon sets them with a query string of its own.
	must("mailbox update", cl.Mailbox().Update(mk, 0, 1))
	md, err := cl.Mailbox().Data(mk)
	must("mailbox data", err)
	if md.NewMessages != 0 || md.OldMessages != 0 {
		t.Fatalf("mailbox %+v after ari/v5's update, Asterisk stores 0/0", md)
	}
	must("continue", cl.Channel().Continue(ck, "vm-direct", "0503161234", 1))
	if ctx, exten, ok := f.s.Continued(c.ID()); !ok || ctx != "vm-direct" || exten != "0503161234" {
		t.Fatalf("Continued = %q %q %v", ctx, exten, ok)
	}
	must("delete stored", cl.StoredRecording().Delete(keys[0]))
	must("delete mailbox", cl.Mailbox().Delete(mk))

	waitFor(t, f.s, "events written", drained(f.s))
	for _, r := range f.s.Log() {
		if r.Kind != aritest.KindEvent {
			continue
		}
		ev, err := ari.DecodeEvent(r.Raw)
		if err != nil || ev == nil || ev.GetType() != r.Type {
			t.Errorf("ari.DecodeEvent(%s): %v, %v", r.Raw, ev, err)
		}
		if fin, isFinished := ev.(*ari.RecordingFinished); isFinished && (time.Duration(fin.Recording.Duration) != 2*time.Second || fin.Recording.State != "done") {
			t.Errorf("RecordingFinished %+v", fin.Recording)
		}
	}
	if got := eventTypes(f.s.Log()); !slices.Equal(got, []string{"StasisStart", "ChannelStateChange", "RecordingStarted", "RecordingFinished", "StasisEnd"}) {
		t.Errorf("events %v", got)
	}
}
