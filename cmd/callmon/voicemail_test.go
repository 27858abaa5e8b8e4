package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

func TestUnansweredDirectCallLeavesAVoicemail(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_voicemail")
	s := newSite(t, dbURL)
	erik := config.DefaultEmployee("erik")
	erik.Numbers, erik.Endpoint = []string{"0503161234"}, "PJSIP/2001"
	s.cfg.Employees = []config.Employee{erik}
	s.cfg.Voicemail = config.DefaultVoicemail()
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
}
