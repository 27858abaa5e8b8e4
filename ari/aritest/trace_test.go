package aritest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// A trace is one of testdata/*.jsonl: what the lab's recorder (playing the app) sent to and
// received from a real Asterisk 22.10 (format: ../shared/ari-traces/README.md).
type trace struct {
	name  string
	lines []traceLine
}

type traceLine struct {
	Dir    string          `json:"dir"` // ws, event, rest
	T      time.Time       `json:"t"`   // request sent / ws action
	Done   time.Time       `json:"done"`
	Recv   time.Time       `json:"recv"` // event received
	Action string          `json:"action"`
	Reason string          `json:"reason"`
	Path   string          `json:"path"`
	Method string          `json:"method"`
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
	Resp   json.RawMessage `json:"response"`
	Raw    json.RawMessage `json:"raw"`
	// Audio and HEAD responses: only the type and size of what Asterisk sent are kept.
	ContentType   string `json:"content_type"`
	ContentLength string `json:"content_length"`

	ev ordered // Raw, parsed with its key order
}

func loadTrace(name string) (*trace, error) {
	f, err := os.Open(filepath.Join("testdata", name+".jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := &trace{name: name}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l traceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if l.Dir == "event" {
			if l.ev, err = parseOrdered(l.Raw); err != nil {
				return nil, fmt.Errorf("%s: event: %w", name, err)
			}
		}
		tr.lines = append(tr.lines, l)
	}
	return tr, sc.Err()
}

// at is when a line happened on the recorder's clock.
func (l traceLine) at() time.Time {
	if l.Dir == "event" {
		return l.Recv
	}
	return l.T
}

// ordered is a decoded JSON value whose objects keep their key order: the fake must match
// Asterisk's key order, which maps lose.
type ordered = any

type orderedObject []orderedMember

type orderedMember struct {
	Key string
	Val ordered
}

func (o orderedObject) get(key string) ordered {
	for _, m := range o {
		if m.Key == key {
			return m.Val
		}
	}
	return nil
}

func (o orderedObject) str(key string) string {
	s, _ := o.get(key).(string)
	return s
}

func (o orderedObject) obj(key string) orderedObject {
	v, _ := o.get(key).(orderedObject)
	return v
}

func parseOrdered(data []byte) (ordered, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return parseValue(dec)
}

func parseValue(dec *json.Decoder) (ordered, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return tok, nil
	}
	switch d {
	case '{':
		obj := orderedObject{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, orderedMember{k.(string), v})
		}
		_, err = dec.Token()
		return obj, err
	default:
		arr := []ordered{}
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err = dec.Token()
		return arr, err
	}
}

// render writes v as JSON keeping key order; indent "" is compact.
func render(v ordered, indent string) string {
	var b strings.Builder
	var walk func(v ordered, depth int)
	nl := func(depth int) {
		if indent != "" {
			b.WriteString("\n" + strings.Repeat(indent, depth))
		}
	}
	walk = func(v ordered, depth int) {
		switch v := v.(type) {
		case orderedObject:
			b.WriteByte('{')
			for i, m := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				nl(depth + 1)
				b.WriteString(jsonText(m.Key))
				b.WriteByte(':')
				walk(m.Val, depth+1)
			}
			if len(v) > 0 {
				nl(depth)
			}
			b.WriteByte('}')
		case []ordered:
			b.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				walk(e, depth+1)
			}
			b.WriteByte(']')
		default:
			b.WriteString(jsonText(v))
		}
	}
	walk(v, 0)
	return b.String()
}

// jsonText encodes a scalar as Asterisk does, without HTML escaping.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// roles maps run-specific values to names that mean the same in the trace and in the fake:
// Asterisk uniqueids to the caller they belong to, channel-name counters to N.
type roles struct {
	ids map[string]string // uniqueid -> role
	// dropForeign removes uniqueids of channels neither side knows (the MOH announcer) from
	// bridge snapshots.
	dropForeign bool
}

var (
	uniqueidRE = regexp.MustCompile(`^\d{10}\.\d+$`)
	counterRE  = regexp.MustCompile(`-[0-9a-f]{8}(;[12])?\b`)
)

func (r roles) str(s string) string {
	if scheme, id, found := strings.Cut(s, ":"); found && (scheme == "channel" || scheme == "bridge") {
		return scheme + ":" + r.str(id)
	}
	if role, known := r.ids[s]; known {
		return role
	}
	if uniqueidRE.MatchString(s) {
		return "<other uniqueid>"
	}
	return counterRE.ReplaceAllString(s, "-N$1")
}

// text replaces the known uniqueids wherever they occur in s (a REST path).
func (r roles) text(s string) string {
	for id, role := range r.ids {
		s = regexp.MustCompile(`\b`+regexp.QuoteMeta(id)+`\b`).ReplaceAllLiteralString(s, role)
	}
	return s
}

// normalize rewrites what differs from run to run (times, uniqueids, counters, SIP Call-IDs,
// RTP statistics) so that everything else can be compared as it is.
func (r roles) normalize(v ordered) ordered {
	switch v := v.(type) {
	case orderedObject:
		out := make(orderedObject, 0, len(v))
		variable := v.str("variable")
		for _, m := range v {
			val := m.Val
			switch s, _ := val.(string); {
			case m.Key == "timestamp" || m.Key == "creationtime" || m.Key == "startup_time":
				val = "<time>"
			case m.Key == "protocol_id" && s != "":
				val = "<sip call-id>"
			case m.Key == "value" && strings.HasPrefix(variable, "RTPAUDIOQOS"):
				val = "<rtp stats>"
			case m.Key == "value" && variable == "BRIDGEPVTCALLID" && s != "":
				val = "<sip call-id>"
			case m.Key == "channels" && r.dropForeign:
				val = r.dropUnknown(r.normalize(val))
			default:
				val = r.normalize(val)
			}
			out = append(out, orderedMember{m.Key, val})
		}
		if out.str("id") == "<caller;1>" {
			// The caller's ;1 half runs the lab's caller behaviour, which the fake does not
			// model (it is not part of the app's conversation).
			for i := range out {
				if out[i].Key == "dialplan" {
					out[i].Val = "<lab caller behaviour>"
				}
			}
		}
		return out
	case []ordered:
		out := make([]ordered, len(v))
		for i, e := range v {
			out[i] = r.normalize(e)
		}
		return out
	case string:
		return r.str(v)
	default:
		return v
	}
}

func (r roles) dropUnknown(v ordered) ordered {
	arr, _ := v.([]ordered)
	out := []ordered{}
	for _, e := range arr {
		if e != "<other uniqueid>" {
			out = append(out, e)
		}
	}
	return out
}

// sortByID orders a list response of objects by id: GET /channels lists in Asterisk's hash order.
func sortByID(v ordered) ordered {
	arr, isArr := v.([]ordered)
	if !isArr {
		return v
	}
	sort.SliceStable(arr, func(i, j int) bool {
		a, _ := arr[i].(orderedObject)
		b, _ := arr[j].(orderedObject)
		return a.str("id") < b.str("id")
	})
	return arr
}

// eventSubject is whom an event is about: the channel (Dial: the peer), else the bridge,
// endpoint, playback or recording.
func eventSubject(ev orderedObject) string {
	for _, k := range []string{"channel", "peer", "bridge", "endpoint", "playback", "recording"} {
		if o := ev.obj(k); o != nil {
			switch k {
			case "endpoint":
				return o.str("technology") + "/" + o.str("resource")
			case "recording":
				return o.str("name")
			}
			return o.str("id")
		}
	}
	return ""
}

// eventKey identifies an event for matching: type, subject and what distinguishes events of
// that type about the same subject.
func eventKey(ev orderedObject) string {
	typ := ev.str("type")
	detail := ""
	switch typ {
	case "ChannelVarset":
		detail = ev.str("variable")
	case "ChannelHangupRequest", "ChannelDestroyed":
		detail = fmt.Sprint(ev.get("cause"), ev.get("soft"))
	case "ChannelDialplan":
		detail = ev.str("dialplan_app")
	case "Dial":
		detail = ev.str("dialstatus")
	case "ChannelStateChange":
		detail = ev.obj("channel").str("state")
	case "ChannelEnteredBridge", "ChannelLeftBridge":
		detail = ev.obj("bridge").str("id")
	}
	return typ + " " + eventSubject(ev) + " " + detail
}
