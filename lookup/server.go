package lookup

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"callmon/audit"
	"callmon/auth"
	"callmon/ui"
)

// Config is what the look-up needs.
type Config struct {
	Pool  *pgxpool.Pool
	Auth  *auth.Authenticator
	Audit *audit.Logger
	// HashKey keys the hash of the number in the audit line (the number itself is never
	// logged); the same key gives the same hash, so look-ups of one number can be found.
	HashKey []byte
	// Retention is how long call records keep callers' numbers (0: for ever).
	Retention time.Duration
	Language  ui.Setting
	Now       func() time.Time
	Log       *slog.Logger
}

// Server serves the look-up to supervisors.
type Server struct{ cfg Config }

// New returns a look-up server.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg}
}

// Routes are the patterns Handler serves.
func (s *Server) Routes() []string { return []string{"GET /lookup", "GET /api/lookup"} }

// Handler serves Routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lookup", s.page)
	mux.HandleFunc("GET /api/lookup", s.api)
	return mux
}

// NumberHash is the audit trail's keyed hash of a number (national form).
func NumberHash(key []byte, national string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(national))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// query is a parsed request: the number and the Amsterdam days from and to (inclusive).
type query struct {
	number   string
	from, to time.Time // [from, to) instants
	fromDay  string
	toDay    string
	given    bool // a number was asked for
}

func parseQuery(r *http.Request, l ui.Lang, now time.Time) (query, error) {
	v := r.URL.Query()
	q := query{number: strings.TrimSpace(v.Get("number")), fromDay: v.Get("from"), toDay: v.Get("to")}
	q.given = q.number != ""
	today := now.In(ui.Amsterdam).Format(time.DateOnly)
	if q.toDay == "" {
		q.toDay = today
	}
	if q.fromDay == "" {
		q.fromDay = now.In(ui.Amsterdam).AddDate(0, 0, -30).Format(time.DateOnly)
	}
	day := func(s string) (time.Time, error) {
		t, err := time.ParseInLocation(time.DateOnly, s, ui.Amsterdam)
		if err != nil {
			return time.Time{}, errors.New(l.F("bad-date", s))
		}
		return t, nil
	}
	var err error
	if q.from, err = day(q.fromDay); err != nil {
		return q, err
	}
	if q.to, err = day(q.toDay); err != nil {
		return q, err
	}
	q.to = q.to.AddDate(0, 0, 1) // to is inclusive: up to the next midnight
	if !q.given {
		return q, nil
	}
	if _, _, err := Forms(q.number); err != nil {
		return q, errors.New(l.F("bad-number", q.number))
	}
	if !q.to.After(q.from) || q.to.Sub(q.from) > MaxPeriod+25*time.Hour {
		return q, errors.New(l.T("bad-period"))
	}
	return q, nil
}

// allowed lets supervisors in.
func (s *Server) allowed(w http.ResponseWriter, r *http.Request, l ui.Lang, html bool) (auth.Principal, bool) {
	p, err := s.cfg.Auth.Authenticate(r)
	var th *auth.ThrottledError
	switch {
	case errors.As(err, &th):
		auth.Deny(w, err)
	case err != nil && html:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `<!doctype html><html lang="%s"><meta charset="utf-8"><title>%s</title><p>%s <a href="/signin?lang=%s&amp;next=%s">%s</a></p>`,
			l, l.T("lookup"), l.T("signed-out"), l, url.QueryEscape("/lookup"), l.T("sign-in"))
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="callmon"`)
		writeError(w, http.StatusUnauthorized, "sign in: a supervisor's token (Authorization: Bearer) or session")
	case p.Role != auth.Supervisor:
		writeError(w, http.StatusForbidden, "the look-up is for supervisors")
	default:
		return p, true
	}
	return auth.Principal{}, false
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// find runs a look-up and writes its audit line: who, when, and the number's keyed hash.
func (s *Server) find(ctx context.Context, p auth.Principal, q query) (Result, error) {
	national, _, _ := Forms(q.number)
	now := s.cfg.Now()
	var masked time.Time
	if s.cfg.Retention > 0 {
		masked = now.Add(-s.cfg.Retention)
	}
	res, err := Find(ctx, s.cfg.Pool, q.number, q.from, q.to, now, masked)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	s.cfg.Audit.Record(ctx, audit.Entry{Who: p.ID, Role: string(p.Role), Action: "lookup " + q.fromDay + ".." + q.toDay,
		Target: "number-hmac:" + NumberHash(s.cfg.HashKey, national), Outcome: outcome})
	return res, err
}

// GET /api/lookup?number=&from=&to=[&format=csv]
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	l := ui.Choose(r, s.cfg.Language)
	p, ok := s.allowed(w, r, l, false)
	if !ok {
		return
	}
	q, err := parseQuery(r, ui.EN, s.cfg.Now())
	if err == nil && !q.given {
		err = errors.New("give the caller's number: ?number=0612345678&from=2026-11-01&to=2026-11-30")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := s.find(r.Context(), p, q)
	if err != nil {
		s.cfg.Log.Error("look-up failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the call records cannot be read now")
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="callmon-lookup.csv"`)
		writeCSV(w, res)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// safe keeps a spreadsheet from running a cell as a formula (CSV injection): a cell that
// starts with = + - @ or a tab or carriage return gets a leading apostrophe.
func safe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func rfc(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(ui.Amsterdam).Format(time.RFC3339)
}

func writeCSV(w http.ResponseWriter, res Result) {
	cw := csv.NewWriter(w)
	cw.Write([]string{"channel_id", "queue", "kind", "entry", "answered", "ended", "wait_seconds", "outcome", "agent",
		"callback_window_start", "callback_window_end", "callback_status", "callback_kept", "callback_completed",
		"voicemail_employee", "voicemail_received", "voicemail_heard"})
	for _, c := range res.Calls {
		row := []string{c.Channel, c.Queue, c.Kind, rfc(&c.Entry), rfc(c.Answered), rfc(&c.Ended),
			strconv.FormatFloat(float64(c.WaitMS)/1000, 'f', 3, 64), c.Outcome, c.Agent, "", "", "", "", "", "", "", ""}
		if cb := c.Callback; cb != nil {
			row[9], row[10], row[11], row[12], row[13] = rfc(&cb.WindowStart), rfc(&cb.WindowEnd), cb.Status, cb.Kept, rfc(cb.CompletedAt)
		}
		if v := c.Voicemail; v != nil {
			row[14], row[15], row[16] = v.Employee, rfc(&v.ReceivedAt), rfc(v.HeardAt)
		}
		for i := range row {
			row[i] = safe(row[i])
		}
		cw.Write(row)
	}
	cw.Flush()
}

var pageTemplate = template.Must(template.New("lookup").Parse(`<!doctype html>
<html lang="{{.L}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.lookup}} · callmon</title>
<style>
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;background:#fff}
body{margin:0;padding:1rem;max-width:70rem}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:baseline;gap:.5rem}
h1{margin:0;font-size:1.6rem}
a{color:#0b4f8a}
form{display:flex;flex-wrap:wrap;gap:.75rem;align-items:end;margin:1rem 0}
label{display:flex;flex-direction:column;gap:.25rem;font-weight:600}
input{font:inherit;padding:.4rem;border:2px solid #555;border-radius:.25rem;max-width:100%}
button{font:inherit;padding:.45rem 1rem;background:#0b4f8a;color:#fff;border:0;border-radius:.25rem}
.error{padding:.75rem;background:#8a1c1c;color:#fff;font-weight:700;border-radius:.25rem}
.note{padding:.75rem;border:2px solid #8a5a00;border-radius:.25rem}
.call{border:2px solid #767676;border-radius:.4rem;padding:.75rem 1rem;margin:.75rem 0}
.call h2{margin:0 0 .5rem;font-size:1.15rem}
dl{display:grid;grid-template-columns:minmax(8rem,max-content) minmax(0,1fr);gap:.25rem 1rem;margin:0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
</style></head>
<body>
<header><h1>{{.T.lookup}}</h1><nav><a href="{{.Switch}}" lang="{{.Other}}">{{.T.switch}}</a></nav></header>
<main>
<p>{{.T.lead}}</p>
<form method="get" action="/lookup">
<input type="hidden" name="lang" value="{{.L}}">
<label for="number">{{.T.number}}<input id="number" name="number" inputmode="tel" autocomplete="off" value="{{.Number}}" required></label>
<label for="from">{{.T.from}}<input id="from" name="from" type="date" value="{{.From}}"></label>
<label for="to">{{.T.to}}<input id="to" name="to" type="date" value="{{.To}}"></label>
<button type="submit">{{.T.search}}</button>
</form>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .Done}}
<p role="status">{{.Found}}</p>
{{if .Masked}}<p class="note">{{.Masked}}</p>{{end}}
<p>{{.T.download}} <a href="{{.JSON}}">JSON</a> · <a href="{{.CSV}}">CSV</a></p>
{{range .Calls}}<article class="call">
<h2>{{.Entered}} · {{.Queue}}</h2>
<dl>
<dt>{{$.T.wait}}</dt><dd>{{.Wait}}</dd>
<dt>{{$.T.outcome}}</dt><dd>{{.Outcome}}</dd>
<dt>{{$.T.agent}}</dt><dd>{{.Agent}}</dd>
<dt>{{$.T.callback}}</dt><dd>{{.Callback}}</dd>
<dt>{{$.T.voicemail}}</dt><dd>{{.Voicemail}}</dd>
</dl>
</article>
{{end}}{{end}}
</main></body></html>
`))

type callView struct{ Entered, Queue, Wait, Outcome, Agent, Callback, Voicemail string }

// GET /lookup: the form, and the calls found.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	l := ui.Choose(r, s.cfg.Language)
	p, ok := s.allowed(w, r, l, true)
	if !ok {
		return
	}
	ui.Remember(w, r)
	keys := []string{"lookup", "switch", "number", "from", "to", "search", "download", "wait", "outcome", "agent", "callback", "voicemail"}
	t := map[string]string{"lead": l.T("lookup-lead")}
	for _, k := range keys {
		t[k] = l.T(k)
	}
	q, err := parseQuery(r, l, s.cfg.Now())
	d := struct {
		L, Other                 ui.Lang
		T                        map[string]string
		Switch, Number, From, To string
		Error, Found, Masked     string
		JSON, CSV                string
		Done                     bool
		Calls                    []callView
	}{L: l, Other: l.Other(), T: t, Number: q.number, From: q.fromDay, To: q.toDay}
	sw := r.URL.Query()
	sw.Set("lang", string(l.Other()))
	d.Switch = "/lookup?" + sw.Encode()
	code := http.StatusOK
	switch {
	case err != nil:
		d.Error, code = err.Error(), http.StatusBadRequest
	case q.given:
		res, ferr := s.find(r.Context(), p, q)
		if ferr != nil {
			s.cfg.Log.Error("look-up failed", "err", ferr)
			d.Error, code = l.T("db-lost"), http.StatusServiceUnavailable
			break
		}
		d.Done = true
		d.Found = l.F("found", len(res.Calls), res.Number, q.fromDay, q.toDay)
		if res.MaskedBefore != nil {
			d.Masked = l.F("masked-before", l.DateTime(*res.MaskedBefore))
		}
		v := url.Values{"number": {res.Number}, "from": {q.fromDay}, "to": {q.toDay}}
		d.JSON = "/api/lookup?" + v.Encode()
		v.Set("format", "csv")
		d.CSV = "/api/lookup?" + v.Encode()
		for _, c := range res.Calls {
			d.Calls = append(d.Calls, s.callView(l, c))
		}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		s.cfg.Log.Error("look-up page", "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

func (s *Server) callView(l ui.Lang, c Call) callView {
	v := callView{Entered: l.DateTime(c.Entry) + ":" + c.Entry.In(ui.Amsterdam).Format("05"), Queue: c.Queue,
		Wait: l.F("seconds", float64(c.WaitMS)/1000), Outcome: l.T("out-" + c.Outcome), Agent: c.Agent,
		Callback: l.T("none"), Voicemail: l.T("none")}
	if v.Agent == "" {
		v.Agent = l.T("none")
	}
	if cb := c.Callback; cb != nil {
		v.Callback = l.F("window", l.DateTime(cb.WindowStart), cb.WindowEnd.In(ui.Amsterdam).Format("15:04")) + ": " + l.T("kept-"+cb.Kept)
		if cb.CompletedAt != nil {
			v.Callback += " (" + l.DateTime(*cb.CompletedAt) + ")"
		}
	}
	if vm := c.Voicemail; vm != nil {
		heard := l.T("not-heard")
		if vm.HeardAt != nil {
			heard = l.F("heard-at", l.DateTime(*vm.HeardAt))
		}
		v.Voicemail = l.F("left-for", vm.Employee, l.DateTime(vm.ReceivedAt), float64(vm.DurationMS)/1000) + "; " + heard
	}
	return v
}
