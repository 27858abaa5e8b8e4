package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"callmon/audit"
	"callmon/auth"
	"callmon/callback/tasks"
	"callmon/ui"
)

// activeStatuses are listed when a request names no status.
var activeStatuses = []tasks.Status{tasks.Pending, tasks.Claimed, tasks.Dialing}

// maxIdempotencyKey bounds the Idempotency-Key header (the store keeps
// source keys of at most tasks.MaxTextLen characters).
const maxIdempotencyKey = 100

// errorBody is every error response: {"error": "..."}, and on 409 the task
// as it is now, so a client can show it and retry with its version.
type errorBody struct {
	Error string      `json:"error"`
	Task  *tasks.Task `json:"task,omitempty"`
}

// listBody is the response of GET /api/tasks.
type listBody struct {
	Tasks []tasks.Task `json:"tasks"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // a failed write is the client's going away
}

func writeError(w http.ResponseWriter, status int, format string, a ...any) {
	writeJSON(w, status, errorBody{Error: localize(w, format, a...)})
}

// localize says a message in the language the request asked for (secure sets
// Content-Language): errors among the arguments too, the task store's by their format,
// others by their text.
func localize(w http.ResponseWriter, format string, a ...any) string {
	l := langOf(w)
	args := make([]any, len(a))
	for i, v := range a {
		args[i] = v
		err, ok := v.(error)
		if !ok {
			continue
		}
		var te *tasks.TextError
		if errors.As(err, &te) {
			args[i] = l.Error(te.Kind.Error()) + ": " + fmt.Sprintf(l.Error(te.Format), te.Args...)
		} else {
			args[i] = l.Error(err.Error())
		}
	}
	return fmt.Sprintf(l.Error(format), args...)
}

// langOf is the language a response speaks: Dutch when the request asked for it.
func langOf(w http.ResponseWriter) ui.Lang {
	if w.Header().Get("Content-Language") == "nl" {
		return ui.NL
	}
	return ui.EN
}

// read serves a request that changes nothing to principals rule allows.
func (s *Server) read(rule auth.Rule, h func(http.ResponseWriter, *http.Request, Principal)) http.Handler {
	return s.auth.Require(rule, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, principal(r))
	}))
}

// change serves a request that changes state: also one audit line.
func (s *Server) change(action string, rule auth.Rule, h func(http.ResponseWriter, *http.Request, Principal)) http.Handler {
	return s.auth.Change(action, rule, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, principal(r))
	}))
}

// decode reads the request's one JSON object into v, refusing unknown
// fields, trailing data and bodies over 1 MB. It writes the error response
// and returns false when the body is not acceptable.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			return true
		}
		if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "request body is empty: send a JSON object")
	case errors.As(err, &syntax):
		writeError(w, http.StatusBadRequest, "malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ) && typ.Field != "":
		writeError(w, http.StatusBadRequest, "field %q must be a JSON %s, not %s", typ.Field, typ.Type, typ.Value)
	default: // unknown field, unexpected EOF, a non-object, trailing data
		writeError(w, http.StatusBadRequest, "malformed request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return false
}

// storeError answers an error of the store.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error, cur tasks.Task) {
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		writeError(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, tasks.ErrConflict):
		// The store returns the current task with a conflict.
		body := errorBody{Error: localize(w, "%v", err)}
		if cur.ID != 0 {
			body.Task = &cur
		}
		writeJSON(w, http.StatusConflict, body)
	case errors.Is(err, tasks.ErrForbidden):
		writeError(w, http.StatusForbidden, "%v", err)
	case errors.Is(err, tasks.ErrInvalid):
		writeError(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads an answer.
	default:
		s.log.Error("task store", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: the task store failed; try again")
	}
}

// taskID parses the {id} of the path.
func taskID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "task id %q is not a positive integer", r.PathValue("id"))
		return 0, false
	}
	return id, true
}

// load returns the task if p may see it, else answers 404 or 403.
func (s *Server) load(w http.ResponseWriter, r *http.Request, p Principal, id int64) (tasks.Task, bool) {
	t, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.storeError(w, r, err, tasks.Task{})
		return tasks.Task{}, false
	}
	if !s.mayAccess(p, t) {
		if t.Assignee != "" {
			writeError(w, http.StatusForbidden, "task %d belongs to another agent", id)
		} else {
			writeError(w, http.StatusForbidden, "task %d is in queue %q, which is not one of yours", id, t.Queue)
		}
		return tasks.Task{}, false
	}
	return t, true
}

// GET /api/tasks?view=&agent=&queue=&status=&limit=
//
// view: "" (mine and my queues' pool), mine, pool, overdue. status: a
// comma-separated list, or "all"; default the active ones. An agent lists
// their own view; a supervisor everyone's, or one agent's with agent=.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	view, agent, queue := q.Get("view"), q.Get("agent"), q.Get("queue")
	if !slices.Contains([]string{"", "mine", "pool", "overdue"}, view) {
		writeError(w, http.StatusBadRequest, "view %q is not one of mine, pool, overdue", view)
		return
	}
	statuses, err := parseStatuses(q.Get("status"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > maxListLimit {
			writeError(w, http.StatusBadRequest, "limit %q is not a number from 1 to %d", v, maxListLimit)
			return
		}
	}

	subject := agent // whose view; "" for a supervisor's view of everything
	switch {
	case !p.IsSupervisor() && agent != "" && agent != p.ID:
		writeError(w, http.StatusForbidden, "you may list only your own tasks, not those of %q", agent)
		return
	case !p.IsSupervisor():
		subject = p.ID
	case agent != "" && !s.knownAgent(agent):
		writeError(w, http.StatusNotFound, "no agent %q", agent)
		return
	}

	f := tasks.Filter{Statuses: statuses}
	if view == "overdue" {
		f.OverdueAt = s.now()
		if q.Get("status") == "" {
			f.Statuses = nil // the store's overdue: pending or claimed
		}
	}
	// keep filters what the store's Filter cannot express.
	keep := func(t tasks.Task) bool { return queue == "" || t.Queue == queue }
	if subject != "" {
		pool := s.agentQueues(subject)
		if queue != "" {
			switch {
			case slices.Contains(pool, queue):
				pool = []string{queue}
			case !p.IsSupervisor():
				writeError(w, http.StatusForbidden, "queue %q is not one of yours", queue)
				return
			default:
				pool = nil // only the agent's own tasks can be in it
			}
		}
		switch view {
		case "mine":
			f.Assignee = subject
		case "pool":
			if len(pool) == 0 {
				writeJSON(w, http.StatusOK, listBody{Tasks: []tasks.Task{}})
				return
			}
			f.Queues = pool // the store's Queues select unassigned tasks only
		default:
			f.Assignee, f.Queues = subject, pool
			if len(pool) == 0 {
				f.Queues = nil
			}
		}
	} else {
		if view == "mine" {
			writeError(w, http.StatusBadRequest, "view=mine needs agent=<id> for a supervisor")
			return
		}
		if view == "pool" {
			keep = func(t tasks.Task) bool { return t.Assignee == "" && (queue == "" || t.Queue == queue) }
		}
	}
	filtered := queue != "" || (subject == "" && view == "pool")
	if !filtered {
		f.Limit = limit
	}
	list, err := s.store.List(r.Context(), f)
	if err != nil {
		s.storeError(w, r, err, tasks.Task{})
		return
	}
	out := make([]tasks.Task, 0, len(list))
	for _, t := range list {
		if keep(t) && len(out) < limit {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, listBody{Tasks: out})
}

func parseStatuses(v string) ([]tasks.Status, error) {
	switch v {
	case "":
		return activeStatuses, nil
	case "all":
		return nil, nil
	}
	var out []tasks.Status
	for f := range strings.SplitSeq(v, ",") {
		st := tasks.Status(strings.TrimSpace(f))
		if !st.Valid() {
			return nil, fmt.Errorf("status %q is not one of pending, claimed, dialing, done, failed, cancelled, all", st)
		}
		out = append(out, st)
	}
	return out, nil
}

// GET /api/tasks/{id}
func (s *Server) getTask(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	t, ok := s.load(w, r, p, id)
	switch {
	case !ok:
	case !t.MaskedAt.IsZero():
		// Said plainly, with what is kept, rather than a task that looks
		// as if its number was never known.
		writeJSON(w, http.StatusGone, errorBody{Task: &t, Error: fmt.Sprintf(
			"task %d: the caller's number, name and notes were removed on %s after the retention period",
			id, t.MaskedAt.In(s.loc).Format("2006-01-02"))})
	default:
		writeJSON(w, http.StatusOK, t)
	}
}

// createRequest is the body of POST /api/tasks.
type createRequest struct {
	Queue       string `json:"queue"`
	Number      string `json:"number"`
	CallerName  string `json:"caller_name"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`
	Notes       string `json:"notes"`
}

// POST /api/tasks: an agent agreed a callback during a call. The task is
// the agent's own (a supervisor's goes to the queue's pool). With an
// Idempotency-Key header a repeated request returns the first task (200)
// instead of creating another (201).
func (s *Server) createTask(w http.ResponseWriter, r *http.Request, p Principal) {
	var req createRequest
	if !decode(w, r, &req) {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		writeError(w, http.StatusBadRequest, "Idempotency-Key is longer than %d bytes", maxIdempotencyKey)
		return
	}
	queue := strings.TrimSpace(req.Queue)
	switch {
	case queue == "":
		writeError(w, http.StatusBadRequest, "queue is required")
		return
	case len(s.queues) > 0 && !slices.Contains(s.queues, queue):
		writeError(w, http.StatusBadRequest, "no queue %q", queue)
		return
	case !p.IsSupervisor() && !slices.Contains(s.agentQueues(p.ID), queue):
		writeError(w, http.StatusForbidden, "queue %q is not one of yours", queue)
		return
	}
	number, err := NormalizeNumber(req.Number)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v, not %q", err, req.Number)
		return
	}
	start, end, ok := s.window(w, req.WindowStart, req.WindowEnd)
	if !ok {
		return
	}
	n := tasks.NewTask{
		Kind: tasks.KindAgreedByAgent, Queue: queue, Number: number, CallerName: req.CallerName,
		WindowStart: start, WindowEnd: end, Notes: req.Notes, Actor: p.ID,
	}
	if !p.IsSupervisor() {
		n.Assignee = p.ID
	}
	if key != "" {
		n.SourceKey = "web:" + p.ID + ":" + key
	}
	t, created, err := s.store.Create(r.Context(), n)
	if err != nil {
		s.storeError(w, r, err, tasks.Task{})
		return
	}
	audit.Annotate(r.Context(), "", strconv.FormatInt(t.ID, 10))
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/tasks/"+strconv.FormatInt(t.ID, 10))
	}
	writeJSON(w, status, t)
}

// window parses and checks an agreed window: both times given (400), start
// before end (400), not over yet and inside opening hours (422).
func (s *Server) window(w http.ResponseWriter, startText, endText string) (start, end time.Time, ok bool) {
	start, err := s.parseTime("window_start", startText)
	if err == nil {
		end, err = s.parseTime("window_end", endText)
	}
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "%v", err)
	case !start.Before(end):
		writeError(w, http.StatusBadRequest, "window_start %s is not before window_end %s", langOf(w).DateTime(start), langOf(w).DateTime(end))
	case !end.After(s.now()):
		writeError(w, http.StatusUnprocessableEntity, "the window %s has already ended", spanIn(langOf(w), s.loc, start, end))
	case !s.open(start, end):
		writeError(w, http.StatusUnprocessableEntity, "the window %s is outside opening hours", spanIn(langOf(w), s.loc, start, end))
	default:
		return start, end, true
	}
	return time.Time{}, time.Time{}, false
}

// localLayouts are the zone-less forms a time may take (datetime-local
// inputs send the first); they are read in the server's location.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

func (s *Server) parseTime(field, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, fmt.Errorf("%s is required", field)
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, v, s.loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q is not a time like 2026-11-24T09:00:00+01:00 (RFC 3339) or 2026-11-24T09:00 (%s)",
		field, v, s.loc)
}

// actionRequest is the body of POST /api/tasks/{id}/{action}; which fields
// an action accepts is checked against its own struct below.
type (
	claimRequest struct {
		Version *int64 `json:"version"`
	}
	completeRequest struct {
		Version *int64 `json:"version"`
		Result  string `json:"result"`
		Notes   string `json:"notes"`
	}
	rescheduleRequest struct {
		Version     *int64 `json:"version"`
		WindowStart string `json:"window_start"`
		WindowEnd   string `json:"window_end"`
		Notes       string `json:"notes"`
	}
	cancelRequest struct {
		Version *int64 `json:"version"`
		Reason  string `json:"reason"`
	}
)

// POST /api/tasks/{id}/{claim,complete,reschedule,cancel}
func (s *Server) actOnTask(w http.ResponseWriter, r *http.Request, p Principal) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	// Checked in this order: the body (400), the task and the right to
	// change it (404, 403, 409 for a live lease), the values against the
	// calendar (422), then the change itself at the version (409).
	var (
		version *int64
		check   = func() bool { return true }
		apply   func(ctx context.Context, cur tasks.Task, now time.Time) (tasks.Task, error)
	)
	switch action := r.PathValue("action"); action {
	case "claim":
		var req claimRequest
		if !decode(w, r, &req) {
			return
		}
		version = req.Version
		apply = func(ctx context.Context, _ tasks.Task, now time.Time) (tasks.Task, error) {
			return s.store.Claim(ctx, id, p.ID, *version, s.lease, now)
		}
	case "complete":
		var req completeRequest
		if !decode(w, r, &req) {
			return
		}
		result := tasks.Result(req.Result)
		if !result.Valid() {
			writeError(w, http.StatusBadRequest, "result %q is not one of reached, no_answer, wrong_number", req.Result)
			return
		}
		version = req.Version
		apply = func(ctx context.Context, cur tasks.Task, now time.Time) (tasks.Task, error) {
			next := func(after time.Time) (time.Time, time.Time, bool) { return s.nextSlot(cur.Queue, after) }
			return s.store.Complete(ctx, id, p.ID, *version, result, req.Notes, now, next)
		}
	case "reschedule":
		var req rescheduleRequest
		if !decode(w, r, &req) {
			return
		}
		version = req.Version
		var start, end time.Time
		check = func() (ok bool) {
			start, end, ok = s.window(w, req.WindowStart, req.WindowEnd)
			return ok
		}
		apply = func(ctx context.Context, _ tasks.Task, _ time.Time) (tasks.Task, error) {
			return s.store.Reschedule(ctx, id, p.ID, *version, start, end, req.Notes)
		}
	case "cancel":
		var req cancelRequest
		if !decode(w, r, &req) {
			return
		}
		version = req.Version
		apply = func(ctx context.Context, _ tasks.Task, _ time.Time) (tasks.Task, error) {
			return s.store.Cancel(ctx, id, p.ID, *version, req.Reason)
		}
	default:
		writeError(w, http.StatusNotFound, "no action %q: claim, complete, reschedule or cancel", action)
		return
	}
	if version == nil {
		writeError(w, http.StatusBadRequest, "version is required: the version of the task you saw")
		return
	}
	cur, ok := s.load(w, r, p, id)
	if !ok {
		return
	}
	now := s.now()
	if heldByOther(cur, p, now) {
		writeJSON(w, http.StatusConflict, errorBody{
			Error: localize(w, "task %d is %s by %s until %s", id, langOf(w).T("status-"+string(cur.Status)), cur.LeaseOwner, langOf(w).DateTime(cur.LeaseExpires)),
			Task:  &cur,
		})
		return
	}
	if !check() {
		return
	}
	t, err := apply(r.Context(), cur, now)
	if err != nil {
		s.storeError(w, r, err, t)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// heldByOther reports whether someone other than agent p holds t under a
// live lease (a dispatcher ringing it, say): only they, or a supervisor,
// may change it until the lease ends.
func heldByOther(t tasks.Task, p Principal, now time.Time) bool {
	return !p.IsSupervisor() && (t.Status == tasks.Claimed || t.Status == tasks.Dialing) &&
		t.LeaseOwner != p.ID && t.LeaseExpires.After(now)
}
