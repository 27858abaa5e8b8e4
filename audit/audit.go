// Package audit writes the audit trail: one structured log line for every
// change a person makes (presence, tasks, voicemails, reload, sign-in).
// A line says who (principal id and role), what (action and target id),
// when and the outcome. It never holds caller numbers, tokens or request
// bodies: targets are ids. It owns the format of that line, nothing else.
package audit

import (
	"context"
	"log/slog"
	"time"
)

// Msg is the message of every audit line, so operators can filter them
// (msg=audit in logfmt, "msg":"audit" in JSON).
const Msg = "audit"

// Entry is one change by one person.
type Entry struct {
	Who     string // principal id ("" when nobody signed in, e.g. a failed sign-in without an id)
	Role    string // agent, employee, supervisor, wallboard
	Action  string // e.g. "task claim", "presence pause", "voicemail heard", "reload", "sign-in"
	Target  string // id of what changed: task id, agent id, voicemail id
	Outcome string // ok, refused, forbidden, failed
	Status  int    // HTTP status of the answer, 0 if none
}

// Logger writes entries. A nil *Logger writes nothing.
type Logger struct {
	log *slog.Logger
	now func() time.Time
}

// New returns a Logger writing to log with the time from now (time.Now if nil).
func New(log *slog.Logger, now func() time.Time) *Logger {
	if now == nil {
		now = time.Now
	}
	return &Logger{log: log, now: now}
}

// Record writes e as one line.
func (l *Logger) Record(ctx context.Context, e Entry) {
	if l == nil || l.log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("who", e.Who),
		slog.String("role", e.Role),
		slog.String("action", e.Action),
		slog.String("target", e.Target),
		slog.String("outcome", e.Outcome),
		slog.Time("at", l.now().UTC()),
	}
	if e.Status != 0 {
		attrs = append(attrs, slog.Int("status", e.Status))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, Msg, attrs...)
}

// Outcome names an HTTP status for the audit line.
func Outcome(status int) string {
	switch {
	case status < 400:
		return "ok"
	case status == 401 || status == 403:
		return "forbidden"
	case status < 500:
		return "refused"
	}
	return "failed"
}

type noteKey struct{}

// Note is what a handler can add to the audit line of the change it makes,
// once it knows: the target (the id of a task it created) or the precise
// action (the presence action in a request body).
type Note struct {
	Action string
	Target string
}

// WithNote returns a context in which a handler can fill in n (Annotate).
func WithNote(ctx context.Context, n *Note) context.Context {
	return context.WithValue(ctx, noteKey{}, n)
}

// Annotate sets the non-empty fields of the change being made in ctx, if
// the context came from WithNote.
func Annotate(ctx context.Context, action, target string) {
	n, ok := ctx.Value(noteKey{}).(*Note)
	if !ok {
		return
	}
	if action != "" {
		n.Action = action
	}
	if target != "" {
		n.Target = target
	}
}
