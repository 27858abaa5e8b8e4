// Package voicemails owns the voicemails in PostgreSQL (DESIGN §4.2): the
// messages callers leave for an employee who did not answer their direct
// number. Each voicemail is stored together with a voicemail task for the
// employee (package callmon/callback/tasks, queue "direct"), in one
// transaction, exactly once per caller channel: saving the same channel
// again — a spooled voicemail written twice after a crash — changes nothing.
//
// The package knows no telephony: the recording is a name in Asterisk's
// stored recordings, and whoever plays it or sets the employee's
// message-waiting indicator does so with the counts this package returns.
// Its schema is migration 003_voicemails.sql of callmon/callback/store.
package voicemails

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"callmon/callback/calendar"
)

// Queue is the task queue of voicemail tasks: direct-dial calls are
// measured as queue "direct" (DESIGN §3).
const Queue = "direct"

// SpoolKind is the spool kind of a NewVoicemail kept while PostgreSQL is
// unreachable (Data is its JSON, Key its channel id).
const SpoolKind = "voicemail"

// sourcePrefix makes a voicemail task's source key from the channel id, so
// that it never meets a callback's key (the caller's channel id too).
const sourcePrefix = "voicemail:"

// Limits of what the store accepts.
const (
	MaxIDLen        = 200  // characters of an employee id or assignee (MaxChannelIDLen: of a channel id)
	MaxRecordingLen = 1000 // characters of a recording name
	maxNumberLen    = 100
	maxNameLen      = 200
)

// Errors of the store, for errors.Is.
var (
	// ErrNotFound: there is no voicemail with that id (HTTP 404).
	ErrNotFound = errors.New("voicemail not found")
	// ErrInvalid: the input is wrong and will stay wrong (HTTP 400).
	ErrInvalid = errors.New("invalid voicemail")
	// ErrRemoved: the voicemail's recording and caller were removed after
	// its retention period (HTTP 410).
	ErrRemoved = errors.New("voicemail removed after its retention period")
)

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// NewVoicemail is a recorded message to store. Its JSON form is the spool's
// format for voicemails recorded while PostgreSQL was away: keep it
// compatible.
type NewVoicemail struct {
	Employee string // the employee's id
	// Assignee is whom the task is for: the employee's agent id when they
	// are also an agent; "" for the employee's own id.
	Assignee string
	// CallerNumber is the caller's number as Asterisk gave it; "" when
	// withheld. Stored as given (cleaned); the task gets it in E.164 when
	// it is a valid number (see E164).
	CallerNumber string
	CallerName   string
	ReceivedAt   time.Time     // when the message was left; stored to the millisecond
	Duration     time.Duration // length of the message; stored to the millisecond
	Recording    string        // Asterisk's stored-recording name
	ChannelID    string        // the caller's channel id: a voicemail is stored once per channel
}

// newVoicemailJSON is the JSON form of NewVoicemail.
type newVoicemailJSON struct {
	Employee     string    `json:"employee"`
	Assignee     string    `json:"assignee,omitempty"`
	CallerNumber string    `json:"caller_number,omitempty"`
	CallerName   string    `json:"caller_name,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
	DurationMS   int64     `json:"duration_ms"`
	Recording    string    `json:"recording"`
	ChannelID    string    `json:"channel_id"`
}

// MarshalJSON writes the duration in milliseconds, as duration_ms.
func (v NewVoicemail) MarshalJSON() ([]byte, error) {
	return json.Marshal(newVoicemailJSON{
		Employee: v.Employee, Assignee: v.Assignee, CallerNumber: v.CallerNumber, CallerName: v.CallerName,
		ReceivedAt: v.ReceivedAt, DurationMS: millis(v.Duration), Recording: v.Recording, ChannelID: v.ChannelID,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *NewVoicemail) UnmarshalJSON(b []byte) error {
	var j newVoicemailJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = NewVoicemail{
		Employee: j.Employee, Assignee: j.Assignee, CallerNumber: j.CallerNumber, CallerName: j.CallerName,
		ReceivedAt: j.ReceivedAt, Duration: time.Duration(j.DurationMS) * time.Millisecond,
		Recording: j.Recording, ChannelID: j.ChannelID,
	}
	return nil
}

// Voicemail is a stored voicemail. Times are in UTC.
type Voicemail struct {
	ID           int64
	Employee     string
	CallerNumber string // as Asterisk gave it; "" when withheld
	CallerName   string
	ReceivedAt   time.Time
	Duration     time.Duration // whole milliseconds
	Recording    string        // Asterisk's stored-recording name
	ChannelID    string
	HeardAt      time.Time // when it was first heard; zero while new
	TaskID       int64     // the employee's voicemail task
	// MaskedAt is when the recording and the caller's number and name were
	// removed after the retention period; zero while kept.
	MaskedAt time.Time
}

// Removed reports whether the retention period removed the recording.
func (v Voicemail) Removed() bool { return !v.MaskedAt.IsZero() }

// Heard reports whether the voicemail has been heard (it is "old" for the
// message-waiting indicator).
func (v Voicemail) Heard() bool { return !v.HeardAt.IsZero() }

// voicemailJSON is the JSON form of Voicemail, for the API.
type voicemailJSON struct {
	ID           int64     `json:"id"`
	Employee     string    `json:"employee"`
	CallerNumber string    `json:"caller_number"`
	CallerName   string    `json:"caller_name"`
	ReceivedAt   time.Time `json:"received_at"`
	DurationMS   int64     `json:"duration_ms"`
	Recording    string    `json:"recording"`
	ChannelID    string    `json:"channel_id"`
	Heard        bool      `json:"heard"`
	HeardAt      time.Time `json:"heard_at,omitzero"`
	TaskID       int64     `json:"task_id"`
	RemovedAt    time.Time `json:"removed_at,omitzero"`
}

// MarshalJSON writes snake_case names, the duration as duration_ms, heard,
// and heard_at only once heard.
func (v Voicemail) MarshalJSON() ([]byte, error) {
	return json.Marshal(voicemailJSON{
		ID: v.ID, Employee: v.Employee, CallerNumber: v.CallerNumber, CallerName: v.CallerName,
		ReceivedAt: v.ReceivedAt, DurationMS: millis(v.Duration), Recording: v.Recording,
		ChannelID: v.ChannelID, Heard: v.Heard(), HeardAt: v.HeardAt, TaskID: v.TaskID, RemovedAt: v.MaskedAt,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Voicemail) UnmarshalJSON(b []byte) error {
	var j voicemailJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = Voicemail{
		ID: j.ID, Employee: j.Employee, CallerNumber: j.CallerNumber, CallerName: j.CallerName,
		ReceivedAt: j.ReceivedAt, Duration: time.Duration(j.DurationMS) * time.Millisecond,
		Recording: j.Recording, ChannelID: j.ChannelID, HeardAt: j.HeardAt, TaskID: j.TaskID, MaskedAt: j.RemovedAt,
	}
	return nil
}

// millis rounds d to whole milliseconds, within what duration_ms holds.
func millis(d time.Duration) int64 {
	ms := d.Round(time.Millisecond).Milliseconds()
	return min(max(ms, 0), math.MaxInt32)
}

// clean makes s storable text (valid UTF-8, no NUL) of at most n
// characters, trimmed.
func clean(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > n {
		s = strings.TrimSpace(string([]rune(s)[:n]))
	}
	return s
}

// checkText requires a non-empty text of at most n characters that
// PostgreSQL can hold.
func checkText(field, s string, n int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return invalidf("%s is required", field)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return invalidf("%s is not valid text", field)
	case utf8.RuneCountInString(s) > n:
		return invalidf("%s has %d characters, at most %d are allowed", field, utf8.RuneCountInString(s), n)
	}
	return nil
}

// prepare checks v and returns it as it is stored. A caller's number or
// name, or a duration out of range, are never a reason to lose a message:
// they are cleaned, not refused.
func (v NewVoicemail) prepare() (NewVoicemail, error) {
	if err := checkText("employee", v.Employee, MaxIDLen); err != nil {
		return v, err
	}
	if v.Assignee != "" {
		if err := checkText("assignee", v.Assignee, MaxIDLen); err != nil {
			return v, err
		}
	}
	if err := checkText("recording", v.Recording, MaxRecordingLen); err != nil {
		return v, err
	}
	if err := checkText("channel id", v.ChannelID, MaxChannelIDLen); err != nil {
		return v, err
	}
	if v.ReceivedAt.IsZero() {
		return v, invalidf("the time the message was received is missing")
	}
	v.CallerNumber = clean(v.CallerNumber, maxNumberLen)
	v.CallerName = clean(v.CallerName, maxNameLen)
	v.Duration = time.Duration(millis(v.Duration)) * time.Millisecond
	v.ReceivedAt = v.ReceivedAt.UTC().Round(time.Millisecond)
	return v, nil
}

// e164RE is an international number: +, country code, subscriber number.
var e164RE = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// E164 returns a caller's number in E.164 (+31612345678) for calling back:
// Dutch numbers written any common way (0612345678, 050-316 12 34,
// +31 (0)50 3161234, 0031..., 31612345678) and international ones (+44...,
// 0044...).
// ok is false for anything else: withheld ("", "anonymous"), internal
// extensions, short or malformed numbers.
func E164(number string) (string, bool) {
	n := strings.ReplaceAll(strings.TrimSpace(number), "(0)", "")
	n = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '/', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, n)
	switch {
	case strings.HasPrefix(n, "00"):
		n = "+" + n[2:]
	case len(n) == 10 && n[0] == '0':
		n = "+31" + n[1:]
	case len(n) == 11 && strings.HasPrefix(n, "31"):
		n = "+" + n // as some trunks present Dutch numbers
	}
	if strings.HasPrefix(n, "+31") && len(n) > 3 && n[3] == '0' {
		return "", false // +31 0..., a national number with the country code glued on
	}
	if !e164RE.MatchString(n) {
		return "", false
	}
	if strings.HasPrefix(n, "+31") && len(n) != 12 {
		return "", false // Dutch numbers have 9 digits after +31
	}
	return n, true
}

// WindowFunc returns the window of the voicemail task for a message
// received at receivedAt: when the employee is to deal with it.
type WindowFunc func(receivedAt time.Time) (start, end time.Time)

// DefaultWindow is receivedAt to a day later.
func DefaultWindow(receivedAt time.Time) (start, end time.Time) {
	return receivedAt, receivedAt.Add(24 * time.Hour)
}

// CalendarWindow returns a WindowFunc for opening hours: from receipt to
// the close of the next working day after the day of receipt (a message
// left on Friday, or during the weekend, is due by Monday's close). Without
// a working day within 60 days it falls back to DefaultWindow.
func CalendarWindow(cal *calendar.Calendar) WindowFunc {
	return func(receivedAt time.Time) (time.Time, time.Time) {
		d := calendar.DateOf(receivedAt.In(cal.Location()))
		for range 60 {
			d = d.AddDays(1)
			if _, close, ok := cal.OpeningTimes(d); ok && close.After(receivedAt) {
				return receivedAt, close
			}
		}
		return DefaultWindow(receivedAt)
	}
}
