// Package lookup answers a complaint: given a caller's number and a period, every call that
// number made — when it entered, how long it waited to the second, how it ended, who answered,
// the callback promised and whether it was kept, the message left and when it was heard — from
// the call records, callback tasks and voicemails in PostgreSQL. Numbers that retention has
// already removed cannot be found; the answer says from when.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"callmon/callback/phone"
)

// Call is one call of the number.
type Call struct {
	Channel   string     `json:"channel_id"`
	Queue     string     `json:"queue"`
	Kind      string     `json:"kind"` // queue or direct
	Entry     time.Time  `json:"entry"`
	Answered  *time.Time `json:"answered,omitempty"`
	Ended     time.Time  `json:"ended"`
	WaitMS    int64      `json:"wait_ms"`
	Outcome   string     `json:"outcome"`
	Agent     string     `json:"agent,omitempty"`
	Callback  *Callback  `json:"callback,omitempty"`
	Voicemail *Voicemail `json:"voicemail,omitempty"`
}

// Callback is the callback agreed in the call.
type Callback struct {
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	Status      string     `json:"status"` // pending, claimed, dialing, done, failed, cancelled
	Result      string     `json:"result,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	// Kept: on_time (done inside the window), late, open (not yet due or being worked),
	// overdue (the window passed, not done), failed, cancelled.
	Kept string `json:"kept"`
}

// Voicemail is the message left in the call.
type Voicemail struct {
	Employee   string     `json:"employee"`
	ReceivedAt time.Time  `json:"received_at"`
	DurationMS int        `json:"duration_ms"`
	HeardAt    *time.Time `json:"heard_at,omitempty"`
}

// Result is a look-up's answer.
type Result struct {
	Number string    `json:"number"` // national form
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Calls  []Call    `json:"calls"`
	// MaskedBefore: calls that ended before this have had their numbers removed by
	// retention and cannot be found by number; nil when the period is after it.
	MaskedBefore *time.Time `json:"masked_before,omitempty"`
}

// ErrNumber is returned for something that is not a Dutch phone number.
var ErrNumber = errors.New("not a Dutch phone number")

// ErrPeriod is returned for a period that ends before it starts or spans more than MaxPeriod.
var ErrPeriod = errors.New("not a period")

// MaxPeriod bounds one look-up.
const MaxPeriod = 366 * 24 * time.Hour

// Forms are the ways Asterisk may have given the number (national, E.164, 0031, 31).
func Forms(number string) (national string, forms []string, err error) {
	n, err := phone.National(number)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNumber, err)
	}
	return n, []string{n, "+31" + n[1:], "0031" + n[1:], "31" + n[1:]}, nil
}

// Find returns the calls of number that entered in [from, to), oldest first. maskedBefore is
// retention's cut-off for call records' numbers now (zero: none).
func Find(ctx context.Context, pool *pgxpool.Pool, number string, from, to, now time.Time, maskedBefore time.Time) (Result, error) {
	national, forms, err := Forms(number)
	if err != nil {
		return Result{}, err
	}
	if !to.After(from) || to.Sub(from) > MaxPeriod {
		return Result{}, fmt.Errorf("%w: from %s to %s (at most a year, and to after from)", ErrPeriod, from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	res := Result{Number: national, From: from, To: to, Calls: []Call{}}
	if !maskedBefore.IsZero() && from.Before(maskedBefore) {
		m := maskedBefore
		res.MaskedBefore = &m
	}
	rows, err := pool.Query(ctx, `
		SELECT c.channel_id, c.queue, c.kind, c.entry_at, c.answered_at, c.ended_at, c.wait_ms, c.outcome,
		       coalesce(c.agent, ''),
		       t.window_start, t.window_end, t.status, coalesce(t.result, ''), t.completed_at,
		       v.employee, v.received_at, v.duration_ms, v.heard_at
		  FROM call_records c
		  LEFT JOIN tasks t ON t.source_key = c.channel_id AND t.kind = 'queue_callback'
		  LEFT JOIN voicemails v ON v.channel_id = c.channel_id
		 WHERE c.caller_number = ANY(@forms) AND c.entry_at >= @from AND c.entry_at < @to
		 ORDER BY c.entry_at, c.id`, pgx.NamedArgs{"forms": forms, "from": from, "to": to})
	if err != nil {
		return Result{}, fmt.Errorf("look up calls: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Call
		var ws, we, done, vAt, heard *time.Time
		var status, result, employee *string
		var vDur *int
		if err := rows.Scan(&c.Channel, &c.Queue, &c.Kind, &c.Entry, &c.Answered, &c.Ended, &c.WaitMS, &c.Outcome, &c.Agent,
			&ws, &we, &status, &result, &done, &employee, &vAt, &vDur, &heard); err != nil {
			return Result{}, fmt.Errorf("look up calls: %w", err)
		}
		if ws != nil {
			cb := &Callback{WindowStart: *ws, WindowEnd: *we, Status: *status, Result: *result, CompletedAt: done}
			cb.Kept = kept(cb, now)
			c.Callback = cb
		}
		if employee != nil {
			c.Voicemail = &Voicemail{Employee: *employee, ReceivedAt: *vAt, DurationMS: *vDur, HeardAt: heard}
		}
		res.Calls = append(res.Calls, c)
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("look up calls: %w", err)
	}
	return res, nil
}

// kept says whether a callback kept its promise.
func kept(cb *Callback, now time.Time) string {
	switch cb.Status {
	case "done":
		if cb.CompletedAt != nil && !cb.CompletedAt.After(cb.WindowEnd) {
			return "on_time"
		}
		return "late"
	case "failed", "cancelled":
		return cb.Status
	}
	if now.After(cb.WindowEnd) {
		return "overdue"
	}
	return "open"
}
