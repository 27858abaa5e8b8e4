package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Call kinds and outcomes, as stored (DESIGN §3).
const (
	KindQueue  = "queue"
	KindDirect = "direct"

	OutcomeAnswered       = "answered"
	OutcomeAbandoned      = "abandoned"
	OutcomeShortAbandoned = "short_abandoned"
	OutcomeCallback       = "callback"
	OutcomeVoicemail      = "voicemail"
	OutcomeTransferred    = "transferred"
	OutcomeClosed         = "closed"
)

var (
	kinds    = []string{KindQueue, KindDirect}
	outcomes = []string{OutcomeAnswered, OutcomeAbandoned, OutcomeShortAbandoned,
		OutcomeCallback, OutcomeVoicemail, OutcomeTransferred, OutcomeClosed}
)

// CallRecord is one finished call. Times are Asterisk's event timestamps; they
// are stored to the millisecond (Asterisk's own precision). The JSON form is
// the spool's format: keep it compatible.
type CallRecord struct {
	ChannelID       string    `json:"channel_id"`              // the caller's Asterisk channel id: unique per call
	Queue           string    `json:"queue"`                   // queue name; "direct" for direct dial
	Kind            string    `json:"kind"`                    // KindQueue or KindDirect
	CallerNumber    string    `json:"caller_number,omitempty"` // "" when withheld (stored as NULL)
	Entry           time.Time `json:"entry"`
	Answered        time.Time `json:"answered,omitzero"` // zero: not answered (stored as NULL)
	Ended           time.Time `json:"ended"`
	WaitMS          int64     `json:"wait_ms"` // entry→answer if answered, else entry→end of waiting
	Outcome         string    `json:"outcome"`
	WithinThreshold bool      `json:"within_threshold"`
	ThresholdMS     int64     `json:"threshold_ms"`
	Agent           string    `json:"agent,omitempty"` // "" when nobody answered (stored as NULL)
}

// ErrInvalidRecord is wrapped by the errors of records that the table would
// reject; such a record can never be written, so retrying is pointless.
var ErrInvalidRecord = errors.New("invalid call record")

// InvalidRecordError says which record is wrong and why.
type InvalidRecordError struct {
	Index     int // position in the slice given to InsertCalls
	ChannelID string
	Reason    string
}

func (e *InvalidRecordError) Error() string {
	if e.ChannelID == "" {
		return fmt.Sprintf("call record %d: %s", e.Index, e.Reason)
	}
	return fmt.Sprintf("call record %d (channel %s): %s", e.Index, e.ChannelID, e.Reason)
}

func (e *InvalidRecordError) Unwrap() error { return ErrInvalidRecord }

// Validate checks r against the table's constraints.
func (r *CallRecord) Validate() error {
	bad := func(format string, a ...any) error {
		return &InvalidRecordError{ChannelID: r.ChannelID, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case r.ChannelID == "":
		return bad("channel id is empty")
	case r.Queue == "":
		return bad("queue is empty")
	case !slices.Contains(kinds, r.Kind):
		return bad("kind %q is not one of %s", r.Kind, strings.Join(kinds, ", "))
	case !slices.Contains(outcomes, r.Outcome):
		return bad("outcome %q is not one of %s", r.Outcome, strings.Join(outcomes, ", "))
	case r.Entry.IsZero():
		return bad("entry time is missing")
	case r.Ended.IsZero():
		return bad("end time is missing")
	case r.WaitMS < 0:
		return bad("wait %d ms is negative", r.WaitMS)
	case r.ThresholdMS < 0 || r.ThresholdMS > math.MaxInt32:
		return bad("threshold %d ms is out of range", r.ThresholdMS)
	case r.Outcome == OutcomeAnswered && r.Answered.IsZero():
		return bad("outcome answered without an answer time")
	case r.WithinThreshold && r.Answered.IsZero():
		return bad("within threshold without an answer time")
	}
	return nil
}

// InsertCalls stores recs in one statement and returns how many rows were
// new. A record whose channel id is already stored is skipped, so writing the
// same records again (a replayed spool) is harmless. Every record is checked
// first; if one is invalid nothing is written and the error wraps
// ErrInvalidRecord.
func (db *DB) InsertCalls(ctx context.Context, recs []CallRecord) (inserted int, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	n := len(recs)
	var (
		channelIDs = make([]string, n)
		queues     = make([]string, n)
		kindCol    = make([]string, n)
		callers    = make([]*string, n)
		entries    = make([]time.Time, n)
		answers    = make([]*time.Time, n)
		ends       = make([]time.Time, n)
		waits      = make([]int64, n)
		outcomeCol = make([]string, n)
		within     = make([]bool, n)
		thresholds = make([]int32, n)
		agents     = make([]*string, n)
	)
	for i := range recs {
		r := &recs[i]
		if err := r.Validate(); err != nil {
			err.(*InvalidRecordError).Index = i
			return 0, err
		}
		channelIDs[i], queues[i], kindCol[i] = r.ChannelID, r.Queue, r.Kind
		callers[i], agents[i] = nullString(r.CallerNumber), nullString(r.Agent)
		// Truncate rather than let PostgreSQL round, so a record's interval and
		// day are those of its millisecond timestamp.
		entries[i], ends[i] = r.Entry.Truncate(time.Millisecond), r.Ended.Truncate(time.Millisecond)
		if !r.Answered.IsZero() {
			a := r.Answered.Truncate(time.Millisecond)
			answers[i] = &a
		}
		waits[i], outcomeCol[i], within[i], thresholds[i] = r.WaitMS, r.Outcome, r.WithinThreshold, int32(r.ThresholdMS)
	}
	tag, err := db.pool.Exec(ctx, `
		INSERT INTO call_records (channel_id, queue, kind, caller_number, entry_at, answered_at, ended_at,
		                          wait_ms, outcome, within_threshold, threshold_ms, agent)
		SELECT * FROM unnest(@channel_ids::text[], @queues::text[], @kinds::text[], @callers::text[],
		                     @entries::timestamptz[], @answers::timestamptz[], @ends::timestamptz[],
		                     @waits::int8[], @outcomes::text[], @within::bool[], @thresholds::int4[], @agents::text[])
		ON CONFLICT (channel_id) DO NOTHING`,
		pgx.NamedArgs{
			"channel_ids": channelIDs, "queues": queues, "kinds": kindCol, "callers": callers,
			"entries": entries, "answers": answers, "ends": ends,
			"waits": waits, "outcomes": outcomeCol, "within": within, "thresholds": thresholds, "agents": agents,
		})
	if err != nil {
		return 0, fmt.Errorf("insert %d call records: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
