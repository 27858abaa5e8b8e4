package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/lookup"
	"callmon/ui"
)

// A seeded day through the whole daemon: callers ring the fake Asterisk from several numbers,
// some more than once and written differently; the look-up of one number returns exactly the
// calls the simulator placed from it, as callmon recorded them.
func TestLookupFindsTheSimulatedCallersCalls(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_lookup"))
	s.start()
	for _, a := range s.cfg.Agents {
		s.fake.SetBehaviour(a.Endpoint, aritest.Behaviour{AnswerAfter: 4 * time.Second})
	}
	numbers := []string{"0612345678", "0687654321", "+31612345678", "0611111111", "0612345678"}
	var ours []string
	for i, n := range numbers {
		c, err := s.fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: n})
		if err != nil {
			t.Fatal(err)
		}
		if n == "0612345678" || n == "+31612345678" {
			ours = append(ours, c.ID())
		}
		s.eventually("answered", func() bool {
			s.clk.Advance(time.Second)
			return s.value("callmon_calls_answered_total") == float64(i+1)
		})
		s.clk.Advance(30 * time.Second)
		c.Hangup()
		s.eventually("agents free", func() bool { return s.value("callmon_agents", "state", "available") == 2 })
		s.clk.Advance(5 * time.Minute)
	}
	s.eventually("records written", func() bool { return s.records() == len(numbers) })
	day := s.clk.Now().In(ui.Amsterdam).Format(time.DateOnly)
	req, _ := http.NewRequest("GET", s.base()+"/api/lookup?number="+url.QueryEscape("06 1234 5678")+"&from="+day+"&to="+day, nil)
	resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res lookup.Result
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&res) != nil {
		t.Fatalf("look-up: %d", resp.StatusCode)
	}
	var got []string
	for _, c := range res.Calls {
		got = append(got, c.Channel)
		if c.Outcome != "answered" || c.Agent == "" || c.WaitMS < 4000 {
			t.Errorf("call %+v", c)
		}
	}
	if !slices.Equal(got, ours) {
		t.Errorf("look-up found %v, the simulator placed %v from that number", got, ours)
	}
	// The audit trail has who looked and the number's keyed hash, never the number.
	log := s.logs.String()
	if !strings.Contains(log, "action=\"lookup "+day+".."+day+"\"") || !strings.Contains(log, "who="+testSupervisor) ||
		!strings.Contains(log, "target=number-hmac:") || strings.Contains(log, "12345678") {
		t.Errorf("audit trail:\n%s", log)
	}
}
