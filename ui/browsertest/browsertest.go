// Package browsertest drives a headless Chromium (Debian's chromium) over the DevTools protocol
// for the tests of callmon's pages: one websocket to one page, commands matched to their
// results, the page's console errors kept. It fails a test, never skips it, when Chromium is
// missing.
package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Browser is a headless Chromium driven over the DevTools protocol: one
// websocket to one page, requests matched to responses by id.
type Browser struct {
	conn *websocket.Conn

	mu       sync.Mutex
	nextID   int64
	pending  map[int64]chan cdpMessage
	waiters  map[string][]chan json.RawMessage
	messages []string // console output and exceptions of the page
	problems []string // those that are errors
}

type cdpMessage struct {
	ID     int64           `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Path finds Chromium: $CHROMIUM, else the usual names on PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("headless Chromium is required for this test and was not found " +
		"(looked for chromium, chromium-browser, google-chrome on PATH): install it with " +
		"apt-get install -y chromium (Debian), or set CHROMIUM to its path")
}

var devtoolsLine = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Start starts a headless Chromium with a profile of its own and
// connects to its first page. It fails the test, not skips it, when
// Chromium is missing. The browser is stopped when the test ends.
func Start(ctx context.Context, t testing.TB) *Browser {
	t.Helper()
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "--remote-allow-origins=*",
		"about:blank")
	// Its own process group: the helpers it forks end with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	exited := make(chan struct{})
	var output strings.Builder // stderr up to the DevTools line, for a failure message
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
			output.WriteString(sc.Text() + "\n")
		}
		for sc.Scan() { // keep draining, or Chromium blocks on a full pipe
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		// Helpers still exiting (or a browser that would not) go now.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	var browserURL string
	select {
	case browserURL = <-found:
	case <-exited:
		t.Fatalf("%s exited before it listened for DevTools:\n%s", path, output.String())
	case <-ctx.Done():
		t.Fatalf("%s did not listen for DevTools: %v", path, ctx.Err())
	}

	// The page Chromium opened: /json/list on the DevTools port.
	host := strings.TrimPrefix(browserURL, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+host+"/json/list", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	err = json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	pageURL := ""
	for _, tg := range targets {
		if tg.Type == "page" {
			pageURL = tg.WebSocketDebuggerURL
			break
		}
	}
	if pageURL == "" {
		t.Fatalf("no page among the DevTools targets %+v", targets)
	}
	conn, _, err := websocket.Dial(ctx, pageURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(64 << 20)
	b := &Browser{conn: conn, pending: map[int64]chan cdpMessage{}, waiters: map[string][]chan json.RawMessage{}}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		b.read()
	}()
	t.Cleanup(func() {
		conn.Close(websocket.StatusNormalClosure, "")
		<-readDone
	})
	// Console messages and uncaught exceptions, for failure messages.
	if _, err := b.Call(ctx, "Runtime.enable", nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// read dispatches messages until the connection closes.
func (b *Browser) read() {
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			for _, ch := range b.waiters[m.Method] {
				ch <- m.Params
			}
			delete(b.waiters, m.Method)
			b.note(m)
		}
		b.mu.Unlock()
	}
}

// note keeps the page's console output and exceptions; b.mu is held.
func (b *Browser) note(m cdpMessage) {
	switch m.Method {
	case "Runtime.consoleAPICalled":
		var p struct {
			Type string
			Args []struct{ Value any }
		}
		json.Unmarshal(m.Params, &p)
		var args []string
		for _, a := range p.Args {
			args = append(args, fmt.Sprint(a.Value))
		}
		line := "console." + p.Type + ": " + strings.Join(args, " ")
		b.messages = append(b.messages, line)
		if p.Type == "error" {
			b.problems = append(b.problems, line)
		}
	case "Runtime.exceptionThrown":
		line := "exception: " + string(m.Params)
		b.messages = append(b.messages, line)
		b.problems = append(b.problems, line)
	}
}

func (b *Browser) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.messages, "\n")
}

func (b *Browser) Errors() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.problems, "\n")
}

// On returns a channel that receives the params of the next event method.
func (b *Browser) On(method string) <-chan json.RawMessage {
	ch := make(chan json.RawMessage, 1)
	b.mu.Lock()
	b.waiters[method] = append(b.waiters[method], ch)
	b.mu.Unlock()
	return ch
}

// Call sends a command and waits for its result.
func (b *Browser) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: the browser went away", method)
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and returns its value.
func (b *Browser) Eval(ctx context.Context, t testing.TB, expr string) any {
	t.Helper()
	res, err := b.Call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "awaitPromise": true, "returnByValue": true,
	})
	if err != nil {
		t.Fatalf("evaluate %s: %v\npage log:\n%s", expr, err, b.Log())
	}
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	if r.ExceptionDetails != nil {
		t.Fatalf("evaluate %s: %s", expr, r.ExceptionDetails)
	}
	return r.Result.Value
}

// WaitFor waits until cond (a JavaScript expression) holds in the page. The
// page itself waits, with a MutationObserver: it answers when the document
// changes so that cond holds, or fails the test at ctx's deadline.
func (b *Browser) WaitFor(ctx context.Context, t testing.TB, cond string) {
	t.Helper()
	expr := `new Promise(resolve => {
		const ok = () => { try { return Boolean(` + cond + `); } catch (e) { return false; } };
		if (ok()) return resolve(true);
		const o = new MutationObserver(() => { if (ok()) { o.disconnect(); resolve(true); } });
		o.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
	})`
	res, err := b.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		t.Fatalf("waiting for %s: %v\npage log:\n%s", cond, err, b.Log())
	}
	if !strings.Contains(string(res), `"value":true`) {
		t.Fatalf("waiting for %s: %s", cond, res)
	}
}
