package aritest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"callmon/ari/aritest"
)

// The fake answers every exchange of trace mailbox-counts as Asterisk 22.10 did: status,
// Content-Type and body, field for field. Among them ari/v5's counts as JSON strings, which
// Asterisk accepts with 204 and stores as 0.
func TestMailboxCountsTrace(t *testing.T) {
	tr, err := loadTrace("mailbox-counts")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, aritest.Options{})
	// The lab's mailbox existed before the scenario (astdb), at 0/0.
	if code, _ := restCall(t, s, "PUT", "/mailboxes/erik@callmon?oldMessages=0&newMessages=0", nil); code != 204 {
		t.Fatalf("setting up the mailbox: %d", code)
	}
	n := 0
	for _, l := range tr.lines {
		if l.Dir != "rest" {
			continue
		}
		n++
		var body []byte
		if len(l.Body) > 0 && string(l.Body) != "null" {
			body = l.Body
		}
		path := strings.TrimPrefix(l.Path, "/ari")
		req, err := http.NewRequest(l.Method, s.URL()+path, bytesReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		what := l.Method + " " + l.Path + " " + string(body)
		if resp.StatusCode != l.Status {
			t.Errorf("%s: status %d, Asterisk %d", what, resp.StatusCode, l.Status)
		}
		if ct := resp.Header.Get("Content-Type"); ct != l.ContentType {
			t.Errorf("%s: Content-Type %q, Asterisk %q", what, ct, l.ContentType)
		}
		want := []byte(nil)
		if len(l.Resp) > 0 && string(l.Resp) != "null" {
			want = l.Resp
		}
		if !sameJSON(got, want) {
			t.Errorf("%s: answered %s, Asterisk %s", what, got, want)
		}
	}
	if n != 19 {
		t.Errorf("%d REST exchanges replayed, the trace has 19", n)
	}
	waitFor(t, s, "events written", drained(s))
	if got := eventTypes(s.Log()); len(got) != 0 {
		t.Errorf("mailboxes sent events %v; Asterisk sent none", got)
	}
}

// sameJSON: both empty, or the same JSON document with the same key order.
func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func bytesReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// What Asterisk's generated handler does with counts the trace did not try (read from
// res_ari_mailboxes.c): atoi on the query, ast_json_integer_get on the body, the body last.
func TestMailboxCountsAsAsteriskParsesThem(t *testing.T) {
	s := newServer(t, aritest.Options{})
	for _, c := range []struct {
		query, body string
		status      int
		oldN, newN  int
	}{
		{query: "?oldMessages=2x&newMessages=%203", status: 204, oldN: 2, newN: 3},
		{query: "?oldMessages=abc&newMessages=-1", status: 204, oldN: 0, newN: -1},
		{body: `{"oldMessages":1.0,"newMessages":true}`, status: 204},
		{query: "?oldMessages=4&newMessages=5", body: `{"newMessages":6}`, status: 204, oldN: 4, newN: 6},
		{query: "?oldMessages=4&newMessages=5", body: `{"newMessages":"6"}`, status: 204, oldN: 4, newN: 0},
		{query: "?newMessages=1&newMessages=7", status: 204, newN: 7},
		{body: `{"newMessages":99999999999999999999}`, status: 400, newN: 7},
		{body: `{"newMessages":`, status: 400, newN: 7},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		code, resp := restCall(t, s, "PUT", "/mailboxes/m"+c.query, body)
		old, n, _ := s.Mailbox("m")
		if code != c.status || old != c.oldN || n != c.newN {
			t.Errorf("PUT %s %s: %d %s, stored %d/%d; want %d, %d/%d", c.query, c.body, code, resp, old, n, c.status, c.oldN, c.newN)
		}
	}
}

// VoiceMail() in the dialplan (Caller.EndVoiceMail, ASSUMED): VMSTATUS reaches the app after
// StasisEnd only if it subscribed to the channel, then the caller's hang-up and destruction.
func TestEndVoiceMailAfterContinue(t *testing.T) {
	for _, subscribed := range []bool{true, false} {
		f := newFixture(t, aritest.Options{})
		c, err := f.s.Call(directCall)
		if err != nil {
			t.Fatal(err)
		}
		if subscribed {
			f.rest(t, 200, "POST", "/applications/callmon/subscription?eventSource=channel:"+c.ID(), "")
		}
		f.rest(t, 204, "POST", "/channels/"+c.ID()+"/continue?context=callmon-voicemail&extension=erik&priority=1", "")
		c.EndVoiceMail("SUCCESS")
		waitFor(t, f.s, "events written", drained(f.s))
		var got []string
		for _, r := range f.s.Log() {
			if r.Kind == aritest.KindEvent && r.Type == "ChannelVarset" {
				var ev struct{ Variable, Value string }
				if err := json.Unmarshal(r.Raw, &ev); err != nil {
					t.Fatal(err)
				}
				got = append(got, ev.Variable+"="+ev.Value)
				continue
			}
			if r.Kind == aritest.KindEvent {
				got = append(got, r.Type)
			}
		}
		want := "StasisStart StasisEnd"
		if subscribed {
			want = "StasisStart StasisEnd STASISSTATUS=SUCCESS VMSTATUS=SUCCESS ChannelHangupRequest ChannelDestroyed"
		}
		if g := strings.Join(slices.DeleteFunc(got, func(s string) bool { return s == "STASISSTATUS=" }), " "); g != want {
			t.Errorf("subscribed=%v: events %s, want %s", subscribed, g, want)
		}
	}
}
