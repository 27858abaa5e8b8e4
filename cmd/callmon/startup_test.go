package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"callmon/ari/aritest"
	"callmon/callback/store/pgtest"
	"callmon/cmd/callmon/config"
)

// startupConfig writes a one-queue configuration for ariURL (with extra
// lines under ari:) and returns its path.
func startupConfig(t *testing.T, ariURL string, ariExtra ...string) string {
	t.Helper()
	var extra string
	for _, l := range ariExtra {
		extra += "  " + l + "\n"
	}
	file := filepath.Join(t.TempDir(), "callmon.yml")
	cfg := "ari:\n  url: " + ariURL + "\n  user: callmon\n" + extra + `queues:
  - name: general
    agents: [anna]
agents:
  - id: anna
    endpoint: PJSIP/1001
`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// runUntilExit runs `callmon run` in this process until it exits by itself.
func runUntilExit(t *testing.T, file string) (code int, stderr string) {
	t.Helper()
	begin := time.Now()
	code, _, stderr = runMain(t, "run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--log.format", "json")
	if time.Since(begin) >= waitFor {
		t.Fatalf("callmon run did not stop by itself within %v:\n%s", waitFor, stderr)
	}
	return code, stderr
}

// TestRunWrongCredentials: Asterisk answers 401 (as the fake does for a wrong
// password): callmon stops at start with exit status 1 and says what to
// check, without claiming to run or printing the password.
func TestRunWrongCredentials(t *testing.T) {
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	t.Setenv(config.PasswordEnv, "wrong-pw")
	t.Setenv(config.DatabaseEnv, "")
	code, stderr := runUntilExit(t, startupConfig(t, fake.URL()))
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	want := `refused user "callmon" (401 Unauthorized): check ari.user and the password (CALLMON_ARI_PASSWORD or ari.password_file)`
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, "callmon running") || strings.Contains(stderr, "wrong-pw") {
		t.Errorf("stderr claims to run or shows the password:\n%s", stderr)
	}
	// The fake refused as Asterisk does: 401, and nothing was handled.
	var refused int
	for _, r := range fake.Log() {
		if r.Kind == aritest.KindREST && r.Status == 401 {
			refused++
		}
	}
	if refused == 0 || fake.Stats().Requests != 0 {
		t.Errorf("fake: %d requests refused with 401, %d handled; want some refused, none handled", refused, fake.Stats().Requests)
	}
}

// TestRunMissingModule: an ARI module callmon needs is not loaded (Asterisk
// answers 404 "Resource not found"): callmon stops at start naming it.
func TestRunMissingModule(t *testing.T) {
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "pw", Unloaded: []string{"res_ari_bridges"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	t.Setenv(config.PasswordEnv, "pw")
	t.Setenv(config.DatabaseEnv, "")
	code, stderr := runUntilExit(t, startupConfig(t, fake.URL()))
	if want := "has no bridges resource (404): load the Asterisk module res_ari_bridges (module load res_ari_bridges.so"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit code %d (want 1); stderr lacks %q:\n%s", code, want, stderr)
	}
}

// TestRunAsteriskNotUpYet: connection refused at start is not fatal: callmon
// runs and keeps trying; when Asterisk comes up it connects, and if that
// Asterisk then refuses the credentials callmon stops with status 1.
func TestRunAsteriskNotUpYet(t *testing.T) {
	t.Setenv(config.PasswordEnv, "pw")
	t.Setenv(config.DatabaseEnv, "")
	for _, c := range []struct {
		name, password string
		wantExit       bool
	}{
		{"right password", "pw", false},
		{"wrong password", "other", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := freeAddr(t)
			file := startupConfig(t, "http://"+addr+"/ari")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- Main(ctx, []string{"run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--log.format", "json"}, &stdout, &stderr)
			}()
			eventually(t, "callmon to run while Asterisk is down", func() bool {
				return strings.Contains(stderr.String(), `"msg":"callmon running"`)
			})
			if !strings.Contains(stderr.String(), "Asterisk cannot be reached yet; callmon keeps trying") {
				t.Errorf("no warning that Asterisk is not reachable:\n%s", stderr.String())
			}
			fake, err := aritest.New(aritest.Options{User: "callmon", Password: c.password, Listen: addr})
			if err != nil {
				t.Fatal(err)
			}
			defer fake.Close()
			if c.wantExit {
				select {
				case code := <-done:
					if code != 1 || !strings.Contains(stderr.String(), "(401 Unauthorized)") {
						t.Errorf("exit code %d, want 1 with the 401 message:\n%s", code, stderr.String())
					}
				case <-time.After(waitFor):
					t.Fatalf("callmon did not stop on the 401 of an Asterisk that came up late:\n%s", stderr.String())
				}
				return
			}
			actx, acancel := context.WithTimeout(context.Background(), waitFor)
			defer acancel()
			if err := fake.Await(actx, fake.Connected); err != nil {
				t.Fatalf("callmon did not connect once Asterisk was up: %v\n%s", err, stderr.String())
			}
			eventually(t, "the check to pass", func() bool { return strings.Contains(stderr.String(), "ARI start-up check passed") })
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit code = %d, want 0:\n%s", code, stderr.String())
			}
		})
	}
}

// TestRunTLS: an https ARI URL signed by a private CA works with ari.ca_file
// (REST and the wss events websocket); without it callmon stops at start
// and names the setting.
func TestRunTLS(t *testing.T) {
	// httptest's certificate is for 127.0.0.1 and signed by itself: a
	// private CA as far as callmon knows.
	ts := httptest.NewTLSServer(nil)
	certs := ts.TLS.Certificates
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	ts.Close()
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "pw", TLS: &tls.Config{Certificates: certs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	if !strings.HasPrefix(fake.URL(), "https://") {
		t.Fatalf("fake URL %s is not https", fake.URL())
	}
	t.Setenv(config.PasswordEnv, "pw")
	t.Setenv(config.DatabaseEnv, "")

	code, stderr := runUntilExit(t, startupConfig(t, fake.URL()))
	if want := "signed by an unknown authority: set ari.ca_file"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("without ari.ca_file: exit code %d (want 1), stderr lacks %q:\n%s", code, want, stderr)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	file := startupConfig(t, fake.URL(), "ca_file: "+ca)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config.file", file, "--web.listen-address", "127.0.0.1:0"}, &stdout, &errb)
	}()
	actx, acancel := context.WithTimeout(context.Background(), waitFor)
	defer acancel()
	if err := fake.Await(actx, fake.Connected); err != nil {
		t.Fatalf("callmon did not connect over wss: %v\n%s", err, errb.String())
	}
	if fake.Stats().Requests == 0 {
		t.Errorf("no REST request reached the fake over https")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code = %d, want 0:\n%s", code, errb.String())
	}
}

// TestRunAccessLog: --web.access-log writes one redacted line per request
// to the daemon's HTTP server.
func TestRunAccessLog(t *testing.T) {
	fake, err := aritest.New(aritest.Options{User: "callmon", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	t.Setenv(config.PasswordEnv, "pw")
	t.Setenv(config.DatabaseEnv, "")
	file := startupConfig(t, fake.URL())
	if err := os.WriteFile(file, append(must(os.ReadFile(file)), testConfigSupervisor()...), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "access.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config.file", file, "--web.listen-address", "127.0.0.1:0", "--log.format", "json",
			"--api.listen-address", "127.0.0.1:0", "--web.access-log", logFile}, &stdout, &stderr)
	}()
	listenRE := regexp.MustCompile(`"msg":"callmon running".*"listen":"(127\.0\.0\.1:\d+)","api":"(127\.0\.0\.1:\d+)"`)
	var addr, api string
	eventually(t, "the running line", func() bool {
		m := listenRE.FindStringSubmatch(stderr.String())
		if m != nil {
			addr, api = m[1], m[2]
		}
		return m != nil
	})
	// A signed-in supervisor's request on the API listener is logged with
	// who made it.
	sreq, _ := http.NewRequest("GET", "http://"+api+"/api/agents", nil)
	sresp, err := (&http.Client{Timeout: waitFor}).Do(authorize(sreq, testSupervisor))
	if err != nil {
		t.Fatal(err)
	}
	sresp.Body.Close()
	if sresp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/agents as %s: %d", testSupervisor, sresp.StatusCode)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/agents?token=t0ken-value&number=0612345678", nil)
	req.Header.Set("Authorization", "Bearer t0ken-value")
	resp, err := (&http.Client{Timeout: waitFor}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d:\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	line := string(data)
	if !strings.Contains(line, `msg=http`) || !strings.Contains(line, `path="/api/agents?number=REDACTED&token=REDACTED"`) ||
		!strings.Contains(line, "status="+strconv.Itoa(resp.StatusCode)) {
		t.Errorf("access log:\n%s", line)
	}
	if !regexp.MustCompile(`path=/api/agents status=200 .*principal=` + testSupervisor).MatchString(line) {
		t.Errorf("the supervisor's request is not logged with who made it:\n%s", line)
	}
	if strings.Contains(line, "t0ken-value") || strings.Contains(line, "0612345678") {
		t.Errorf("the access log shows a token or number:\n%s", line)
	}
	if strings.Contains(stderr.String(), "msg=http") {
		t.Errorf("access lines went to the daemon's log too")
	}
}

// TestRunDatabaseNotUpYet: PostgreSQL refuses connections when callmon starts (a restart, a
// boot order): callmon says so, keeps trying, and runs once it answers, instead of exiting (a
// standby restarted during a database restart exited again, seen in the chaos test).
func TestRunDatabaseNotUpYet(t *testing.T) {
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	t.Setenv(config.PasswordEnv, "pw")
	t.Setenv(config.DatabaseEnv, proxy.URL(pgtest.URL(t, "cmd_db_not_up")))
	proxy.Cut()
	file := startupConfig(t, "http://"+freeAddr(t)+"/ari")
	cfg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(cfg, "database:\n  migrate_on_start: true\n  spool_file: "+filepath.Join(t.TempDir(), "spool.jsonl")+"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--config.file", file, "--web.listen-address", "127.0.0.1:0",
			"--api.listen-address", "127.0.0.1:0", "--log.format", "json"}, &stdout, &stderr)
	}()
	eventually(t, "a warning that PostgreSQL cannot be reached", func() bool {
		return strings.Contains(stderr.String(), "PostgreSQL cannot be reached yet; callmon keeps trying")
	})
	select {
	case code := <-done:
		t.Fatalf("callmon exited (%d) while PostgreSQL was down:\n%s", code, stderr.String())
	default:
	}
	proxy.Restore()
	eventually(t, "callmon to run once PostgreSQL answers", func() bool {
		return strings.Contains(stderr.String(), `"msg":"callmon running"`)
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code = %d, want 0:\n%s", code, stderr.String())
	}
}

// What waiting mends, and what it does not: callmon must still stop at once on a wrong
// password or a missing database.
func TestTransientDB(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("load agent presence: %w", &pgconn.PgError{Code: "57P01"}), true},
		{&pgconn.PgError{Code: "28P01", Message: "password authentication failed"}, false},
		{&pgconn.PgError{Code: "3D000", Message: "database does not exist"}, false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{io.ErrUnexpectedEOF, true},
		{errors.New("schema version 7, this callmon knows 9"), false},
	} {
		if got := transientDB(c.err); got != c.want {
			t.Errorf("transientDB(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
