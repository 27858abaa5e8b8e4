package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"callmon/ari"
	"callmon/ari/aritest"
	"callmon/auth"
	"callmon/cmd/callmon/config"
)

// reloadConfig is a site whose queue general rings one agent at a time for
// ringTimeout; open around the clock.
func reloadConfig(ariURL, ringTimeout string) string {
	return `ari:
  url: ` + ariURL + `
  user: callmon
opening_hours:
  timezone: Europe/Amsterdam
  days: [mon, tue, wed, thu, fri, sat, sun]
  open: "00:00"
  close: "24:00"
queues:
  - name: general
    numbers: ["0503164911"]
    ring_timeout: ` + ringTimeout + `
    callback_offer_after: 0s
    agents: [a1, a2]
agents:
  - {id: a1, endpoint: PJSIP/1001}
  - {id: a2, endpoint: PJSIP/1002}
` + testConfigSupervisor()
}

// originateTimeouts are the ring timeouts (seconds) of the agent channels
// callmon originated for the caller channel callerID, in order.
func originateTimeouts(fake *aritest.Server, callerID string) []int {
	var out []int
	for _, r := range fake.Log() {
		if r.Kind != aritest.KindREST || r.Method != "POST" || !strings.HasPrefix(r.Path, "/ari/channels") {
			continue
		}
		var body struct {
			ChannelID string `json:"channelId"`
			Timeout   int    `json:"timeout"`
			Endpoint  string `json:"endpoint"`
		}
		if json.Unmarshal(r.Body, &body) == nil && body.Endpoint != "" && strings.Contains(body.ChannelID, callerID) {
			out = append(out, body.Timeout)
		}
	}
	return out
}

// TestReloadAppliesToNewCalls: a reload applies a queue's new ring timeout to new calls while
// a call in progress keeps the old one; a change to ari.url is refused naming
// the key, and a broken file keeps the configuration in force. Each attempt
// is one audit line.
func TestReloadAppliesToNewCalls(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clk := aritest.NewManualClock(start)
	const password = "s3cret"
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: password, Clock: clk, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.AddEndpoint("PJSIP/1001", "online", aritest.Behaviour{NoAnswer: true})
	fake.AddEndpoint("PJSIP/1002", "online", aritest.Behaviour{NoAnswer: true})

	file := filepath.Join(t.TempDir(), "callmon.yml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(fake.URL(), "20s"))
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := startDaemon(ctx, daemonOptions{Config: cfg, Password: password, Clock: clk,
		ListenAddress: "127.0.0.1:0", TelemetryPath: "/metrics",
		Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	await := func(what string, cond func() bool) {
		t.Helper()
		actx, acancel := context.WithTimeout(context.Background(), waitFor)
		defer acancel()
		if err := fake.Await(actx, cond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	await("callmon to connect", fake.Connected)
	for _, id := range []string{"a1", "a2"} {
		if _, err := d.App.Agents().Set(ari.PresenceChange{Agent: id, Action: ari.ActionLogin, By: id}); err != nil {
			t.Fatal(err)
		}
	}
	call := func(number string) *aritest.Caller {
		t.Helper()
		c, err := fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: number})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	first := call("0612345678")
	await("the first call to ring an agent", func() bool { return len(originateTimeouts(fake, first.ID())) == 1 })
	if got := originateTimeouts(fake, first.ID()); got[0] != 20 {
		t.Fatalf("first call rings with timeout %d, want 20", got[0])
	}

	write(reloadConfig(fake.URL(), "7s"))
	if err := d.Reload(ctx, "anna"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"audit","action":"reload","who":"anna"`) ||
		!strings.Contains(logs.String(), `"result":"applied","changed":"queues[general].ring_timeout: 20s → 7s"`) {
		t.Errorf("no audit line for the applied reload:\n%s", logs)
	}

	second := call("0612345679")
	await("the second call to ring the other agent", func() bool { return len(originateTimeouts(fake, second.ID())) == 1 })
	if got := originateTimeouts(fake, second.ID()); got[0] != 7 {
		t.Errorf("a call after the reload rings with timeout %d, want 7", got[0])
	}
	// The first call's ring times out after 20 s; it rings again, still with
	// the settings it entered with.
	clk.Advance(21 * time.Second)
	await("the first call to ring again", func() bool { return len(originateTimeouts(fake, first.ID())) >= 2 })
	for i, got := range originateTimeouts(fake, first.ID()) {
		if got != 20 {
			t.Errorf("first call's ring %d: timeout %d, want 20 (the call keeps the settings it entered with)", i+1, got)
		}
	}

	// ari.url is fixed at start: refused, naming the key; nothing changes.
	write(strings.Replace(reloadConfig(fake.URL(), "9s"), fake.URL(), "http://127.0.0.1:1/ari", 1))
	err = d.Reload(ctx, "SIGHUP")
	if !errors.Is(err, errReloadFixed) || !strings.Contains(err.Error(), "ari.url") {
		t.Errorf("reload changing ari.url: err = %v, want a refusal naming ari.url", err)
	}
	if !strings.Contains(logs.String(), `"who":"SIGHUP"`) || !strings.Contains(logs.String(), `"result":"refused"`) {
		t.Errorf("no audit line for the refused reload:\n%s", logs)
	}
	// A broken file: the configuration in force stays.
	write("queues: [\n")
	if err := d.Reload(ctx, "SIGHUP"); err == nil || !strings.Contains(err.Error(), "kept") {
		t.Errorf("reload of a broken file: err = %v, want it to say the configuration is kept", err)
	}
	first.Hangup()
	second.Hangup()
	third := call("0612345670")
	await("a third call to ring", func() bool { return len(originateTimeouts(fake, third.ID())) >= 1 })
	if got := originateTimeouts(fake, third.ID()); got[0] != 7 {
		t.Errorf("after two refused reloads a new call rings with timeout %d, want 7 (the last applied)", got[0])
	}
}

// TestReloadSIGHUPProcess: a real `callmon run` process takes SIGHUP as a
// reload (it keeps running and logs an audit line) and a new call then rings
// with the new ring timeout; SIGTERM still stops it cleanly.
func TestReloadSIGHUPProcess(t *testing.T) {
	t.Parallel()
	bin := buildCallmon(t)
	const password = "s3cret"
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.AddEndpoint("PJSIP/1001", "online", aritest.Behaviour{NoAnswer: true})
	fake.AddEndpoint("PJSIP/1002", "online", aritest.Behaviour{NoAnswer: true})
	file := filepath.Join(t.TempDir(), "callmon.yml")
	if err := os.WriteFile(file, []byte(reloadConfig(fake.URL(), "20s")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "callmon run", bin, []string{config.PasswordEnv + "=" + password, "DATABASE_URL="},
		"run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--api.listen-address", "127.0.0.1:0")
	addr := p.await(p.stderr, runAPIRE, waitFor)[1]
	for _, id := range []string{"a1", "a2"} {
		req, err := http.NewRequest("POST", "http://"+addr+"/api/agents/"+id+"/login", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(authorize(req, testSupervisor))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login %s: %s", id, resp.Status)
		}
	}

	if err := os.WriteFile(file, []byte(reloadConfig(fake.URL(), "7s")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.await(p.stderr, regexp.MustCompile(`msg=audit action=reload who=SIGHUP .*result=applied changed="queues\[general\]\.ring_timeout: 20s → 7s"`), waitFor)

	c, err := fake.Call(aritest.CallSpec{Exten: "0503164911", Args: []string{"queue", "general"}, CallerNumber: "0612345678"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := fake.Await(ctx, func() bool { return len(originateTimeouts(fake, c.ID())) > 0 }); err != nil {
		t.Fatalf("the call did not ring an agent: %v", err)
	}
	if got := originateTimeouts(fake, c.ID()); got[0] != 7 {
		t.Errorf("after SIGHUP a new call rings with timeout %d, want 7", got[0])
	}

	// A refused reload over SIGHUP: the process keeps running.
	if err := os.WriteFile(file, []byte(strings.Replace(reloadConfig(fake.URL(), "7s"), "user: callmon", "user: other", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.await(p.stderr, regexp.MustCompile(`msg=audit action=reload who=SIGHUP .*result=refused .*ari\.user cannot change`), waitFor)
	c.Hangup()
	p.stop(waitFor)
}

// TestReloadRevokesAToken: sign-in credentials apply on a reload, without a
// restart: a supervisor removed from the file is refused at once (although
// their token was verified a moment before), one added can sign in, and the
// audit line names both, never a hash.
func TestReloadRevokesAToken(t *testing.T) {
	t.Parallel()
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	file := filepath.Join(t.TempDir(), "callmon.yml")
	hashes := map[string]string{}
	supervisor := func(id string) string {
		h, err := auth.HashToken(testToken(id)) // a cost the configuration accepts
		if err != nil {
			t.Fatal(err)
		}
		hashes[id] = h
		return "  - {id: " + id + ", token_hash: '" + h + "'}\n"
	}
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(reloadConfig(fake.URL(), "20s")+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(supervisor("marieke"))
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := startDaemon(ctx, daemonOptions{Config: cfg, Password: "pw", Clock: aritest.NewManualClock(time.Now()),
		ListenAddress: "127.0.0.1:0", TelemetryPath: "/metrics", Log: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	status := func(id string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+d.APIAddr.String()+"/api/agents", nil)
		resp, err := http.DefaultClient.Do(authorize(req, id))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("marieke"); got != http.StatusOK {
		t.Fatalf("marieke before the reload: %d, want 200", got)
	}
	if got := status("joost"); got != http.StatusUnauthorized {
		t.Fatalf("joost before the reload: %d, want 401", got)
	}

	write(supervisor("joost"))
	if err := d.Reload(ctx, "SIGHUP"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := status("marieke"); got != http.StatusUnauthorized {
		t.Errorf("marieke after she was removed: %d, want 401", got)
	}
	if got := status("joost"); got != http.StatusOK {
		t.Errorf("joost after he was added: %d, want 200", got)
	}
	line := logs.String()
	if !strings.Contains(line, "sign-in: supervisor joost added; sign-in: supervisor marieke removed") {
		t.Errorf("the audit line does not name the sign-in changes:\n%s", line)
	}
	if strings.Contains(line, hashes["joost"]) || strings.Contains(line, hashes["marieke"]) {
		t.Errorf("a token hash is in the log:\n%s", line)
	}

	// A weak new token is refused as check-config would; joost keeps access.
	weak, err := auth.HashToken("kees.password")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(reloadConfig(fake.URL(), "20s")+supervisor("joost")+"  - {id: kees, token_hash: '"+weak+"'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(ctx, "SIGHUP"); err == nil || !strings.Contains(err.Error(), "weak token") || !strings.Contains(err.Error(), "kept") {
		t.Errorf("reload with a weak token: err = %v, want it refused as weak", err)
	}
	if got := status("joost"); got != http.StatusOK {
		t.Errorf("joost after a refused reload: %d, want 200", got)
	}
}
