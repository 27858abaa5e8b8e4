package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"callmon/auth"
	"callmon/callback/tasks"
	"callmon/ui"
)

//go:embed assets
var assets embed.FS

var (
	// The page's words come from package ui: "t" and "tf" are bound to the request's language
	// when it renders (pageIn).
	pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
		"t": ui.NL.T, "tf": ui.NL.F,
	}).ParseFS(assets, "assets/page.html"))
	pageScript = mustRead("assets/page.js")
	pageStyle  = mustRead("assets/page.css")
	// The page runs only its own inline script and style: the policy names
	// their hashes, so an injected script would not run.
	pagePolicy = "default-src 'none'; script-src " + ui.CSPHash(pageScript) + "; style-src " + ui.CSPHash(pageStyle) +
		"; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// pageIn is the page's template speaking l.
func pageIn(l ui.Lang) *template.Template {
	t, err := pageTemplate.Clone()
	if err != nil {
		panic(err) // only before the first execution of pageTemplate, which is never executed
	}
	return t.Funcs(template.FuncMap{"t": l.T, "tf": l.F})
}

// pageData is what page.html renders; the "tasks" fragment uses Due,
// Upcoming and Updated.
type pageData struct {
	Lang, Other            ui.Lang
	Switch                 string // the page in the other language
	Agent, Base, Zone      string
	Viewer                 Principal
	Queues                 []string
	Due, Upcoming          []taskRow
	Updated                string
	CreateStart, CreateEnd string        // datetime-local defaults: the next free slot
	Presence               *presenceView // nil: not shown
	MaxReason              int
	Script                 template.JS
	Style                  template.CSS
}

// taskRow is a task as the page shows it.
type taskRow struct {
	tasks.Task
	Window, KindText     string
	StatusText           string
	StartInput, EndInput string // datetime-local values
	Overdue              bool
}

const inputLayout = "2006-01-02T15:04"

// pageAuth authenticates a request for agent {id}'s page, fragment or
// events: 401 without valid credentials, 403 for another agent's page,
// 404 for an agent nobody knows.
func (s *Server) pageAuth(w http.ResponseWriter, r *http.Request) (Principal, string, bool) {
	agent := r.PathValue("id")
	p, err := s.auth.Authenticate(r)
	var th *auth.ThrottledError
	switch {
	case errors.As(err, &th):
		auth.Deny(w, err)
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="callmon"`)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		next := url.QueryEscape(r.URL.EscapedPath())
		fmt.Fprintf(w, `<!doctype html><html lang="nl"><meta charset="utf-8"><title>Aanmelden</title>`+
			`<p>U bent niet aangemeld. <a href="/signin?next=%s">Aanmelden</a> · <a href="/signin?lang=en&amp;next=%s">Sign in</a></p>`, next, next)
	case p.Role == auth.Wallboard || (!p.IsSupervisor() && p.ID != agent):
		http.Error(w, "403 Forbidden: this is the page of another agent; yours is /agent/"+url.PathEscape(p.ID), http.StatusForbidden)
	case !s.knownAgent(agent):
		http.Error(w, fmt.Sprintf("404 Not Found: no agent %q", agent), http.StatusNotFound)
	default:
		return p, agent, true
	}
	return Principal{}, "", false
}

// GET /agent/{id}: the page. ?token= signs in (sets the cookie) and
// redirects to the same page without the token.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if token := q.Get("token"); token != "" {
		p, err := s.auth.Token(r, token)
		if err != nil {
			auth.Deny(w, err)
			return
		}
		s.auth.SetSession(w, r, p)
		q.Del("token")
		to := r.URL.EscapedPath()
		if len(q) > 0 {
			to += "?" + q.Encode()
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	p, agent, ok := s.pageAuth(w, r)
	if !ok {
		return
	}
	d, err := s.pageData(r, p, agent)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	ui.Remember(w, r) // the task list the page fetches speaks the same language
	w.Header().Set("Content-Security-Policy", pagePolicy)
	s.render(w, r, "page.html", d)
}

// GET /agent/{id}/tasks: the task list as an HTML fragment, which the page
// fetches when told that tasks changed.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request) {
	p, agent, ok := s.pageAuth(w, r)
	if !ok {
		return
	}
	d, err := s.pageData(r, p, agent)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, "tasks", d)
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, d pageData) {
	var b bytes.Buffer
	if err := pageIn(d.Lang).ExecuteTemplate(&b, name, d); err != nil {
		s.log.Error("agent page", "template", name, "err", err)
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	s.log.Error("agent page: task store", "path", r.URL.Path, "err", err)
	http.Error(w, "500 Internal Server Error: the task store failed; reload to try again", http.StatusInternalServerError)
}

// pageData reads the agent's active tasks — their own and their queues'
// pool — and splits them into due (window started) and upcoming.
func (s *Server) pageData(r *http.Request, viewer Principal, agent string) (pageData, error) {
	now := s.now()
	queues := s.agentQueues(agent)
	list, err := s.store.List(r.Context(), tasks.Filter{
		Assignee: agent, Queues: queues, Statuses: activeStatuses, Limit: defaultListLimit,
	})
	if err != nil {
		return pageData{}, err
	}
	l := ui.Choose(r, s.language)
	sw := r.URL.Query()
	sw.Set("lang", string(l.Other()))
	d := pageData{
		Lang:      l,
		Other:     l.Other(),
		Switch:    "/agent/" + url.PathEscape(agent) + "?" + sw.Encode(),
		Agent:     agent,
		Base:      "/agent/" + url.PathEscape(agent),
		Zone:      s.loc.String(),
		Viewer:    viewer,
		Queues:    slices.Clone(queues),
		Updated:   now.In(s.loc).Format("15:04:05"),
		Presence:  s.presenceView(agent, l),
		MaxReason: maxPresenceReason,
		Script:    template.JS(pageScript),
		Style:     template.CSS(pageStyle),
	}
	if len(queues) > 0 { // else the page offers no form
		if start, end, ok := s.nextSlot(queues[0], now); ok {
			d.CreateStart, d.CreateEnd = start.In(s.loc).Format(inputLayout), end.In(s.loc).Format(inputLayout)
		}
	}
	for _, t := range list {
		row := taskRow{
			Task:       t,
			Window:     spanIn(l, s.loc, t.WindowStart, t.WindowEnd),
			KindText:   l.T("kind-" + string(t.Kind)),
			StatusText: l.T("status-" + string(t.Status)),
			StartInput: t.WindowStart.In(s.loc).Format(inputLayout),
			EndInput:   t.WindowEnd.In(s.loc).Format(inputLayout),
			Overdue:    !t.WindowEnd.After(now),
		}
		if t.WindowStart.After(now) {
			d.Upcoming = append(d.Upcoming, row)
		} else {
			d.Due = append(d.Due, row)
		}
	}
	return d, nil
}

// changeEvent is the data of a "task" event.
type changeEvent struct {
	ID       int64        `json:"id"`
	Queue    string       `json:"queue"`
	Assignee string       `json:"assignee"`
	Status   tasks.Status `json:"status"`
}

// GET /agent/{id}/events: server-sent events. "ready" once the stream is
// subscribed (after each reconnect of the browser), "task" for a change of
// one of the agent's tasks or of a task in one of their queues, "resync"
// when changes may have been missed (re-read everything). A comment every
// 25 s keeps proxies from closing an idle stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	_, agent, ok := s.pageAuth(w, r)
	if !ok {
		return
	}
	queues := s.agentQueues(agent)
	sub, unsubscribe := s.broker.subscribe(func(c tasks.Change) bool {
		// A task of the agent's queues, whoever has it now: a pool task
		// another agent claims must leave this page too.
		return c.Assignee == agent || slices.Contains(queues, c.Queue)
	})
	defer unsubscribe()

	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout of the server
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\nevent: ready\ndata: {}\n\n")
	if rc.Flush() != nil {
		return
	}
	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.done:
			return
		case <-heartbeat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-sub.wake:
			changes, lost := sub.take()
			if lost {
				fmt.Fprint(w, "event: resync\ndata: {}\n\n")
			}
			for _, c := range changes {
				data, _ := json.Marshal(changeEvent{ID: c.ID, Queue: c.Queue, Assignee: c.Assignee, Status: c.Status})
				fmt.Fprintf(w, "event: task\ndata: %s\n\n", data)
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// spanIn is a task's window as people read it in l: "ma 23 nov 2026 09:00–09:15".
func spanIn(l ui.Lang, loc *time.Location, start, end time.Time) string {
	a, b := start.In(loc), end.In(loc)
	if a.Year() == b.Year() && a.YearDay() == b.YearDay() {
		return l.DateTime(a) + "–" + b.Format("15:04")
	}
	return l.DateTime(a) + " – " + l.DateTime(b)
}
