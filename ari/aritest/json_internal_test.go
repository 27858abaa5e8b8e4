package aritest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// reference is how the fake encoded everything before encode had its own writers: one
// encoding/json Encoder without HTML escaping, objects member by member.
func reference(t *testing.T, v any) []byte {
	t.Helper()
	if o, ok := v.(object); ok {
		v = refObject(o)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// refObject is an object marshalled without encode.
type refObject object

func (o refObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		for j, v := range []any{m.key, m.val} {
			if n, ok := v.(object); ok {
				v = refObject(n)
			}
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return nil, err
			}
			buf.Truncate(buf.Len() - 1)
			if j == 0 {
				buf.WriteByte(':')
			}
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// The direct writers must agree byte for byte with encoding/json, escapes included.
func TestEncodeAgreesWithEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote"d`, `back\slash`, "<0612345678>", "a&b", "tab\there", "nl\n",
		"\x01", "é ünïcode", "line\u2028sep", "bad\xffutf8", "Local/agent@agents-00000001;2"}
	ch := channelJSON{ID: "1764.1", Name: `Local/"x"`, State: "Up", ProtocolID: "",
		Caller: callerJSON{"Caller <é>", "0612"}, Connected: callerJSON{"\x7f", ""}, Dialplan: dialplanJSON{"from-pstn", "0503", 2, "Stasis", "callmon,queue"},
		Creationtime: "2026-11-23T10:00:00.000+0000", Language: "en"}
	values := []any{0, -17, 1 << 40, true, false, []string(nil), []string{}, []string{"a", "\"b"}, ch,
		bridgeJSON{ID: "b", Channels: nil}, bridgeJSON{ID: "b", Technology: "simple_bridge", Channels: []string{"x", "y"}},
		endpointJSON{Technology: "PJSIP", Resource: "1001", State: "online", ChannelIDs: []string{}},
		playbackJSON{ID: "p", MediaURI: "sound:hello", State: "playing"}, 1.5, map[string]int{"a": 1},
		object{}, object{{"type", "Dial"}, {"peer", ch}, {"nested", object{{"k", []string{"v"}}}}, {"n", 3}, {"f", 0.25}}}
	for _, s := range strs {
		values = append(values, s, object{{s, s}})
	}
	for _, v := range values {
		var got bytes.Buffer
		if err := encode(&got, v); err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if want := reference(t, v); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%#v:\n got %s\nwant %s", v, got.Bytes(), want)
		}
	}
}

// Encoding an event is on the fake's hot path (every frame of a load run): one buffer, written
// directly. A regression to encoding/json's reflection shows as more allocations.
func TestEncodeEventAllocations(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector allocates too")
	}
	c := &channel{id: "1764.12", name: "PJSIP/1001-00000004", state: "Up", caller: callerJSON{"Caller", "0612345678"},
		dialplan: dialplanJSON{"agents", "s", 3, "Stasis", "callmon,agent"}}
	s := &Server{clock: RealClock(), opt: Options{App: "callmon", AsteriskID: "02:fc:00:00:00:01"}}
	ev := s.event(nil, "ChannelStateChange", member{"channel", c.snapshot()})
	var n int
	allocs := testing.AllocsPerRun(100, func() { n = len(marshal(ev)) })
	t.Logf("%d bytes, %.0f allocations", n, allocs)
	if allocs > 3 {
		t.Errorf("encoding a ChannelStateChange took %.0f allocations, want at most 3", allocs)
	}
}
