package aritest

import (
	"bytes"
	"encoding/json"
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
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := encode(&buf, m.key); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := encode(&buf, m.val); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// encode appends v to buf compactly and without HTML escaping, as Asterisk writes JSON
// ("<0612345678>" stays as it is).
func encode(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's trailing newline
	return nil
}

// marshal encodes one of the fake's own payloads, which cannot fail to encode.
func marshal(v any) []byte {
	var buf bytes.Buffer
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
