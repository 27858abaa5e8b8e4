package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	cbweb "callmon/callback/web"
	"callmon/cmd/callmon/config"
)

func TestUnansweredDirectCallLeavesAVoicemail(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_voicemail")
	s := newSite(t, dbURL)
	erik := config.DefaultEmployee("erik")
	erik.Numbers, erik.Endpoint = []string{"0503161234"}, "PJSIP/2001"
	s.cfg.Employees = []config.Employee{erik}
	s.cfg.Voicemail = config.DefaultVoicemail()
	const supervisorToken, agentToken = "sanne-token-0123456789abcdef", "agent01-token-0123456789abcdef"
	s.cfg.Supervisors = []config.Supervisor{{ID: "sanne", Name: "Sanne", TokenHash: cbweb.HashToken(supervisorToken)}}
	s.cfg.Agents[0].TokenHash = cbweb.HashToken(agentToken)
	s.fake.AddEndpoint("PJSIP/2001", "online", aritest.Behaviour{NoAnswer: true})
	s.start()

	c, err := s.fake.Call(aritest.CallSpec{Exten: "0503161234", Args: []string{"direct", "0503161234"}, CallerName: "Caller", CallerNumber: "0612345678"})
	if err != nil {
		t.Fatal(err)
	}
	s.await("erik's phone ringing", func() bool {
		for _, ch := range s.fake.Channels() {
			if ch.Alive && ch.Endpoint == "PJSIP/2001" && ch.State == "Ringing" {
				return true
			}
		}
		return false
	})
	s.clk.Advance(erik.DirectRingTimeout)
	s.awaitPlay("sound:vm-intro")
	c.SpeakAfter(aritest.DefaultMediaDuration+time.Second, 4*time.Second)
	s.clk.Advance(aritest.DefaultMediaDuration)
	s.await("recording", func() bool { _, rec := c.Recording(); return rec })
	s.clk.Advance(6 * time.Second)
	c.Hangup() // the message is kept
	s.eventually("voicemail outcome", func() bool {
		return s.value("callmon_calls_total", "queue", "direct", "outcome", "voicemail") == 1
	})
	s.eventually("records written", func() bool { return s.value("callmon_spool_records") == 0 })

	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var employee, number, kind string
	var ms int
	if err := conn.QueryRow(context.Background(),
		`SELECT v.employee, t.number, t.kind, v.duration_ms FROM voicemails v JOIN tasks t ON t.id = v.task_id`).Scan(&employee, &number, &kind, &ms); err != nil {
		t.Fatalf("voicemail row and task: %v", err)
	}
	if employee != "erik" || number != "+31612345678" || kind != "voicemail" || ms < 1000 {
		t.Errorf("voicemail = %s %s %s %d ms", employee, number, kind, ms)
	}
	s.eventually("message waiting", func() bool { _, n, ok := s.fake.Mailbox("erik@callmon"); return ok && n == 1 })
	if r, w := s.value("callmon_voicemails_recorded_total"), s.value("callmon_voicemails_waiting", "employee", "erik"); r != 1 || w != 1 {
		t.Errorf("voicemails recorded/waiting = %v/%v, want 1/1", r, w)
	}

	// The voicemail API: list, listen, mark heard (which clears the indicator).
	base := "http://" + s.d.Addr.String()
	do := func(method, path, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	var list struct {
		Voicemails []struct {
			ID        int64  `json:"id"`
			Employee  string `json:"employee"`
			Recording string `json:"recording"`
		} `json:"voicemails"`
	}
	if err := json.NewDecoder(do("GET", "/api/voicemails?employee=erik", supervisorToken).Body).Decode(&list); err != nil || len(list.Voicemails) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	id := list.Voicemails[0].ID
	if r := do("GET", fmt.Sprintf("/api/voicemails/%d/audio", id), agentToken); r.StatusCode != http.StatusForbidden {
		t.Errorf("another agent's voicemail audio: %d, want 403", r.StatusCode)
	}
	audio := do("GET", fmt.Sprintf("/api/voicemails/%d/audio", id), supervisorToken)
	body, _ := io.ReadAll(audio.Body)
	if audio.StatusCode != 200 || audio.Header.Get("Content-Type") != "audio/wav" || len(body) < 44 || string(body[:4]) != "RIFF" {
		t.Errorf("audio: %d %q %d bytes", audio.StatusCode, audio.Header.Get("Content-Type"), len(body))
	}
	if r := do("POST", fmt.Sprintf("/api/voicemails/%d/heard", id), supervisorToken); r.StatusCode != 200 {
		t.Fatalf("heard: %d", r.StatusCode)
	}
	s.eventually("indicator cleared", func() bool { o, n, ok := s.fake.Mailbox("erik@callmon"); return ok && n == 0 && o == 1 })
	if w := s.value("callmon_voicemails_waiting", "employee", "erik"); w != 0 {
		t.Errorf("voicemails waiting after heard = %v, want 0", w)
	}
}
