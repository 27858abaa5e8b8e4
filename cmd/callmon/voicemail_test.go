package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/callback/voicemails"
	"callmon/cmd/callmon/config"
)

func TestUnansweredDirectCallLeavesAVoicemail(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_voicemail")
	s := newSite(t, dbURL)
	addErik(s, aritest.Behaviour{NoAnswer: true})
	const supervisorToken, agentToken = "sanne", "agent01" // principals; authorize gives their tokens
	s.cfg.Supervisors = []config.Supervisor{{ID: "sanne", Name: "Sanne", TokenHash: testHash("sanne")}}
	s.cfg.Agents[0].TokenHash = testHash("agent01")
	s.start()

	c := directToVoicemail(t, s)
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
	// Left on Monday: due by the close of the next working day (in the demo
	// calendar, open around the clock, Tuesday midnight); overdue from then.
	cal, err := s.cfg.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	_, due := voicemails.CalendarWindow(cal)(s.clk.Now())
	if due.Weekday() != time.Wednesday || due.Hour() != 0 {
		t.Fatalf("due %v, want Wednesday 00:00", due)
	}
	s.clk.AdvanceTo(due.Add(-time.Millisecond))
	if o := s.value("callmon_voicemails_overdue", "employee", "erik"); o != 0 {
		t.Errorf("voicemails overdue just before %v = %v, want 0", due, o)
	}
	s.clk.AdvanceTo(due)
	if o := s.value("callmon_voicemails_overdue", "employee", "erik"); o != 1 {
		t.Errorf("voicemails overdue at %v = %v, want 1", due, o)
	}

	// The voicemail API: list, listen, mark heard (which clears the indicator).
	base := "http://" + s.d.APIAddr.String()
	do := func(method, path, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		authorize(req, token)
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
	if o := s.value("callmon_voicemails_overdue", "employee", "erik"); o != 0 {
		t.Errorf("voicemails overdue after heard = %v, want 0", o)
	}
}

// directToVoicemail places a direct call to erik (who does not answer) and
// waits until the greeting plays.
func directToVoicemail(t *testing.T, s *site) *aritest.Caller {
	t.Helper()
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
	s.clk.Advance(config.DefaultDirectRingTimeout)
	s.awaitPlay("sound:vm-intro")
	return c
}

// addErik configures employee erik on direct number 0503161234 (endpoint
// PJSIP/2001, behaving as b) with the default voicemail; before s.start.
func addErik(s *site, b aritest.Behaviour) config.Employee {
	erik := config.DefaultEmployee("erik")
	erik.Numbers, erik.Endpoint = []string{"0503161234"}, "PJSIP/2001"
	s.cfg.Employees = []config.Employee{erik}
	s.cfg.Voicemail = config.DefaultVoicemail()
	s.fake.AddEndpoint(erik.Endpoint, "online", b)
	return erik
}

func voicemailSite(t *testing.T, dbURL string) *site {
	s := newSite(t, dbURL)
	addErik(s, aritest.Behaviour{NoAnswer: true})
	for _, a := range s.cfg.Agents {
		s.fake.SetBehaviour(a.Endpoint, aritest.Behaviour{NoAnswer: true})
	}
	s.start()
	return s
}

func agentRinging(s *site) bool {
	for _, ch := range s.fake.Channels() {
		if ch.Alive && ch.State == "Ringing" && ch.Endpoint != "PJSIP/2001" {
			return true
		}
	}
	return false
}

func TestVoicemailBranchesThroughTheDaemon(t *testing.T) {
	t.Run("press 0 goes to the general queue", func(t *testing.T) {
		s := voicemailSite(t, pgtest.URL(t, "cmd_vm_zero"))
		c := directToVoicemail(t, s)
		s.key(c, "0")
		s.await("an agent rung for the caller", func() bool { return agentRinging(s) })
		if s.value("callmon_voicemails_recorded_total") != 0 {
			t.Error("a message was recorded")
		}
	})
	t.Run("failed recording goes to the general queue", func(t *testing.T) {
		s := voicemailSite(t, pgtest.URL(t, "cmd_vm_fail"))
		c := directToVoicemail(t, s)
		c.FailRecording("")
		s.clk.Advance(aritest.DefaultMediaDuration)
		s.await("an agent rung for the caller", func() bool { return agentRinging(s) })
		if !strings.Contains(s.logs.String(), "voicemail failed") {
			t.Error("the failed recording was not logged")
		}
	})
	t.Run("too short is discarded", func(t *testing.T) {
		s := voicemailSite(t, pgtest.URL(t, "cmd_vm_short"))
		c := directToVoicemail(t, s)
		s.clk.Advance(aritest.DefaultMediaDuration)
		s.await("recording", func() bool { _, rec := c.Recording(); return rec })
		s.clk.Advance(aritest.BeepDuration + 100*time.Millisecond)
		s.key(c, "#") // half a second of nothing: under min_duration
		s.eventually("discarded", func() bool { return s.value("callmon_voicemails_discarded_total") == 1 })
		if n := len(s.fake.StoredRecordings()); n != 0 {
			t.Errorf("%d stored recordings left, want the short one deleted", n)
		}
	})
}

func TestVoicemailWhileDatabaseDownLandsOnce(t *testing.T) {
	dbURL := pgtest.URL(t, "cmd_vm_down")
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	s := voicemailSite(t, proxy.URL(dbURL))
	proxy.Cut()
	c := directToVoicemail(t, s)
	c.SpeakAfter(time.Second, 3*time.Second)
	s.clk.Advance(aritest.DefaultMediaDuration)
	s.await("recording", func() bool { _, rec := c.Recording(); return rec })
	s.clk.Advance(5 * time.Second)
	c.Hangup()
	s.eventually("voicemail spooled", func() bool {
		return s.value("callmon_voicemails_recorded_total") == 1 && s.value("callmon_spool_records") >= 1
	})
	proxy.Restore()
	s.eventually("spool drained", func() bool { return s.value("callmon_spool_records") == 0 })
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n, tasks int
	if err := conn.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM voicemails), (SELECT count(*) FROM tasks WHERE kind='voicemail')").Scan(&n, &tasks); err != nil {
		t.Fatal(err)
	}
	if n != 1 || tasks != 1 {
		t.Errorf("voicemails/tasks = %d/%d after the outage, want 1/1", n, tasks)
	}
}

// voicemail.mode dialplan: the caller continues into app_voicemail's
// VoiceMail(); a task only when VoiceMail() kept a message (VMSTATUS=SUCCESS).
// On Asterisk 22.10 callers who hung up during the greeting got one too (24
// tasks for 20 messages).
func TestVoicemailDialplanMode(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		task         bool
		outcome      string
	}{
		{"message kept", "SUCCESS", true, "voicemail"},
		{"hung up during the greeting", "", false, "abandoned"},
		{"recording failed", "FAILED", false, "abandoned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbURL := pgtest.URL(t, "cmd_vm_dialplan")
			s := newSite(t, dbURL)
			addErik(s, aritest.Behaviour{Busy: true})
			s.cfg.Voicemail.Mode, s.cfg.Voicemail.Context = config.VoicemailDialplan, "callmon-voicemail"
			s.start()
			c, err := s.fake.Call(aritest.CallSpec{Exten: "0503161234", Args: []string{"direct", "0503161234"}, CallerNumber: "0612345678"})
			if err != nil {
				t.Fatal(err)
			}
			s.await("continued into the voicemail context", func() bool {
				ctx, exten, ok := s.fake.Continued(c.ID())
				return ok && ctx == "callmon-voicemail" && exten == "erik"
			})
			s.clk.Advance(10 * time.Second) // the greeting, and a message after it: not a short abandon
			c.EndVoiceMail(tc.status)
			s.eventually("outcome "+tc.outcome, func() bool {
				return s.value("callmon_calls_total", "queue", "direct", "outcome", tc.outcome) == 1
			})
			conn, err := pgx.Connect(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM tasks WHERE kind = 'voicemail'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.task]; n != want {
				t.Fatalf("%d voicemail tasks, want %d", n, want)
			}
			if !tc.task {
				return
			}
			var number, assignee string
			if err := conn.QueryRow(context.Background(), "SELECT number, assignee FROM tasks WHERE kind = 'voicemail'").Scan(&number, &assignee); err != nil {
				t.Fatalf("voicemail task: %v", err)
			}
			if number != "+31612345678" || assignee != "erik" {
				t.Errorf("task number %q assignee %q", number, assignee)
			}
		})
	}
}

// A callmon stopped while the caller records their message: the next one
// carries the recording on (no second greeting) and stores the message as
// the employee's voicemail.
func TestRestartDuringVoicemailStoresTheMessage(t *testing.T) {
	s := voicemailSite(t, pgtest.URL(t, "cmd_vm_resume"))
	c := directToVoicemail(t, s)
	s.clk.Advance(aritest.DefaultMediaDuration)
	s.await("recording", func() bool { _, rec := c.Recording(); return rec })
	s.clk.Advance(aritest.BeepDuration)
	c.Speak(3 * time.Second)
	s.clk.Advance(3 * time.Second)
	// Stopped while its record request may still be in flight: the failure
	// that request then reports is the stop's, not Asterisk's, and changes
	// nothing (the caller is not moved to the general queue).
	s.stop()
	s.start()
	s.await("the recording looked up", func() bool {
		for _, r := range s.fake.Log() {
			if r.Kind == aritest.KindREST && r.Method == "GET" && strings.HasPrefix(r.Path, "/ari/recordings/live/") {
				return true
			}
		}
		return false
	})
	c.Speak(time.Second)
	s.clk.Advance(time.Second)
	s.key(c, "#")
	s.eventually("voicemail outcome", func() bool {
		return s.value("callmon_calls_total", "queue", "direct", "outcome", "voicemail") == 1
	})
	s.eventually("records written", func() bool { return s.value("callmon_spool_records") == 0 })
	var employee string
	var ms int
	if err := s.row("SELECT employee, duration_ms FROM voicemails").Scan(&employee, &ms); err != nil {
		t.Fatalf("voicemail row: %v", err)
	}
	if employee != "erik" || ms < 4000 {
		t.Errorf("voicemail = %s, %d ms; want erik's of at least 4 s", employee, ms)
	}
	if n := s.plays("sound:vm-intro"); n != 1 {
		t.Errorf("greeting played %d times, want once", n)
	}
	s.eventually("message waiting", func() bool { _, n, ok := s.fake.Mailbox("erik@callmon"); return ok && n == 1 })
}

// voicemail.mode dialplan: a callmon stopped while the caller is in
// VoiceMail() (out of Stasis). The next one finds the caller still
// subscribed to, awaits VMSTATUS and makes the task; before, it closed the
// call as an unobserved abandon and made no task.
func TestRestartDuringDialplanVoicemail(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		task         bool
		outcome      string
	}{
		{"message kept", "SUCCESS", true, "voicemail"},
		{"no message", "", false, "abandoned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, pgtest.URL(t, "cmd_vm_dialplan_restart"))
			addErik(s, aritest.Behaviour{Busy: true})
			s.cfg.Voicemail.Mode, s.cfg.Voicemail.Context = config.VoicemailDialplan, "callmon-voicemail"
			s.start()
			c, err := s.fake.Call(aritest.CallSpec{Exten: "0503161234", Args: []string{"direct", "0503161234"}, CallerNumber: "0612345678"})
			if err != nil {
				t.Fatal(err)
			}
			s.await("continued into the voicemail context", func() bool {
				_, _, ok := s.fake.Continued(c.ID())
				return ok
			})
			s.stop()
			s.start()
			s.eventually("the caller in VoiceMail() adopted", func() bool {
				return strings.Contains(s.logs.String(), "awaiting its outcome")
			})
			s.clk.Advance(10 * time.Second) // not a short abandon
			c.EndVoiceMail(tc.status)
			s.eventually("outcome "+tc.outcome, func() bool {
				return s.value("callmon_calls_total", "queue", "direct", "outcome", tc.outcome) == 1
			})
			s.eventually("records written", func() bool { return s.value("callmon_spool_records") == 0 })
			s.eventually("the record", func() bool {
				return s.count("SELECT count(*) FROM call_records WHERE channel_id = $1", c.ID()) == 1
			})
			var outcome string
			var adopted, unobserved bool
			if err := s.row("SELECT outcome, adopted, ended_unobserved FROM call_records WHERE channel_id = $1", c.ID()).Scan(&outcome, &adopted, &unobserved); err != nil {
				t.Fatal(err)
			}
			if outcome != tc.outcome || !adopted || unobserved {
				t.Errorf("record outcome %s adopted %v ended_unobserved %v; want %s, adopted, observed", outcome, adopted, unobserved, tc.outcome)
			}
			if n, want := s.count("SELECT count(*) FROM tasks WHERE kind = 'voicemail'"), map[bool]int{true: 1}[tc.task]; n != want {
				t.Errorf("%d voicemail tasks, want %d", n, want)
			}
		})
	}
}
