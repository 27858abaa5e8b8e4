package aritest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// timeLayout is how Asterisk writes timestamps: milliseconds and an offset without a colon,
// never "Z" (e.g. 2026-11-23T19:34:22.247+0000).
const timeLayout = "2006-01-02T15:04:05.000-0700"

// object is a JSON object that keeps its keys in the order they were appended. Asterisk's key
// order differs per event type (ChannelHangupRequest starts with "cause", ChannelVarset with
// "variable"), and the fake must be byte-compatible in shape, so events are built as objects
// rather than maps.
type object []member

type member struct {
	key string
	val any
}

func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, o); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encode appends v to buf compactly and without HTML escaping, as Asterisk writes JSON
// ("<0612345678>" stays as it is). The fake's own payloads (objects, snapshots, strings,
// numbers) are written directly, byte for byte as encoding/json would: every event goes
// through here while the fake holds its lock. Anything else goes to encoding/json.
func encode(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case string:
		encodeString(buf, v)
	case int:
		buf.WriteString(strconv.Itoa(v))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case object:
		buf.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeString(buf, m.key)
			buf.WriteByte(':')
			if err := encode(buf, m.val); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []string:
		if v == nil {
			buf.WriteString("null")
			return nil
		}
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeString(buf, e)
		}
		buf.WriteByte(']')
	case channelJSON:
		encodeFields(buf, "id", v.ID, "name", v.Name, "state", v.State, "protocol_id", v.ProtocolID)
		buf.WriteString(`,"caller":`)
		encodeFields(buf, "name", v.Caller.Name, "number", v.Caller.Number)
		buf.WriteString(`},"connected":`)
		encodeFields(buf, "name", v.Connected.Name, "number", v.Connected.Number)
		buf.WriteString(`},"accountcode":`)
		encodeString(buf, v.Accountcode)
		buf.WriteString(`,"dialplan":`)
		encodeFields(buf, "context", v.Dialplan.Context, "exten", v.Dialplan.Exten)
		buf.WriteString(`,"priority":`)
		buf.WriteString(strconv.Itoa(v.Dialplan.Priority))
		buf.WriteString(`,"app_name":`)
		encodeString(buf, v.Dialplan.AppName)
		buf.WriteString(`,"app_data":`)
		encodeString(buf, v.Dialplan.AppData)
		buf.WriteString(`},"creationtime":`)
		encodeString(buf, v.Creationtime)
		buf.WriteString(`,"language":`)
		encodeString(buf, v.Language)
		buf.WriteByte('}')
	case bridgeJSON:
		encodeFields(buf, "id", v.ID, "technology", v.Technology, "bridge_type", v.BridgeType,
			"bridge_class", v.BridgeClass, "creator", v.Creator, "name", v.Name)
		buf.WriteString(`,"channels":`)
		_ = encode(buf, v.Channels)
		buf.WriteString(`,"creationtime":`)
		encodeString(buf, v.Creationtime)
		buf.WriteString(`,"video_mode":`)
		encodeString(buf, v.VideoMode)
		buf.WriteByte('}')
	case endpointJSON:
		encodeFields(buf, "technology", v.Technology, "resource", v.Resource, "state", v.State)
		buf.WriteString(`,"channel_ids":`)
		_ = encode(buf, v.ChannelIDs)
		buf.WriteByte('}')
	case playbackJSON:
		encodeFields(buf, "id", v.ID, "media_uri", v.MediaURI, "target_uri", v.TargetURI, "language", v.Language, "state", v.State)
		buf.WriteByte('}')
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's trailing newline
	}
	return nil
}

// encodeFields opens an object with the key/value string pairs kv; the caller closes it.
func encodeFields(buf *bytes.Buffer, kv ...string) {
	buf.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			buf.WriteByte(',')
		}
		encodeString(buf, kv[i])
		buf.WriteByte(':')
		encodeString(buf, kv[i+1])
	}
}

// encodeString writes s as encoding/json does without HTML escaping: printable ASCII other
// than '"' and '\\' as it is; any other string goes to encoding/json (control characters,
// U+2028, invalid UTF-8 have their own escapes there).
func encodeString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			enc := json.NewEncoder(buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			buf.Truncate(buf.Len() - 1)
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

// marshal encodes one of the fake's own payloads, which cannot fail to encode.
func marshal(v any) []byte {
	var buf bytes.Buffer
	buf.Grow(1024) // most events with a channel snapshot fit: one allocation instead of five
	if err := encode(&buf, v); err != nil {
		panic("aritest: encoding " + err.Error())
	}
	return buf.Bytes()
}

func stamp(t time.Time) string { return t.Format(timeLayout) }

// The REST and event payloads. Field order is Asterisk 22's (see testdata/*.jsonl).

type callerJSON struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

type dialplanJSON struct {
	Context  string `json:"context"`
	Exten    string `json:"exten"`
	Priority int    `json:"priority"`
	AppName  string `json:"app_name"`
	AppData  string `json:"app_data"`
}

type channelJSON struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	State        string       `json:"state"`
	ProtocolID   string       `json:"protocol_id"`
	Caller       callerJSON   `json:"caller"`
	Connected    callerJSON   `json:"connected"`
	Accountcode  string       `json:"accountcode"`
	Dialplan     dialplanJSON `json:"dialplan"`
	Creationtime string       `json:"creationtime"`
	Language     string       `json:"language"`
}

type bridgeJSON struct {
	ID           string   `json:"id"`
	Technology   string   `json:"technology"`
	BridgeType   string   `json:"bridge_type"`
	BridgeClass  string   `json:"bridge_class"`
	Creator      string   `json:"creator"`
	Name         string   `json:"name"`
	Channels     []string `json:"channels"`
	Creationtime string   `json:"creationtime"`
	VideoMode    string   `json:"video_mode"`
}

type endpointJSON struct {
	Technology string   `json:"technology"`
	Resource   string   `json:"resource"`
	State      string   `json:"state"`
	ChannelIDs []string `json:"channel_ids"`
}

type playbackJSON struct {
	ID        string `json:"id"`
	MediaURI  string `json:"media_uri"`
	TargetURI string `json:"target_uri"`
	Language  string `json:"language"`
	State     string `json:"state"`
}

type applicationJSON struct {
	Name             string   `json:"name"`
	ChannelIDs       []string `json:"channel_ids"`
	BridgeIDs        []string `json:"bridge_ids"`
	EndpointIDs      []string `json:"endpoint_ids"`
	DeviceNames      []string `json:"device_names"`
	EventsAllowed    []string `json:"events_allowed"`
	EventsDisallowed []string `json:"events_disallowed"`
}

// errorBody is ARI's error document. Most errors say "message"; a failed channel allocation
// says "error" (see allocationFailed).
func errorBody(msg string) object { return object{{"message", msg}} }
