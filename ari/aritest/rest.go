package aritest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reqState is the REST request being handled; events emitted meanwhile belong to it.
type reqState struct {
	seq  int
	gate chan struct{} // OrderResponseFirst: its events wait until the response is out
	last *item         // OrderEventsFirst: the response waits until this frame is written
}

// request is what a handler sees; handlers run under s.mu.
type request struct {
	r      *http.Request
	params params
}

func (q *request) path(name string) string { return q.r.PathValue(name) }

// reply is a handler's answer: a status and, unless nil, a JSON body; or a body in another
// format (data, with its Content-Type: the audio of a stored recording).
type reply struct {
	status int
	body   any
	data   []byte
	ctype  string
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

var noContent = reply{status: http.StatusNoContent}

func fail(status int, msg string) reply { return reply{status: status, body: errorBody(msg)} }

// allocationFailed is ARI's answer when no channel could be created; unlike other errors its
// key is "error" (rest-errors).
var allocationFailed = reply{status: http.StatusInternalServerError, body: object{{"error", "Allocation failed"}}}

type methods map[string]func(*request) reply

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, m methods) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serveREST(w, r, m) })
	}
	handle("/ari/", methods{}) // anything else: 404
	mux.HandleFunc("/ari/events", s.serveEvents)

	handle("/ari/channels", methods{"GET": s.listChannels, "POST": s.originate})
	handle("/ari/channels/create", methods{"POST": s.notEmulated})
	handle("/ari/channels/externalMedia", methods{"POST": s.notEmulated})
	handle("/ari/channels/{id}", methods{"GET": s.getChannel, "POST": s.originate, "DELETE": s.hangupChannel})
	handle("/ari/channels/{id}/answer", methods{"POST": s.answerChannel})
	handle("/ari/channels/{id}/ring", methods{"POST": s.ringChannel, "DELETE": s.ringChannel})
	handle("/ari/channels/{id}/dtmf", methods{"POST": s.channelNoop})
	handle("/ari/channels/{id}/moh", methods{"POST": s.channelNoop, "DELETE": s.channelNoop})
	handle("/ari/channels/{id}/play", methods{"POST": s.playOnChannel})
	handle("/ari/channels/{id}/play/{playback}", methods{"POST": s.playOnChannel})
	handle("/ari/channels/{id}/variable", methods{"GET": s.getVariable, "POST": s.setVariable})
	handle("/ari/channels/{id}/continue", methods{"POST": s.continueChannel})
	handle("/ari/channels/{id}/record", methods{"POST": s.recordChannel})

	handle("/ari/bridges", methods{"GET": s.listBridges, "POST": s.createBridge})
	handle("/ari/bridges/{id}", methods{"GET": s.getBridge, "POST": s.createBridge, "DELETE": s.destroyBridge})
	handle("/ari/bridges/{id}/addChannel", methods{"POST": s.addChannel})
	handle("/ari/bridges/{id}/removeChannel", methods{"POST": s.removeChannel})
	handle("/ari/bridges/{id}/moh", methods{"POST": s.startMOH, "DELETE": s.stopMOH})
	handle("/ari/bridges/{id}/play", methods{"POST": s.playOnBridge})
	handle("/ari/bridges/{id}/play/{playback}", methods{"POST": s.playOnBridge})
	handle("/ari/bridges/{id}/record", methods{"POST": s.notEmulated})

	handle("/ari/playbacks/{id}", methods{"GET": s.getPlayback, "DELETE": s.stopPlayback})

	handle("/ari/applications", methods{"GET": s.listApplications})
	handle("/ari/applications/{app}", methods{"GET": s.getApplication})
	handle("/ari/applications/{app}/subscription", methods{"POST": s.subscribe, "DELETE": s.unsubscribe})

	handle("/ari/endpoints", methods{"GET": s.listEndpoints})
	handle("/ari/endpoints/{tech}", methods{"GET": s.listEndpoints})
	handle("/ari/endpoints/{tech}/{resource}", methods{"GET": s.getEndpoint})

	handle("/ari/recordings/stored", methods{"GET": s.listStoredRecordings})
	handle("/ari/recordings/stored/{name}", methods{"GET": s.getStoredRecording, "DELETE": s.deleteStoredRecording})
	handle("/ari/recordings/stored/{name}/file", methods{"GET": s.storedRecordingFile})
	handle("/ari/recordings/stored/{name}/copy", methods{"POST": s.copyStoredRecording})
	handle("/ari/recordings/live/{name}", methods{"GET": s.getLiveRecording, "DELETE": s.cancelLiveRecording})
	handle("/ari/recordings/live/{name}/stop", methods{"POST": s.stopLiveRecording})
	handle("/ari/recordings/live/{name}/pause", methods{"POST": s.notEmulated, "DELETE": s.notEmulated})
	handle("/ari/recordings/live/{name}/mute", methods{"POST": s.notEmulated, "DELETE": s.notEmulated})

	handle("/ari/mailboxes", methods{"GET": s.listMailboxes})
	handle("/ari/mailboxes/{name}", methods{"GET": s.getMailbox, "PUT": s.updateMailbox, "DELETE": s.deleteMailbox})

	handle("/ari/asterisk/info", methods{"GET": s.asteriskInfo})
	return mux
}

// serveREST authenticates, runs the handler under s.mu, and writes the response on the chosen
// side of the events the handler emitted.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request, m methods) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if !s.authorized(r) {
		resp := marshal(errorBody("Authentication required"))
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		s.logREST(0, r, body, http.StatusUnauthorized, resp, "application/json", len(resp))
		writeJSON(w, http.StatusUnauthorized, resp)
		return
	}

	if d, kind := s.faults.draw(r); d > 0 || kind != faultNone {
		s.hold(d) // outside s.mu: a slow request must not stall the others
		switch kind {
		case faultFail:
			resp := marshal(allocationFailed.body)
			s.logREST(0, r, body, allocationFailed.status, resp, "application/json", len(resp))
			s.notify()
			writeBody(w, allocationFailed.status, "application/json", resp)
			return
		case faultDrop:
			s.logREST(0, r, body, 0, nil, "", 0)
			s.notify()
			drop(w)
			return
		}
	}

	// Parsed before taking s.mu: it needs no state, and every request waits on s.mu.
	p, perr := parseParams(body, r.URL.Query())
	s.mu.Lock()
	s.reqSeq++
	cur := &reqState{seq: s.reqSeq}
	if s.pickOrder() == OrderResponseFirst {
		cur.gate = make(chan struct{})
	}
	s.cur = cur
	rep := s.handle(r, p, perr, m)
	s.cur = nil
	s.mu.Unlock()
	s.stats.requests.Add(1)

	if cur.gate != nil {
		defer close(cur.gate) // after the response is written and logged
	} else if cur.last != nil {
		// Bounded: a client that stops reading its websocket must not hang its REST calls.
		select {
		case <-cur.last.done:
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	var resp, logged []byte
	ctype := ""
	switch {
	case rep.data != nil:
		resp, ctype = rep.data, rep.ctype // audio: the log keeps its type and size only
	case rep.body != nil:
		resp, ctype = marshal(rep.body), "application/json"
		logged = resp
	}
	// Logged before it is written, so that a client holding the response finds it in Log.
	s.logREST(cur.seq, r, body, rep.status, logged, ctype, len(resp))
	s.notify()
	if r.Method == http.MethodHead {
		writeHead(w, rep.status, ctype, resp)
		return
	}
	writeBody(w, rep.status, ctype, resp)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// writeHead answers a HEAD request as Asterisk does: ARI has no HEAD methods, and its 405 comes
// with the 28-byte body {"message":"Invalid method"} although a HEAD response has none (README
// scenario 5). net/http never writes a body for HEAD, so the response is written on the raw
// connection. Unlike Asterisk the fake then closes the connection (and says so): a client that
// reused it would read those 28 bytes as the start of its next response (Go's transport logs
// "Unsolicited response received on idle HTTP channel", or fails the next request if it won
// the race to the idle connection).
func writeHead(w http.ResponseWriter, status int, ctype string, body []byte) {
	hj, canHijack := w.(http.Hijacker)
	if !canHijack {
		writeBody(w, status, ctype, body)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	fmt.Fprintf(buf, "Server: Asterisk/22.10.1\r\nDate: %s\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n",
		time.Now().UTC().Format(http.TimeFormat))
	if ctype != "" {
		fmt.Fprintf(buf, "Content-Type: %s\r\n", ctype)
	}
	fmt.Fprintf(buf, "Content-Length: %d\r\n\r\n", len(body))
	buf.Write(body)
	buf.Flush()
}

func (s *Server) handle(r *http.Request, p params, perr error, m methods) reply {
	h := m[r.Method]
	switch {
	case len(m) == 0 || s.unloaded(r.URL.Path):
		return fail(http.StatusNotFound, "Resource not found")
	case h == nil:
		return fail(http.StatusMethodNotAllowed, "Invalid method")
	}
	if perr != nil {
		return fail(http.StatusBadRequest, "Error parsing request body")
	}
	return h(&request{r: r, params: p})
}

// unloaded reports whether path belongs to a module of Options.Unloaded: /ari/bridges/x to
// res_ari_bridges.
func (s *Server) unloaded(path string) bool {
	res, _, _ := strings.Cut(strings.TrimPrefix(path, "/ari/"), "/")
	return slices.Contains(s.opt.Unloaded, "res_ari_"+res)
}

func (s *Server) pickOrder() Order {
	if s.order != OrderRandom {
		return s.order
	}
	if s.rng.IntN(2) == 0 {
		return OrderEventsFirst
	}
	return OrderResponseFirst
}

func (s *Server) logREST(seq int, r *http.Request, body []byte, status int, resp []byte, ctype string, length int) {
	s.record(Record{
		Kind: KindREST, Time: s.now(), Seq: seq,
		Method: r.Method, Path: r.URL.RequestURI(), Body: body,
		Status: status, Response: resp, ContentType: ctype, Length: length,
	})
}

// writeJSON writes a JSON document, or for a nil body only the status: Asterisk's 204s have
// neither body nor Content-Type.
func writeJSON(w http.ResponseWriter, status int, body any) {
	var data []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		data = b
	default:
		data = marshal(b)
	}
	ctype := ""
	if data != nil {
		ctype = "application/json"
	}
	writeBody(w, status, ctype, data)
}

// writeBody writes a response; without a body it has no Content-Type either.
func writeBody(w http.ResponseWriter, status int, ctype string, data []byte) {
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opt.User == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		// Asterisk also takes api_key=user:password in the query string.
		user, pass, ok = strings.Cut(r.URL.Query().Get("api_key"), ":")
	}
	return ok &&
		subtle.ConstantTimeCompare([]byte(user), []byte(s.opt.User)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.opt.Password)) == 1
}

// params are a request's parameters: ARI takes them from the JSON body or the query string.
type params struct {
	body  map[string]json.RawMessage
	query url.Values
}

func parseParams(body []byte, query url.Values) (params, error) {
	p := params{query: query}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	err := json.Unmarshal(body, &p.body)
	return p, err
}

func (p params) has(name string) bool {
	_, inBody := p.body[name]
	return inBody || p.query.Has(name)
}

// str is a string parameter; JSON numbers and booleans are taken as written.
func (p params) str(name string) string {
	if raw, ok := p.body[name]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	return p.query.Get(name)
}

func (p params) integer(name string, def int) int {
	v := p.str(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

// boolean is a boolean parameter: a JSON true, or a string Asterisk's ast_true accepts.
func (p params) boolean(name string) bool {
	switch strings.ToLower(p.str(name)) {
	case "true", "yes", "y", "t", "1", "on":
		return true
	}
	return false
}

// list is a parameter Asterisk allows several of (allowMultiple): a JSON array in the body, a
// single value if the body has a string (Asterisk's generated param parsing does not split it:
// "a,b" is one value), or a comma-separated query string.
func (p params) list(name string) []string {
	if raw, ok := p.body[name]; ok {
		var l []string
		if json.Unmarshal(raw, &l) == nil {
			return l
		}
		if v := p.str(name); v != "" {
			return []string{v}
		}
		return nil
	}
	var out []string
	for _, part := range strings.Split(p.query.Get(name), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func (s *Server) notEmulated(*request) reply {
	return fail(http.StatusNotImplemented, "not emulated by aritest")
}
