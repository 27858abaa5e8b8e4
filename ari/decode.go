package ari

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf8"

	"github.com/CyCoreSystems/ari/v5"
	ptypes "github.com/gogo/protobuf/types"
	"github.com/valyala/fastjson"
)

// decoder turns the frames callmon sees into the same ari/v5 structs that
// ari.DecodeEvent makes, in one pass instead of DecodeEvent's two full
// unmarshals plus a third for every channel.
//
// It uses valyala/fastjson because its parsed tree shows every key as sent,
// so the frames whose meaning hangs on encoding/json's rules (keys matched
// case-insensitively, the last of duplicate keys winning, nulls) can be
// recognised and left to DecodeEvent. Measured side by side on the recorded
// frames (go1.26, 2 vCPUs, 2026-12-06): this decoder, ari/v5 structs and
// all, 2.15–2.33 µs a frame; goccy/go-json into lean structs 1.05–1.80 µs,
// before any conversion into ari/v5's structs, but it ignores keys in
// another case and accepts, in the members it skips, text encoding/json
// refuses (1.2.3, "\q", raw control characters), so it would dispatch
// frames DecodeEvent refuses; encoding/json into lean structs 6.9–7.8 µs.
//
// A decoder is used by one goroutine at a time (the intake's reader).
type decoder struct {
	p fastjson.Parser

	// Recent strings by hash: a call's channel ids, names, states and
	// caller ids repeat in all its events, and so do the application and
	// Asterisk id in every event. Reusing them saves most allocations.
	strs [512]string

	times [256]struct {
		s string
		t ari.DateTime
	}
}

const maxFastFrame = 64 << 10

// maxInterned bounds the strings kept, and so the cache's memory.
const maxInterned = 64

// intern is string(b), reusing a recent equal string.
func (d *decoder) intern(b []byte) string {
	if len(b) == 0 || len(b) > maxInterned {
		return string(b)
	}
	e := &d.strs[slot(b, len(d.strs))]
	if *e != string(b) {
		*e = string(b)
	}
	return *e
}

// slot picks a cache slot for b from its length and first and last 8
// bytes, where ids, names and times differ: cheap, and the same in every
// run, so the allocation guard counts the same everywhere.
func slot(b []byte, n int) int {
	var x, y uint64
	if len(b) >= 8 {
		x, y = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		for i, c := range b {
			x |= uint64(c) << (8 * i)
		}
	}
	h := (x*0x9e3779b97f4a7c15 ^ y + uint64(len(b))) * 0xc2b2ae3d27d4eb4f
	return int((h >> 32) % uint64(n))
}

// decode returns the event and its Asterisk timestamp, field for field as
// ari.DecodeEvent would return them. ok is false when the frame is not one
// it decodes (another type, or anything where it could differ from
// DecodeEvent, malformed frames included): the caller then uses DecodeEvent.
func (d *decoder) decode(data []byte) (ev ari.Event, ts time.Time, ok bool) {
	// The parser keeps its buffers for the next frame: one huge frame must
	// not pin its size for good. Asterisk's events are a few KB.
	if len(data) > maxFastFrame || escapedSurrogate(data) {
		return nil, time.Time{}, false
	}
	v, err := d.p.ParseBytes(data)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil, time.Time{}, false
	}
	// fastjson's parser accepts some text encoding/json rejects (numbers such
	// as 1.2.3, bad escapes); its validator does not. It runs after the parse,
	// whose depth limit keeps the validator's recursion short.
	if fastjson.ValidateBytes(data) != nil {
		return nil, time.Time{}, false
	}
	o, _ := v.Object()
	typ, ok := eventType(o)
	if !ok {
		return nil, time.Time{}, false
	}
	dec := fastEvents[string(typ)]
	if dec == nil {
		return nil, time.Time{}, false
	}
	ev, ed, ok := dec(d, o)
	if !ok {
		return nil, time.Time{}, false
	}
	return ev, time.Time(ed.Timestamp), true
}

// escapedSurrogate reports a \uD800–\uDFFF escape (or any \uDxxx, to keep
// it short): fastjson and encoding/json replace unpaired or misordered
// surrogates differently.
func escapedSurrogate(data []byte) bool {
	for {
		i := bytes.Index(data, []byte(`\u`))
		if i < 0 || i+2 >= len(data) {
			return false
		}
		if c := data[i+2]; c == 'd' || c == 'D' {
			return true
		}
		data = data[i+2:]
	}
}

// eventType is the value of the frame's one "type" key.
func eventType(o *fastjson.Object) ([]byte, bool) {
	var typ []byte
	n := 0
	o.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == "type" {
			n++
			typ, _ = v.StringBytes()
		}
	})
	return typ, n == 1 && len(typ) > 0
}

// fastEvents are the types the decoder handles: every type callmon acts on
// (App.dispatch), and the frequent ones it only counts.
var fastEvents = map[string]func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool){
	"StasisStart": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.StasisStart{}
		return e, &e.EventData, d.members(o, &e.EventData, keysStasisStart, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeStrings(v, &e.Args)
			case 1:
				return d.decodeChannel(v, &e.Channel)
			default:
				return d.decodeChannel(v, &e.ReplaceChannel)
			}
		})
	},
	"StasisEnd": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.StasisEnd{}
		return e, &e.EventData, d.members(o, &e.EventData, keysChannel, func(_ int, v *fastjson.Value) bool {
			return d.decodeChannel(v, &e.Channel)
		})
	},
	"ChannelStateChange": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelStateChange{}
		return e, &e.EventData, d.members(o, &e.EventData, keysChannel, func(_ int, v *fastjson.Value) bool {
			return d.decodeChannel(v, &e.Channel)
		})
	},
	"ChannelHangupRequest": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelHangupRequest{}
		return e, &e.EventData, d.members(o, &e.EventData, keysHangupRequest, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeInt(v, &e.Cause)
			case 1:
				return d.decodeChannel(v, &e.Channel)
			default:
				return d.decodeBool(v, &e.Soft)
			}
		})
	},
	"ChannelDestroyed": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelDestroyed{}
		return e, &e.EventData, d.members(o, &e.EventData, keysDestroyed, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeInt(v, &e.Cause)
			case 1:
				return d.decodeString(v, &e.CauseTxt)
			default:
				return d.decodeChannel(v, &e.Channel)
			}
		})
	},
	"ChannelEnteredBridge": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelEnteredBridge{}
		return e, &e.EventData, d.members(o, &e.EventData, keysBridgeChannel, func(i int, v *fastjson.Value) bool {
			if i == 0 {
				return d.decodeBridge(v, &e.Bridge)
			}
			return d.decodeChannel(v, &e.Channel)
		})
	},
	"ChannelLeftBridge": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelLeftBridge{}
		return e, &e.EventData, d.members(o, &e.EventData, keysBridgeChannel, func(i int, v *fastjson.Value) bool {
			if i == 0 {
				return d.decodeBridge(v, &e.Bridge)
			}
			return d.decodeChannel(v, &e.Channel)
		})
	},
	"PlaybackStarted": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.PlaybackStarted{}
		return e, &e.EventData, d.members(o, &e.EventData, keysPlayback, func(_ int, v *fastjson.Value) bool {
			return d.decodePlayback(v, &e.Playback)
		})
	},
	"PlaybackFinished": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.PlaybackFinished{}
		return e, &e.EventData, d.members(o, &e.EventData, keysPlayback, func(_ int, v *fastjson.Value) bool {
			return d.decodePlayback(v, &e.Playback)
		})
	},
	"RecordingStarted": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.RecordingStarted{}
		return e, &e.EventData, d.members(o, &e.EventData, keysRecording, func(_ int, v *fastjson.Value) bool {
			return d.decodeRecording(v, &e.Recording)
		})
	},
	"RecordingFinished": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.RecordingFinished{}
		return e, &e.EventData, d.members(o, &e.EventData, keysRecording, func(_ int, v *fastjson.Value) bool {
			return d.decodeRecording(v, &e.Recording)
		})
	},
	"RecordingFailed": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.RecordingFailed{}
		return e, &e.EventData, d.members(o, &e.EventData, keysRecording, func(_ int, v *fastjson.Value) bool {
			return d.decodeRecording(v, &e.Recording)
		})
	},
	"Dial": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.Dial{}
		return e, &e.EventData, d.members(o, &e.EventData, keysDial, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeChannel(v, &e.Caller)
			case 1:
				return d.decodeString(v, &e.Dialstatus)
			case 2:
				return d.decodeString(v, &e.Dialstring)
			case 3:
				return d.decodeString(v, &e.Forward)
			case 4:
				return d.decodeChannel(v, &e.Forwarded)
			default:
				return d.decodeChannel(v, &e.Peer)
			}
		})
	},
	"ChannelDtmfReceived": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelDtmfReceived{}
		return e, &e.EventData, d.members(o, &e.EventData, keysDtmf, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeChannel(v, &e.Channel)
			case 1:
				return d.decodeString(v, &e.Digit)
			default:
				return d.decodeInt(v, &e.DurationMs)
			}
		})
	},
	"EndpointStateChange": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.EndpointStateChange{}
		return e, &e.EventData, d.members(o, &e.EventData, keysEndpoint, func(_ int, v *fastjson.Value) bool {
			return d.decodeEndpoint(v, &e.Endpoint)
		})
	},
	"ChannelVarset": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelVarset{}
		return e, &e.EventData, d.members(o, &e.EventData, keysVarset, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeChannel(v, &e.Channel)
			case 1:
				return d.decodeString(v, &e.Value)
			default:
				return d.decodeString(v, &e.Variable)
			}
		})
	},
	"ApplicationReplaced": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ApplicationReplaced{}
		return e, &e.EventData, d.members(o, &e.EventData, nil, nil)
	},

	// Counted only, but a quarter of the recorded frames: left to
	// DecodeEvent they would cost more than all the others together.
	"ChannelDialplan": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelDialplan{}
		return e, &e.EventData, d.members(o, &e.EventData, keysDialplanEv, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeChannel(v, &e.Channel)
			case 1:
				return d.decodeString(v, &e.DialplanApp)
			default:
				return d.decodeString(v, &e.DialplanAppData)
			}
		})
	},
	"ChannelCreated": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelCreated{}
		return e, &e.EventData, d.members(o, &e.EventData, keysChannel, func(_ int, v *fastjson.Value) bool {
			return d.decodeChannel(v, &e.Channel)
		})
	},
	"ChannelConnectedLine": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelConnectedLine{}
		return e, &e.EventData, d.members(o, &e.EventData, keysChannel, func(_ int, v *fastjson.Value) bool {
			return d.decodeChannel(v, &e.Channel)
		})
	},
	"ChannelCallerId": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.ChannelCallerID{}
		return e, &e.EventData, d.members(o, &e.EventData, keysCallerIDEv, func(i int, v *fastjson.Value) bool {
			switch i {
			case 0:
				return d.decodeInt(v, &e.CallerPresentation)
			case 1:
				return d.decodeString(v, &e.CallerPresentationTxt)
			default:
				return d.decodeChannel(v, &e.Channel)
			}
		})
	},
	"BridgeCreated": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.BridgeCreated{}
		return e, &e.EventData, d.members(o, &e.EventData, keysBridgeEv, func(_ int, v *fastjson.Value) bool {
			return d.decodeBridge(v, &e.Bridge)
		})
	},
	"BridgeDestroyed": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.BridgeDestroyed{}
		return e, &e.EventData, d.members(o, &e.EventData, keysBridgeEv, func(_ int, v *fastjson.Value) bool {
			return d.decodeBridge(v, &e.Bridge)
		})
	},
	"DeviceStateChanged": func(d *decoder, o *fastjson.Object) (ari.Event, *ari.EventData, bool) {
		e := &ari.DeviceStateChanged{}
		return e, &e.EventData, d.members(o, &e.EventData, keysDeviceEv, func(_ int, v *fastjson.Value) bool {
			return d.decodeDeviceState(v, &e.DeviceState)
		})
	},
}

// The JSON keys of each struct, as ari/v5's json tags name them; the
// decoders' switches go by index into these lists.
var (
	keysStasisStart   = []string{"args", "channel", "replace_channel"}
	keysChannel       = []string{"channel"}
	keysHangupRequest = []string{"cause", "channel", "soft"}
	keysDestroyed     = []string{"cause", "cause_txt", "channel"}
	keysBridgeChannel = []string{"bridge", "channel"}
	keysPlayback      = []string{"playback"}
	keysRecording     = []string{"recording"}
	keysDial          = []string{"caller", "dialstatus", "dialstring", "forward", "forwarded", "peer"}
	keysDtmf          = []string{"channel", "digit", "duration_ms"}
	keysEndpoint      = []string{"endpoint"}
	keysVarset        = []string{"channel", "value", "variable"}
	keysDialplanEv    = []string{"channel", "dialplan_app", "dialplan_app_data"}
	keysBridgeEv      = []string{"bridge"}
	keysCallerIDEv    = []string{"caller_presentation", "caller_presentation_txt", "channel"}
	keysDeviceEv      = []string{"device_state"}

	// EventData's keys come after the type's own.
	keysEventData = []string{"application", "dialog", "asterisk_id", "timestamp", "type"}

	// channelDataJSON in ari/v5, which ChannelData.UnmarshalJSON decodes
	// into: "language" is not among them, so DecodeEvent leaves it empty.
	keysChannelData = []string{"key", "id", "name", "state", "accountcode", "caller", "connected",
		"creationtime", "dialplan", "channelvars"}
	keysCallerID   = []string{"name", "number"}
	keysDialplan   = []string{"context", "exten", "priority"}
	keysBridge     = []string{"key", "id", "bridge_class", "bridge_type", "channels", "creator", "name", "technology"}
	keysPlaybackD  = []string{"key", "id", "language", "media_uri", "state", "target_uri"}
	keysRecordingD = []string{"key", "cause", "duration", "format", "name", "silence_duration", "state",
		"talking_duration", "target_uri"}
	keysEndpointD = []string{"key", "channel_ids", "resource", "state", "technology"}
	keysDevice    = []string{"key", "name", "state"}
)

// members decodes an event object: EventData's keys into ed, the type's own
// keys (own) through set, by index.
func (d *decoder) members(o *fastjson.Object, ed *ari.EventData, own []string, set func(i int, v *fastjson.Value) bool) bool {
	return object(o, own, keysEventData, func(i int, v *fastjson.Value) bool {
		if i < len(own) {
			return set(i, v)
		}
		switch i - len(own) {
		case 0:
			return d.decodeString(v, &ed.Application)
		case 1:
			return d.decodeString(v, &ed.Dialog)
		case 2:
			return d.decodeString(v, &ed.Node)
		case 3:
			return d.decodeDateTime(v, &ed.Timestamp)
		default:
			return d.decodeString(v, &ed.Type)
		}
	})
}

// object calls set for each known key of o (the keys of names, then of more,
// numbered on), and fails where encoding/json would decode differently or
// fail: a known key twice, a key that matches a known one only
// case-insensitively, a null. Other keys are ignored, as encoding/json does.
func object(o *fastjson.Object, names, more []string, set func(i int, v *fastjson.Value) bool) bool {
	var seen uint32
	ok := true
	o.Visit(func(k []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		i := index(names, more, k)
		if i < 0 {
			ok = !foldsOnto(k, names) && !foldsOnto(k, more)
			return
		}
		if seen&(1<<i) != 0 || v.Type() == fastjson.TypeNull {
			ok = false
			return
		}
		seen |= 1 << i
		ok = set(i, v)
	})
	return ok
}

func index(names, more []string, k []byte) int {
	for i, n := range names {
		if n == string(k) {
			return i
		}
	}
	for i, n := range more {
		if n == string(k) {
			return len(names) + i
		}
	}
	return -1
}

// foldsOnto reports whether encoding/json could match key k to one of
// names although it is not equal to any: ASCII letters in another case, or
// any non-ASCII key (Unicode folding maps e.g. U+017F onto 's'). The names
// are lower-case, so a lower-case ASCII key matches only itself.
func foldsOnto(k []byte, names []string) bool {
	upper := false
	for _, c := range k {
		if c >= utf8.RuneSelf {
			return true
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return false
	}
	for _, n := range names {
		if len(n) == len(k) && bytes.EqualFold([]byte(n), k) {
			return true
		}
	}
	return false
}

func (d *decoder) decodeString(v *fastjson.Value, dst *string) bool {
	b, err := v.StringBytes()
	// encoding/json replaces invalid UTF-8 byte by byte; such frames are left to it.
	if err != nil || !utf8.Valid(b) {
		return false
	}
	*dst = d.intern(b)
	return true
}

func (d *decoder) decodeStrings(v *fastjson.Value, dst *[]string) bool {
	a, err := v.Array()
	if err != nil {
		return false
	}
	// encoding/json makes an empty, non-nil slice of [].
	s := make([]string, len(a))
	for i, e := range a {
		if !d.decodeString(e, &s[i]) {
			return false
		}
	}
	*dst = s
	return true
}

// decodeInt is encoding/json's int decoding (strconv.ParseInt of the
// number's text): fastjson's Int64 parses JSON numbers the same way.
func (d *decoder) decodeInt(v *fastjson.Value, dst *int) bool {
	n, err := v.Int64()
	*dst = int(n)
	return err == nil
}

func (d *decoder) decodeInt64(v *fastjson.Value, dst *int64) bool {
	var n int
	ok := d.decodeInt(v, &n)
	*dst = int64(n)
	return ok
}

func (d *decoder) decodeBool(v *fastjson.Value, dst *bool) bool {
	switch v.Type() {
	case fastjson.TypeTrue:
		*dst = true
	case fastjson.TypeFalse:
		*dst = false
	default:
		return false
	}
	return true
}

// decodeDuration is ari.DurationSec.UnmarshalJSON (strconv.Atoi of the
// text): whole seconds only.
func (d *decoder) decodeDuration(v *fastjson.Value, dst *ari.DurationSec) bool {
	n, err := v.Int64()
	*dst = ari.DurationSec(time.Duration(n) * time.Second)
	return err == nil
}

// decodeDateTime is ari.DateTime.UnmarshalJSON. A channel's creation time
// comes again in each of its events, so recently parsed times are kept, apart
// from the strings: the events' own timestamps, new each time, would push
// the strings out.
func (d *decoder) decodeDateTime(v *fastjson.Value, dst *ari.DateTime) bool {
	b, err := v.StringBytes()
	if err != nil {
		return false
	}
	e := &d.times[slot(b, len(d.times))]
	if e.s == string(b) && e.s != "" {
		*dst = e.t
		return true
	}
	str := string(b)
	t, err := time.Parse(ari.DateFormat, str)
	if err != nil {
		return false
	}
	*dst = ari.DateTime(t)
	e.s, e.t = str, *dst
	return true
}

// decodeChannel is ari.ChannelData.UnmarshalJSON.
func (d *decoder) decodeChannel(v *fastjson.Value, dst *ari.ChannelData) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	var created ari.DateTime
	c := ari.ChannelData{}
	ok := object(o, keysChannelData, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0: // key: Asterisk never sends one
			return false
		case 1:
			return d.decodeString(v, &c.ID)
		case 2:
			return d.decodeString(v, &c.Name)
		case 3:
			return d.decodeString(v, &c.State)
		case 4:
			return d.decodeString(v, &c.Accountcode)
		case 5:
			c.Caller = &ari.CallerID{}
			return d.decodeCallerID(v, c.Caller)
		case 6:
			c.Connected = &ari.CallerID{}
			return d.decodeCallerID(v, c.Connected)
		case 7:
			return d.decodeDateTime(v, &created)
		case 8:
			c.Dialplan = &ari.DialplanCEP{}
			return d.decodeDialplan(v, c.Dialplan)
		default:
			return d.decodeVars(v, &c.ChannelVars)
		}
	})
	if !ok {
		return false
	}
	// As ari/v5 does, a missing or out-of-range time included.
	c.Creationtime, _ = ptypes.TimestampProto(time.Time(created))
	*dst = c
	return true
}

func (d *decoder) decodeCallerID(v *fastjson.Value, dst *ari.CallerID) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysCallerID, nil, func(i int, v *fastjson.Value) bool {
		if i == 0 {
			return d.decodeString(v, &dst.Name)
		}
		return d.decodeString(v, &dst.Number)
	})
}

func (d *decoder) decodeDialplan(v *fastjson.Value, dst *ari.DialplanCEP) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysDialplan, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0:
			return d.decodeString(v, &dst.Context)
		case 1:
			return d.decodeString(v, &dst.Exten)
		default:
			return d.decodeInt64(v, &dst.Priority)
		}
	})
}

// decodeVars decodes a map as encoding/json does: exact keys, the last of
// duplicates wins, an empty object makes an empty map.
func (d *decoder) decodeVars(v *fastjson.Value, dst *map[string]string) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	m := make(map[string]string, o.Len())
	ok := true
	o.Visit(func(k []byte, v *fastjson.Value) {
		if !ok {
			return
		}
		var s string
		if ok = utf8.Valid(k) && v.Type() != fastjson.TypeNull && d.decodeString(v, &s); ok {
			m[d.intern(k)] = s
		}
	})
	*dst = m
	return ok
}

func (d *decoder) decodeBridge(v *fastjson.Value, dst *ari.BridgeData) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysBridge, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0:
			return false
		case 1:
			return d.decodeString(v, &dst.ID)
		case 2:
			return d.decodeString(v, &dst.Class)
		case 3:
			return d.decodeString(v, &dst.Type)
		case 4:
			return d.decodeStrings(v, &dst.ChannelIDs)
		case 5:
			return d.decodeString(v, &dst.Creator)
		case 6:
			return d.decodeString(v, &dst.Name)
		default:
			return d.decodeString(v, &dst.Technology)
		}
	})
}

func (d *decoder) decodePlayback(v *fastjson.Value, dst *ari.PlaybackData) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysPlaybackD, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0:
			return false
		case 1:
			return d.decodeString(v, &dst.ID)
		case 2:
			return d.decodeString(v, &dst.Language)
		case 3:
			return d.decodeString(v, &dst.MediaURI)
		case 4:
			return d.decodeString(v, &dst.State)
		default:
			return d.decodeString(v, &dst.TargetURI)
		}
	})
}

func (d *decoder) decodeRecording(v *fastjson.Value, dst *ari.LiveRecordingData) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysRecordingD, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0:
			return false
		case 1:
			return d.decodeString(v, &dst.Cause)
		case 2:
			return d.decodeDuration(v, &dst.Duration)
		case 3:
			return d.decodeString(v, &dst.Format)
		case 4:
			return d.decodeString(v, &dst.Name)
		case 5:
			return d.decodeDuration(v, &dst.Silence)
		case 6:
			return d.decodeString(v, &dst.State)
		case 7:
			return d.decodeDuration(v, &dst.Talking)
		default:
			return d.decodeString(v, &dst.TargetURI)
		}
	})
}

func (d *decoder) decodeEndpoint(v *fastjson.Value, dst *ari.EndpointData) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysEndpointD, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0:
			return false
		case 1:
			return d.decodeStrings(v, &dst.ChannelIDs)
		case 2:
			return d.decodeString(v, &dst.Resource)
		case 3:
			return d.decodeString(v, &dst.State)
		default:
			return d.decodeString(v, &dst.Technology)
		}
	})
}

func (d *decoder) decodeDeviceState(v *fastjson.Value, dst *ari.DeviceStateData) bool {
	o, err := v.Object()
	if err != nil {
		return false
	}
	return object(o, keysDevice, nil, func(i int, v *fastjson.Value) bool {
		switch i {
		case 0:
			return false
		case 1:
			return d.decodeString(v, &dst.Name)
		default:
			return d.decodeString(v, &dst.State)
		}
	})
}
