package ari

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"

	"callmon/metrics"
)

// allTraceFrames is every event frame of the recorded traces: the copies in
// aritest/testdata and, where the repository sits beside shared/, the
// originals in shared/ari-traces, some of which were never copied.
func allTraceFrames(t *testing.T) [][]byte {
	t.Helper()
	frames := traceEvents(t)
	have := map[string]bool{}
	for _, f := range frames {
		have[string(f)] = true
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "ari-traces", "*.jsonl"))
	extra, nfiles := 0, 0
	for _, name := range files {
		if strings.HasSuffix(name, ".harness.jsonl") {
			continue
		}
		nfiles++
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			var l struct {
				Dir string          `json:"dir"`
				Raw json.RawMessage `json:"raw"`
			}
			if json.Unmarshal(line, &l) != nil || l.Dir != "event" {
				continue
			}
			if !have[string(l.Raw)] {
				have[string(l.Raw)] = true
				frames = append(frames, l.Raw)
				extra++
			}
		}
	}
	t.Logf("%d frames, %d of them only in shared/ari-traces (%d files there)", len(frames), extra, nfiles)
	return frames
}

// sameAsDecodeEvent fails unless the decoder's answer for data is
// DecodeEvent's: the same struct and timestamp, or no answer (ok false).
// It reports whether the decoder answered.
func sameAsDecodeEvent(t *testing.T, d *decoder, data []byte) bool {
	t.Helper()
	want, werr := ari.DecodeEvent(data)
	got, ts, ok := d.decode(data)
	if !ok {
		return false
	}
	if werr != nil {
		t.Fatalf("decoded a frame DecodeEvent refuses (%v):\n%s\ngot %#v", werr, data, got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("frame %s\ndecoded %#v\nDecodeEvent %#v", data, got, want)
	}
	if wts := eventTime(want); !ts.Equal(wts) || ts.IsZero() != wts.IsZero() {
		t.Fatalf("frame %s: timestamp %v, DecodeEvent's %v", data, ts, wts)
	}
	return true
}

// TestDecodeAgreesOnTraces: on every recorded frame the decoder returns what
// DecodeEvent returns, field for field, and it decodes every recorded frame
// of its types itself.
func TestDecodeAgreesOnTraces(t *testing.T) {
	var d decoder
	decoded := map[string]int{}
	for _, f := range allTraceFrames(t) {
		var head struct{ Type string }
		_ = json.Unmarshal(f, &head)
		if sameAsDecodeEvent(t, &d, f) {
			decoded[head.Type]++
		} else if fastEvents[head.Type] != nil {
			t.Errorf("recorded %s frame left to DecodeEvent: %s", head.Type, f)
		}
		// FuzzDecode's rule for what the decoder must answer holds for
		// what Asterisk really sends.
		if fastEvents[head.Type] != nil && !asteriskShaped(f) {
			t.Errorf("recorded %s frame not Asterisk-shaped by FuzzDecode's rule: %s", head.Type, f)
		}
	}
	t.Logf("decoded per type: %v", decoded)
	for _, typ := range []string{"StasisStart", "StasisEnd", "ChannelStateChange", "ChannelDestroyed", "Dial",
		"ChannelHangupRequest", "ChannelEnteredBridge", "ChannelLeftBridge", "PlaybackStarted",
		"PlaybackFinished", "RecordingStarted", "RecordingFinished", "ChannelDtmfReceived",
		"EndpointStateChange", "ChannelVarset"} {
		if decoded[typ] == 0 {
			t.Errorf("no recorded %s frame decoded", typ)
		}
	}
}

// TestDecodeCallmonTypes: every type App.dispatch acts on is decoded by the
// decoder, including the two no trace holds.
func TestDecodeCallmonTypes(t *testing.T) {
	var d decoder
	for _, f := range []string{
		`{"type":"RecordingFailed","timestamp":"2026-11-23T19:36:01.120+0000","recording":{"name":"vm-1","format":"wav",` +
			`"state":"failed","cause":"Cannot open file","target_uri":"channel:17.3","duration":0,"talking_duration":2,` +
			`"silence_duration":1},"asterisk_id":"02:fc:00:00:00:01","application":"callmon"}`,
		`{"type":"ApplicationReplaced","timestamp":"2026-11-23T19:36:01.120+0000","application":"callmon",` +
			`"asterisk_id":"02:fc:00:00:00:01"}`,
		`{"type":"StasisStart","timestamp":"2026-11-23T19:36:01.120+0000","args":[],"channel":{"id":"1","caller":{},` +
			`"channelvars":{"A":"1","B":"2","A":"3"}},"replace_channel":{"id":"0"},"application":"callmon"}`,
		`{"type":"ChannelHangupRequest","cause":-0,"soft":true,"channel":{"id":"1","creationtime":"9999-12-31T23:59:59.999-1400"}}`,
		`{"type":"Dial","dialstatus":"RINGING","peer":{"id":"2"},"caller":{"id":"1","name":"caf\u00e9 \"x\"\/\t"},` +
			`"forwarded":{"id":"3"},"forward":"PJSIP/9","dialstring":"PJSIP/9"}`,
	} {
		if !sameAsDecodeEvent(t, &d, []byte(f)) {
			t.Errorf("left to DecodeEvent: %s", f)
		}
	}
}

// quirks are frames whose meaning hangs on encoding/json's rules (case-folded
// keys, duplicates, nulls, surrogates, invalid UTF-8, number forms) or that
// are malformed; the decoder must leave each to DecodeEvent.
var quirks = []string{
	`{"type":"StasisEnd","Channel":{"id":"1"}}`,
	`{"type":"StasisEnd","channel":{"ID":"1"}}`,
	`{"type":"StasisEnd","channel":{"id":"1"},"TYPE":"StasisEnd"}`,
	`{"type":"StasisEnd","channel":{"id":"1","caller":{"NAME":"x"}}}`,
	"{\"type\":\"StasisEnd\",\"channel\":{\"\u017ftate\":\"Up\"}}",
	"{\"type\":\"ChannelDestroyed\",\"cau\u017fe\":16}",
	`{"type":"StasisEnd","channel":{"id":"1"},"channel":{"name":"x"}}`,
	`{"type":"StasisEnd","type":"StasisEnd"}`,
	`{"type":"StasisEnd","channel":{"id":"1","id":"2"}}`,
	`{"type":"StasisEnd","channel":null}`,
	`{"type":"StasisEnd","channel":{"id":null}}`,
	`{"type":"StasisEnd","timestamp":null}`,
	`{"type":"StasisEnd","channel":{"id":"\ud83d\ude00"}}`,
	`{"type":"StasisEnd","channel":{"id":"\udc00"}}`,
	"{\"type\":\"StasisEnd\",\"channel\":{\"id\":\"\xff\"}}",
	"{\"type\":\"StasisEnd\",\"channel\":{\"channelvars\":{\"\xff\":\"1\"}}}",
	`{"type":"ChannelDestroyed","cause":16.0}`,
	`{"type":"ChannelDestroyed","cause":1e1}`,
	`{"type":"ChannelDestroyed","cause":"16"}`,
	`{"type":"ChannelDestroyed","cause":99999999999999999999}`,
	`{"type":"RecordingFinished","recording":{"duration":1.5}}`,
	`{"type":"RecordingFinished","recording":{"duration":"1"}}`,
	`{"type":"RecordingFinished","recording":{"key":{"id":"x"}}}`,
	`{"type":"StasisEnd","channel":{"key":{"id":"x"}}}`,
	`{"type":"StasisEnd","timestamp":"2026-11-23 19:36:01"}`,
	`{"type":"StasisEnd","channel":{"creationtime":5}}`,
	`{"type":"StasisStart","args":[1]}`,
	`{"type":"StasisStart","args":"a"}`,
	`{"type":"ChannelHangupRequest","soft":"true"}`,
	`{"type":"StasisEnd","channel":[]}`,
	`{"type":"StasisEnd","channel":{"id":"1"},"x":1.2.3}`,
	`{"type":"StasisEnd","x":"\q"}`,
	"{\"type\":\"StasisEnd\",\"x\":\"a\x01\"}",
	`{"type":"StasisEnd"}}`,
	`{"type":"StasisEnd"`,
	`{"type":5}`,
	`{"type":""}`,
	`{"type":"ChannelTalkingStarted","channel":{"id":"1"}}`,
	`{"type":"NotAnAsteriskEvent"}`,
	`[{"type":"StasisEnd"}]`,
	`null`,
	``,
}

// foldsOnto's shortcut needs the decoder's key names in lower case.
func TestDecodeKeyNamesLowerCase(t *testing.T) {
	for _, names := range [][]string{keysStasisStart, keysChannel, keysHangupRequest, keysDestroyed,
		keysBridgeChannel, keysPlayback, keysRecording, keysDial, keysDtmf, keysEndpoint, keysVarset,
		keysDialplanEv, keysBridgeEv, keysCallerIDEv, keysDeviceEv, keysEventData, keysChannelData,
		keysCallerID, keysDialplan, keysBridge, keysPlaybackD, keysRecordingD, keysEndpointD, keysDevice} {
		for _, n := range names {
			if strings.ToLower(n) != n {
				t.Errorf("key name %q is not lower case", n)
			}
		}
	}
}

func TestDecodeLeavesQuirksToDecodeEvent(t *testing.T) {
	var d decoder
	big := `{"type":"ChannelVarset","variable":"X","value":"` + strings.Repeat("x", maxFastFrame) + `"}`
	for _, q := range append(quirks, big) {
		if sameAsDecodeEvent(t, &d, []byte(q)) {
			t.Errorf("decoded itself: %s", q)
		}
	}
}

// intakeResult is what the intake made of one frame: the event dispatched
// (nil: none), the label skipped under, and the lag counted.
type intakeResult struct {
	ev    ari.Event
	label string
	lag   time.Duration
}

type resultMetrics struct{ r *intakeResult }

func (resultMetrics) ARIConnected(bool) {}
func (resultMetrics) ARIReconnected()   {}
func (m resultMetrics) ARIEvent(_ string, lag time.Duration) {
	m.r.lag = lag
}
func (m resultMetrics) ARISkipped(label string) { m.r.label = label }

var intakeNow = time.Date(2026, 11, 23, 19, 34, 23, 0, time.UTC)

// viaIntake runs data through a fresh intake, with or without the decoder.
func viaIntake(data []byte, fast bool) intakeResult {
	var r intakeResult
	in := &intake{
		clock:    clockFunc(func() time.Time { return intakeNow }),
		log:      slog.New(slog.DiscardHandler),
		m:        resultMetrics{&r},
		logged:   map[string]bool{},
		dispatch: func(ev ari.Event) { r.ev = ev },
	}
	if fast {
		in.frame(data)
		return r
	}
	// What the intake did before the decoder: DecodeEvent for every frame.
	ev, err := ari.DecodeEvent(data)
	if err != nil {
		in.undecodable(data, err)
		return r
	}
	if ts := eventTime(ev); !ts.IsZero() {
		r.lag = intakeNow.Sub(ts)
	}
	if ev.GetType() != ari.Events.ApplicationReplaced {
		r.ev = ev
	}
	return r
}

// TestIntakeUnchangedOnQuirks: for the frames the decoder leaves alone, the
// intake dispatches, skips (under the same label) and times exactly as it
// did with DecodeEvent alone.
func TestIntakeUnchangedOnQuirks(t *testing.T) {
	for _, q := range quirks {
		got, want := viaIntake([]byte(q), true), viaIntake([]byte(q), false)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("frame %s: intake %+v, with DecodeEvent alone %+v", q, got, want)
		}
	}
}

// FuzzDecode compares the decoder with DecodeEvent on any frame, seeded
// with every recorded frame and the quirks. Where the decoder answers, it
// is DecodeEvent's answer field for field; where it does not, the intake
// falls back to DecodeEvent, so the intake's result (event, skip label,
// lag) is always what DecodeEvent alone gives. Frames as Asterisk sends
// them (exact-case, unique keys) of the decoder's types must be answered by
// the decoder itself.
func FuzzDecode(f *testing.F) {
	seen := map[string]bool{}
	for _, fr := range traceEvents(f) {
		if !seen[string(fr)] {
			seen[string(fr)] = true
			f.Add(fr)
		}
	}
	for _, q := range quirks {
		f.Add([]byte(q))
	}
	var d decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		answered := sameAsDecodeEvent(t, &d, data)
		if got, want := viaIntake(data, true), viaIntake(data, false); !reflect.DeepEqual(got, want) {
			t.Fatalf("frame %q: intake %+v, with DecodeEvent alone %+v", data, got, want)
		}
		if !answered && asteriskShaped(data) {
			t.Fatalf("frame as Asterisk sends it left to DecodeEvent: %s", data)
		}
	})
}

// asteriskShaped reports a frame of one of the decoder's types that
// DecodeEvent decodes, written as Asterisk writes JSON: keys lower-case
// ASCII and unique in each object, no nulls, no "key" members (ari/v5's
// cluster keys, which Asterisk never sends), valid UTF-8 without escaped
// surrogates, shallow.
func asteriskShaped(data []byte) bool {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &head) != nil || fastEvents[head.Type] == nil {
		return false
	}
	if _, err := ari.DecodeEvent(data); err != nil || !utf8.Valid(data) || escapedSurrogate(data) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type level struct {
		object bool
		keys   map[string]bool
		key    bool // the next token in this object is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return len(stack) == 0
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if tok == json.Delim('}') || tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object && top.key {
			k := tok.(string)
			if top.keys[k] || k == "key" || strings.ToLower(k) != k {
				return false
			}
			for _, c := range []byte(k) {
				if c >= utf8.RuneSelf {
					return false
				}
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // after this value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &level{})
		case nil:
			return false
		}
		if len(stack) > 100 {
			return false
		}
	}
}

// TestIntakeFrameAllocs guards the hot path, frame to dispatch, for the
// commonest recorded frames: a change that allocates more per frame fails
// here on any machine, however noisy. The ceilings are a little above what
// the decoder measured (go test -run TestIntakeFrameAllocs -v logs it).
func TestIntakeFrameAllocs(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	clock := clockFunc(func() time.Time { return intakeNow })
	m, err := metrics.New(prometheus.NewRegistry(), clock, loc, []metrics.Queue{{Name: "general"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	dispatched := 0
	in := &intake{
		clock:    clock,
		log:      slog.New(slog.DiscardHandler),
		m:        m,
		logged:   map[string]bool{},
		dispatch: func(ari.Event) { dispatched++ },
	}
	frames := map[string][]byte{}
	for _, f := range traceEvents(t) {
		var head struct{ Type string }
		if json.Unmarshal(f, &head) == nil && frames[head.Type] == nil {
			frames[head.Type] = f
		}
	}
	// warm: the frame's strings are in the decoder's cache (a call's later
	// events); cold: none is (a new call's first).
	for _, c := range []struct {
		typ        string
		warm, cold float64
	}{
		{"StasisStart", 8, 21},        // 6 and 19 measured
		{"ChannelStateChange", 7, 19}, // 5 and 17
		{"ChannelDestroyed", 7, 20},   // 5 and 18
	} {
		f := frames[c.typ]
		if f == nil {
			t.Fatalf("no recorded %s frame", c.typ)
		}
		for _, cold := range []bool{false, true} {
			before := dispatched
			got := testing.AllocsPerRun(200, func() {
				in.recent = [len(in.recent)]uint64{} // the same frame again is no duplicate here
				if cold {
					in.dec.strs, in.dec.times = [len(in.dec.strs)]string{}, [len(in.dec.times)]struct {
						s string
						t ari.DateTime
					}{}
				}
				in.frame(f)
			})
			if dispatched-before != 201 {
				t.Fatalf("%s: %d of 201 frames dispatched", c.typ, dispatched-before)
			}
			ceiling := c.warm
			if cold {
				ceiling = c.cold
			}
			t.Logf("%s (%d bytes), cold cache %v: %.0f allocs per frame", c.typ, len(f), cold, got)
			if got > ceiling {
				t.Errorf("%s, cold cache %v: %.0f allocs per frame, ceiling %.0f", c.typ, cold, got, ceiling)
			}
		}
	}
}

// BenchmarkDecoder is the decoder alone over the recorded frames, round
// robin, with DecodeEvent for what it leaves out (as the intake does); one
// op is one frame. Compare with BenchmarkDecodeEvent in the same run.
func BenchmarkDecoder(b *testing.B) {
	frames := traceEvents(b)
	var d decoder
	left := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := frames[i%len(frames)]
		if _, _, ok := d.decode(f); !ok {
			left++
			_, _ = ari.DecodeEvent(f)
		}
	}
	b.ReportMetric(float64(left)/float64(b.N), "left-to-DecodeEvent/op")
}

// BenchmarkIntakeFrameCold is BenchmarkIntakeFrame with the decoder's string
// cache emptied before every frame: the worst case, every string new. The
// replayed frames otherwise find most of their strings cached, more than a
// live stream whose calls bring new channel ids.
func BenchmarkIntakeFrameCold(b *testing.B) {
	frames := traceEvents(b)
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		b.Fatal(err)
	}
	clock := clockFunc(time.Now)
	m, err := metrics.New(prometheus.NewRegistry(), clock, loc, []metrics.Queue{{Name: "general"}}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	in := &intake{
		clock:    clock,
		log:      slog.New(slog.DiscardHandler),
		m:        m,
		logged:   map[string]bool{},
		dispatch: func(ari.Event) {},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in.dec = decoder{p: in.dec.p}
		in.frame(frames[i%len(frames)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
