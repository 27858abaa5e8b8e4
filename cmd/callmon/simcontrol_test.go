package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"callmon/cmd/callmon/config"
)

var simControlRE = regexp.MustCompile(`control endpoint on (http://\S+)`)

// The control endpoint cuts the events websocket, sets and clears REST faults and reports
// the counters; it refuses to listen beyond loopback.
func TestSimulateControl(t *testing.T) {
	t.Setenv(config.PasswordEnv, "sim-secret")
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "callmon.yml")
	if err := os.WriteFile(cfgFile, []byte(simConfig("http://127.0.0.1:1/ari", filepath.Join(dir, "spool.jsonl"))), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(t, "simulate", "--config.file", cfgFile, "--listen", "127.0.0.1:0", "--control", "0.0.0.0:0")
	if code != 1 || !strings.Contains(stderr, "not a loopback address") {
		t.Errorf("--control 0.0.0.0:0: exit %d, stderr %q; want a refusal", code, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, errOut := newWatchedBuffer(), newWatchedBuffer()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"simulate", "--config.file", cfgFile, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
			"--rate", "1", "--summary-interval", "0"}, stdout, errOut)
	}()
	var ariURL, ctl string
	deadline := time.After(waitFor)
	for ariURL == "" || ctl == "" {
		changed := stdout.changes()
		if m := simAddrRE.FindStringSubmatch(stdout.String()); m != nil {
			ariURL = m[1]
		}
		if m := simControlRE.FindStringSubmatch(stdout.String()); m != nil {
			ctl = m[1]
		}
		select {
		case <-changed:
		case <-deadline:
			if ariURL == "" || ctl == "" {
				t.Fatalf("no addresses:\n%s\n%s", stdout, errOut)
			}
		}
	}
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(ctl+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	stats := func() controlStats {
		t.Helper()
		resp, err := http.Get(ctl + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st controlStats
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	ariGet := func() int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ariURL+"/channels", nil)
		req.SetBasicAuth("callmon", "sim-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// The websocket an app holds is cut.
	h := http.Header{}
	r := &http.Request{Header: h}
	r.SetBasicAuth("callmon", "sim-secret")
	wsURL := "ws" + strings.TrimPrefix(ariURL, "http") + "/events?app=callmon"
	wctx, wcancel := context.WithTimeout(ctx, waitFor)
	defer wcancel()
	conn, _, err := websocket.Dial(wctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	// The handshake is done on this side before the server has taken the
	// connection as the app's: wait for that, or the cut finds nothing.
	eventually(t, "the simulator to count the app connected", func() bool {
		st := stats()
		return st.Connected && st.Connections == 1
	})
	if code := post("/cut-websockets", ""); code != http.StatusNoContent {
		t.Errorf("cut-websockets: %d", code)
	}
	for {
		if _, _, err := conn.Read(wctx); err != nil {
			if wctx.Err() != nil {
				t.Fatal("the websocket was not cut")
			}
			break
		}
	}
	if st := stats(); st.Connected {
		t.Errorf("still connected after the cut: %+v", st)
	}

	// Every REST answer fails, then none.
	if code := post("/rest-faults", `{"fail_rate": 1, "delay": "1ms", "seed": 3}`); code != http.StatusNoContent {
		t.Errorf("rest-faults: %d", code)
	}
	if code := ariGet(); code != http.StatusInternalServerError {
		t.Errorf("GET /channels with fail_rate 1: %d, want 500", code)
	}
	if code := post("/rest-faults", `{}`); code != http.StatusNoContent {
		t.Errorf("rest-faults {}: %d", code)
	}
	if code := ariGet(); code != http.StatusOK {
		t.Errorf("GET /channels without faults: %d, want 200", code)
	}
	if st := stats(); st.Failed != 1 || st.Delayed != 1 {
		t.Errorf("stats: failed %d, delayed %d; want 1 and 1", st.Failed, st.Delayed)
	}
	for _, bad := range []string{`{"fail_rate": 0.8, "drop_rate": 0.3}`, `{"delay": "soon"}`, `{"delay": "-1s"}`, `{"fail": 1}`} {
		if code := post("/rest-faults", bad); code != http.StatusBadRequest {
			t.Errorf("rest-faults %s: %d, want 400", bad, code)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d\n%s", code, errOut)
		}
	case <-time.After(waitFor):
		t.Fatal("simulate did not stop")
	}
}
