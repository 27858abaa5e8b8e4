package ari

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// labelMetrics checks that the intake reports only bounded label values.
type labelMetrics struct {
	t                *testing.T
	events, skipped  int
	lastSkippedLabel string
}

func (*labelMetrics) ARIConnected(bool) {}
func (*labelMetrics) ARIReconnected()   {}
func (m *labelMetrics) ARIEvent(typ string, _ time.Duration) {
	if !asteriskEvents[typ] {
		m.t.Fatalf("event counted under type %q, not an Asterisk event type", typ)
	}
	m.events++
}
func (m *labelMetrics) ARISkipped(label string) {
	if label != "malformed" && label != "unknown" && !asteriskEvents[label] {
		m.t.Fatalf("skip counted under %q, not a bounded label", label)
	}
	m.skipped++
	m.lastSkippedLabel = label
}

// FuzzIntakeFrame feeds any websocket text frame to the intake, seeded with
// every event frame Asterisk 22.10 sent in the recorded traces. A frame is
// either dispatched as an event of its type, or skipped and counted under a
// bounded label; it never panics and never stops the intake: a well-formed
// frame after it still reaches dispatch.
func FuzzIntakeFrame(f *testing.F) {
	seen := map[string]bool{}
	for _, fr := range traceEvents(f) {
		if !seen[string(fr)] {
			seen[string(fr)] = true
			f.Add(fr)
		}
	}
	for _, s := range []string{
		`{"type":"StasisStart","channel":"not an object"}`, `{not json at all`, `{"no":"type"}`,
		`{"type":"SomethingAsteriskNeverSends"}`, `{"type":"ApplicationReplaced","application":"callmon"}`,
		`{"type":"StasisStart","args":["agent"],"channel":{"id":"x"},"timestamp":"2026-11-23T19:34:22.247+0000"}`,
		`{"type":"Dial","timestamp":"garbage"}`, `null`, `[]`, `"StasisStart"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &labelMetrics{t: t}
		var logged bytes.Buffer
		var got []ari.Event
		in := &intake{
			clock:    clockFunc(func() time.Time { return time.Date(2026, 11, 23, 19, 34, 23, 0, time.UTC) }),
			log:      slog.New(slog.NewTextHandler(&logged, nil)),
			m:        m,
			logged:   map[string]bool{},
			dispatch: func(ev ari.Event) { got = append(got, ev) },
		}
		earlyFrame(data) // the session's pick during a resync reads the same bytes

		replaced := in.frame(data)
		switch {
		case len(got) == 1:
			if m.events != 1 || m.skipped != 0 || replaced {
				t.Fatalf("dispatched, but %d counted, %d skipped, replaced %v", m.events, m.skipped, replaced)
			}
			var head struct{ Type string }
			if err := json.Unmarshal(data, &head); err != nil || head.Type != got[0].GetType() {
				t.Fatalf("dispatched as %s a frame of type %q (%v)", got[0].GetType(), head.Type, err)
			}
			eventTime(got[0])
		case replaced:
			if m.events != 1 || len(got) != 0 {
				t.Fatalf("ApplicationReplaced counted %d times, dispatched %d", m.events, len(got))
			}
		default:
			if m.skipped != 1 || m.events != 0 {
				t.Fatalf("frame %q neither dispatched nor skipped: %d counted, %d skipped", data, m.events, m.skipped)
			}
			if !strings.Contains(logged.String(), "skipping ARI message") || !strings.Contains(logged.String(), "reason=") {
				t.Fatalf("frame %q skipped without a log line saying why: %q", data, logged.String())
			}
		}

		// The intake goes on: the next well-formed frame flows.
		got = nil
		next := fmt.Appendf(nil, `{"type":"ChannelStateChange","timestamp":"2026-11-23T19:34:22.254+0000",`+
			`"channel":{"id":"after-%d","state":"Up"},"asterisk_id":"a","application":"callmon"}`, len(data))
		if in.frame(next) || len(got) != 1 || got[0].GetType() != ari.Events.ChannelStateChange {
			t.Fatalf("after frame %q, a well-formed one was not dispatched (%d events)", data, len(got))
		}
	})
}
