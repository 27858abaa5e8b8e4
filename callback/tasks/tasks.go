// Package tasks owns the callback tasks in PostgreSQL (DESIGN §4.3): whom to
// call back, why, in which agreed window and for whom — an agent, or the
// queue's pool — and what became of each attempt.
//
// Every change of a task is one UPDATE guarded by the status and version the
// caller saw (the version then grows by one), made in the same transaction
// as the task_events row that records who did what and when. A guard that
// fails changes nothing and returns ErrConflict: there are no lost updates.
// Claims carry a lease; a dispatcher takes due tasks with FOR UPDATE SKIP
// LOCKED, so two callmon instances never hand one task to two agents, and an
// expired lease returns the task (to the pool, when it came from there).
// Every change is announced with NOTIFY on channel callmon_tasks (a trigger
// in the schema), which Listen turns into calls of a function.
//
// The package knows no telephony, no HTTP and no opening hours: callers check
// that a window lies inside opening hours and pass the next free slot as a
// function; times are taken as given ("now" is a parameter wherever it
// matters), so tests control the clock. Its schema is migration
// 002_tasks.sql of callmon/callback/store, with the claim's indexes of
// 008_task_claims.sql.
package tasks

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says why a task exists.
type Kind string

// Kinds of tasks.
const (
	KindQueueCallback Kind = "queue_callback"  // a caller agreed a callback in the queue's IVR
	KindVoicemail     Kind = "voicemail"       // a caller left a message
	KindAgreedByAgent Kind = "agreed_by_agent" // an agent agreed a callback during a call
)

// Valid reports whether k is one of the kinds.
func (k Kind) Valid() bool {
	return k == KindQueueCallback || k == KindVoicemail || k == KindAgreedByAgent
}

// Status is where a task is in its life.
type Status string

// Statuses of a task. Pending, Claimed and Dialing are active; Done, Failed
// and Cancelled are final.
const (
	Pending   Status = "pending"   // waiting for its window and someone to take it
	Claimed   Status = "claimed"   // held by LeaseOwner until LeaseExpires
	Dialing   Status = "dialing"   // the lease owner is calling
	Done      Status = "done"      // the customer was reached
	Failed    Status = "failed"    // wrong number, or no answer MaxAttempts times
	Cancelled Status = "cancelled" // nobody is to call
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return s.Active() || s == Done || s == Failed || s == Cancelled }

// Active reports whether a task in status s still has to be done.
func (s Status) Active() bool { return s == Pending || s == Claimed || s == Dialing }

// Result is the outcome of one attempt to call.
type Result string

// Results of an attempt.
const (
	Reached     Result = "reached"      // → Done
	NoAnswer    Result = "no_answer"    // → Pending in the next slot, or Failed after MaxAttempts
	WrongNumber Result = "wrong_number" // → Failed
)

// Valid reports whether r is one of the results.
func (r Result) Valid() bool { return r == Reached || r == NoAnswer || r == WrongNumber }

// Task is a callback task. Times are in UTC; compare them with Equal.
// Optional fields are "" or the zero time when not set.
type Task struct {
	ID    int64  `json:"id"`
	Kind  Kind   `json:"kind"`
	Queue string `json:"queue"`
	// Number is E.164, e.g. +31612345678; "" only for a voicemail whose
	// caller withheld their number.
	Number      string    `json:"number"`
	CallerName  string    `json:"caller_name"`
	WindowStart time.Time `json:"window_start"` // agreed window, start inclusive
	WindowEnd   time.Time `json:"window_end"`   // agreed window, end exclusive
	Assignee    string    `json:"assignee"`     // agent id; "" for the queue's pool
	// ClaimedFromPool: Assignee was set by claiming a pool task; when the
	// claim ends without a result the task returns to the pool.
	ClaimedFromPool bool      `json:"claimed_from_pool"`
	Status          Status    `json:"status"`
	Attempts        int       `json:"attempts"` // results recorded so far
	MaxAttempts     int       `json:"max_attempts"`
	LeaseOwner      string    `json:"lease_owner"` // set while Claimed or Dialing
	LeaseExpires    time.Time `json:"lease_expires,omitzero"`
	Notes           string    `json:"notes"`
	Result          string    `json:"result"` // Result of the last attempt, "" before the first
	SourceKey       string    `json:"source_key"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	CompletedAt     time.Time `json:"completed_at,omitzero"` // set in a final status
	Version         int64     `json:"version"`               // 1 when created, +1 per change
	// MaskedAt is when the retention period removed the number, caller
	// name and notes of this finished task; zero while kept.
	MaskedAt time.Time `json:"masked_at,omitzero"`
}

// NewTask is what Create needs. Its JSON form is also the spool's format for
// callbacks agreed while PostgreSQL was away: keep it compatible.
type NewTask struct {
	Kind        Kind      `json:"kind"`
	Queue       string    `json:"queue"`
	Number      string    `json:"number"`                // E.164; "" only for KindVoicemail (number withheld)
	CallerName  string    `json:"caller_name,omitempty"` // cut to MaxTextLen characters, never refused
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Assignee    string    `json:"assignee,omitempty"` // "" for the queue's pool
	Notes       string    `json:"notes,omitempty"`
	// SourceKey makes Create idempotent: a second Create with the same key
	// returns the first task (the caller's channel id for an IVR callback).
	SourceKey   string `json:"source_key,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"` // 0: DefaultMaxAttempts
	Actor       string `json:"actor"`                  // who creates it, for the history
}

// Limits of what the store accepts.
const (
	DefaultMaxAttempts = 3
	MaxMaxAttempts     = 20
	MaxTextLen         = 200  // characters of a queue, agent, actor, owner, caller name or source key
	MaxNoteLen         = 4000 // characters of a note, reason or the notes of NewTask
	MaxClaimBatch      = 1000 // tasks per ClaimDue
)

// Errors of the store, for errors.Is; the error's text says what was wrong.
var (
	// ErrNotFound: there is no task with that id (HTTP 404).
	ErrNotFound = errors.New("task not found")
	// ErrConflict: the task is not at the version or in a status that
	// allows the change — someone else changed it first (HTTP 409). The
	// Task returned with it is the current one.
	ErrConflict = errors.New("task conflict")
	// ErrInvalid: the input is wrong and will stay wrong (HTTP 400/422).
	ErrInvalid = errors.New("invalid task input")
	// ErrForbidden: the change is reserved to someone else — the dialing
	// state to the lease owner (HTTP 403). The Task returned with it is the
	// current one.
	ErrForbidden = errors.New("task change not allowed")
)

// TextError is an error of this package that keeps its text as a format and arguments, so a
// page can say it in its reader's language; errors.Is finds its Kind.
type TextError struct {
	Kind   error // ErrInvalid, ErrConflict, ErrNotFound or ErrForbidden
	Format string
	Args   []any
}

func (e *TextError) Error() string { return e.Kind.Error() + ": " + fmt.Sprintf(e.Format, e.Args...) }
func (e *TextError) Unwrap() error { return e.Kind }

func textErr(kind error, format string, a ...any) error {
	return &TextError{Kind: kind, Format: format, Args: a}
}

func invalidf(format string, a ...any) error { return textErr(ErrInvalid, format, a...) }

// e164 is an international number: +, country code, subscriber number.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// ValidNumber reports whether n is an E.164 number such as +31612345678.
func ValidNumber(n string) bool { return e164.MatchString(n) }

// checkText refuses what PostgreSQL's text cannot hold (invalid UTF-8, NUL)
// and what is longer than max characters.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return invalidf("%s is not valid text", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalidf("%s has %d characters, at most %d are allowed", field, n, max)
	}
	return nil
}

// checkName requires a non-empty, short text.
func checkName(field, s string) error {
	if strings.TrimSpace(s) == "" {
		return invalidf("%s is required", field)
	}
	return checkText(field, s, MaxTextLen)
}

// cleanName makes s storable and at most MaxTextLen characters long.
func cleanName(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) > MaxTextLen {
		s = string([]rune(s)[:MaxTextLen])
	}
	return strings.TrimSpace(s)
}

func checkWindow(start, end time.Time) error {
	if start.IsZero() || end.IsZero() {
		return invalidf("the window needs a start and an end")
	}
	if !start.Before(end) {
		return invalidf("the window starts at %s, not before its end %s",
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	return nil
}

func checkNow(now time.Time) error {
	if now.IsZero() {
		return invalidf("the current time is missing")
	}
	return nil
}

func (n *NewTask) validate() error {
	if !n.Kind.Valid() {
		return invalidf("kind %q is not one of queue_callback, voicemail, agreed_by_agent", n.Kind)
	}
	if err := checkName("queue", n.Queue); err != nil {
		return err
	}
	if !ValidNumber(n.Number) && (n.Number != "" || n.Kind != KindVoicemail) {
		return invalidf("number %q is not an international (E.164) number like +31612345678", n.Number)
	}
	if err := checkWindow(n.WindowStart, n.WindowEnd); err != nil {
		return err
	}
	if n.Assignee != "" {
		if err := checkName("assignee", n.Assignee); err != nil {
			return err
		}
	}
	if err := checkText("notes", n.Notes, MaxNoteLen); err != nil {
		return err
	}
	if n.SourceKey != "" {
		if err := checkName("source key", n.SourceKey); err != nil {
			return err
		}
	}
	if n.MaxAttempts < 0 || n.MaxAttempts > MaxMaxAttempts {
		return invalidf("max attempts %d is not between 1 and %d", n.MaxAttempts, MaxMaxAttempts)
	}
	return checkName("actor", n.Actor)
}

// appendNote adds a note on a line of its own.
func appendNote(notes, note string) string {
	note = strings.TrimSpace(note)
	switch {
	case note == "":
		return notes
	case notes == "":
		return note
	}
	return notes + "\n" + note
}

// release ends the task's claim: the lease is gone and a task claimed from
// the pool returns to it.
func (t Task) release() Task {
	t.LeaseOwner, t.LeaseExpires = "", time.Time{}
	if t.ClaimedFromPool {
		t.Assignee, t.ClaimedFromPool = "", false
	}
	return t
}

// leaseExpired reports whether t is held under a lease that ended before now.
func (t Task) leaseExpired(now time.Time) bool {
	return (t.Status == Claimed || t.Status == Dialing) && t.LeaseExpires.Before(now)
}
