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
	OutcomeFallback       = "fallback"

	// Journal stages of a call in progress (CallRecord.Stage).
	StageEntered  = "entered"
	StageAnswered = "answered"
)

var (
	kinds    = []string{KindQueue, KindDirect}
	outcomes = []string{OutcomeAnswered, OutcomeAbandoned, OutcomeShortAbandoned,
		OutcomeCallback, OutcomeVoicemail, OutcomeTransferred, OutcomeClosed, OutcomeFallback}
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
	// PredictedWaitMS is the wait callmon expected at entry; -1 or absent: none (NULL).
	PredictedWaitMS *int64 `json:"predicted_wait_ms,omitempty"`

	// Stage "" is a finished call (a row of call_records); StageEntered and
	// StageAnswered journal a call in progress (a row of live_calls), which
	// the finished record replaces.
	Stage string `json:"stage,omitempty"`
	// What the record could not observe across a restart (DESIGN §10.1).
	Adopted         bool `json:"adopted,omitempty"`
	EntryEstimated  bool `json:"entry_estimated,omitempty"`  // entry is the channel's creationtime
	AnswerEstimated bool `json:"answer_estimated,omitempty"` // answered while no process was connected
	EndUnobserved   bool `json:"ended_unobserved,omitempty"` // ended while no process was connected
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
	case r.Stage != "" && r.Stage != StageEntered && r.Stage != StageAnswered:
		return bad("stage %q is not %s or %s", r.Stage, StageEntered, StageAnswered)
	case r.Stage != "" && r.Entry.IsZero():
		return bad("entry time is missing")
	case r.Stage == StageAnswered && r.Answered.IsZero():
		return bad("answered stage without an answer time")
	case r.Stage != "" && (r.ThresholdMS < 0 || r.ThresholdMS > math.MaxInt32):
		return bad("threshold %d ms is out of range", r.ThresholdMS)
	case r.Stage != "":
		return nil
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
	case r.PredictedWaitMS != nil && (*r.PredictedWaitMS < 0 || *r.PredictedWaitMS > math.MaxInt32):
		return bad("predicted wait %d ms is out of range", *r.PredictedWaitMS)
	}
	return nil
}

// InsertCalls writes recs, in order, in one transaction, and returns how many
// call records were new. Journal entries (Stage set) insert or update the
// call's live_calls row, unless its record exists already (a replayed
// spool); a finished record is inserted and its live_calls row deleted. A
// record of a visit already stored is skipped, so writing the same records
// again is harmless — except that a record whose end was observed replaces
// one whose end was not (written by a process that adopted the call while
// the observer's spool waited). Every record is checked first; if one is
// invalid nothing is written and the error wraps ErrInvalidRecord.
func (db *DB) InsertCalls(ctx context.Context, recs []CallRecord) (inserted int, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	var live, done []CallRecord
	for i := range recs {
		r := &recs[i]
		if err := r.Validate(); err != nil {
			err.(*InvalidRecordError).Index = i
			return 0, err
		}
		if r.Stage != "" {
			live = append(live, *r)
		} else {
			done = append(done, *r)
		}
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// Entries before records: within one batch a call's entry always
		// precedes its record, so this keeps each call's order.
		if err := upsertLive(ctx, tx, live); err != nil {
			return err
		}
		inserted, err = insertDone(ctx, tx, done)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("write %d call records: %w", len(recs), err)
	}
	return inserted, nil
}

// upsertLive journals calls in progress; an answer updates the entry's row.
func upsertLive(ctx context.Context, tx pgx.Tx, recs []CallRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// One statement cannot touch a row twice: collapse each call's entries
	// (an answer carries everything the entry does).
	byKey := map[[2]string]int{}
	var rows []CallRecord
	for _, r := range recs {
		k := [2]string{r.ChannelID, r.Queue}
		if i, ok := byKey[k]; ok {
			if r.Stage == StageAnswered {
				rows[i].Answered, rows[i].Agent, rows[i].AnswerEstimated = r.Answered, r.Agent, r.AnswerEstimated
			}
			continue
		}
		byKey[k] = len(rows)
		rows = append(rows, r)
	}
	n := len(rows)
	var (
		channelIDs = make([]string, n)
		queues     = make([]string, n)
		kindCol    = make([]string, n)
		callers    = make([]*string, n)
		entries    = make([]time.Time, n)
		entryEst   = make([]bool, n)
		answers    = make([]*time.Time, n)
		answerEst  = make([]bool, n)
		agents     = make([]*string, n)
		thresholds = make([]int32, n)
	)
	for i, r := range rows {
		channelIDs[i], queues[i], kindCol[i] = r.ChannelID, r.Queue, r.Kind
		callers[i], agents[i] = nullString(r.CallerNumber), nullString(r.Agent)
		entries[i], entryEst[i], answerEst[i] = r.Entry.Truncate(time.Millisecond), r.EntryEstimated, r.AnswerEstimated
		if !r.Answered.IsZero() {
			a := r.Answered.Truncate(time.Millisecond)
			answers[i] = &a
		}
		thresholds[i] = int32(r.ThresholdMS)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO live_calls (channel_id, queue, kind, caller_number, entry_at, entry_estimated,
		                        answered_at, answer_estimated, agent, threshold_ms)
		SELECT u.* FROM unnest(@channel_ids::text[], @queues::text[], @kinds::text[], @callers::text[],
		                       @entries::timestamptz[], @entry_est::bool[], @answers::timestamptz[],
		                       @answer_est::bool[], @agents::text[], @thresholds::int4[])
		         AS u(channel_id, queue, kind, caller_number, entry_at, entry_estimated,
		              answered_at, answer_estimated, agent, threshold_ms)
		 WHERE NOT EXISTS (SELECT 1 FROM call_records c WHERE c.channel_id = u.channel_id AND c.queue = u.queue)
		ON CONFLICT (channel_id, queue) DO UPDATE
		   SET entry_at         = CASE WHEN live_calls.entry_estimated AND NOT EXCLUDED.entry_estimated
		                               THEN EXCLUDED.entry_at ELSE live_calls.entry_at END,
		       entry_estimated  = live_calls.entry_estimated AND EXCLUDED.entry_estimated,
		       answered_at      = coalesce(EXCLUDED.answered_at, live_calls.answered_at),
		       answer_estimated = CASE WHEN EXCLUDED.answered_at IS NULL THEN live_calls.answer_estimated
		                               ELSE EXCLUDED.answer_estimated END,
		       agent            = coalesce(EXCLUDED.agent, live_calls.agent),
		       updated_at       = now()`,
		pgx.NamedArgs{
			"channel_ids": channelIDs, "queues": queues, "kinds": kindCol, "callers": callers,
			"entries": entries, "entry_est": entryEst, "answers": answers, "answer_est": answerEst,
			"agents": agents, "thresholds": thresholds,
		})
	if err != nil {
		return fmt.Errorf("journal %d calls in progress: %w", n, err)
	}
	return nil
}

// insertDone stores finished calls and ends their journal.
func insertDone(ctx context.Context, tx pgx.Tx, recs []CallRecord) (int, error) {
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
		adopted    = make([]bool, n)
		entryEst   = make([]bool, n)
		answerEst  = make([]bool, n)
		unobserved = make([]bool, n)
		predicted  = make([]*int64, n)
	)
	for i := range recs {
		r := &recs[i]
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
		adopted[i], entryEst[i], answerEst[i], unobserved[i] = r.Adopted, r.EntryEstimated, r.AnswerEstimated, r.EndUnobserved
		predicted[i] = r.PredictedWaitMS
	}
	args := pgx.NamedArgs{
		"channel_ids": channelIDs, "queues": queues, "kinds": kindCol, "callers": callers,
		"entries": entries, "answers": answers, "ends": ends,
		"waits": waits, "outcomes": outcomeCol, "within": within, "thresholds": thresholds, "agents": agents,
		"adopted": adopted, "entry_est": entryEst, "answer_est": answerEst, "unobserved": unobserved,
		"predicted": predicted,
	}
	// A batch may hold the same visit twice (a replayed spool beside the
	// queue); one statement cannot touch a row twice, so the first wins here
	// and the conflict rule decides against what is stored.
	tag, err := tx.Exec(ctx, `
		INSERT INTO call_records (channel_id, queue, kind, caller_number, entry_at, answered_at, ended_at,
		                          wait_ms, outcome, within_threshold, threshold_ms, agent,
		                          adopted, entry_estimated, answer_estimated, ended_unobserved, predicted_wait_ms)
		SELECT DISTINCT ON (u.channel_id, u.queue) u.channel_id, u.queue, u.kind, u.caller_number, u.entry_at,
		       u.answered_at, u.ended_at, u.wait_ms, u.outcome, u.within_threshold, u.threshold_ms, u.agent,
		       u.adopted, u.entry_estimated, u.answer_estimated, u.ended_unobserved, u.predicted_wait_ms
		  FROM unnest(@channel_ids::text[], @queues::text[], @kinds::text[], @callers::text[],
		              @entries::timestamptz[], @answers::timestamptz[], @ends::timestamptz[],
		              @waits::int8[], @outcomes::text[], @within::bool[], @thresholds::int4[], @agents::text[],
		              @adopted::bool[], @entry_est::bool[], @answer_est::bool[], @unobserved::bool[],
		              @predicted::int4[])
		       WITH ORDINALITY AS u(channel_id, queue, kind, caller_number, entry_at, answered_at, ended_at,
		                            wait_ms, outcome, within_threshold, threshold_ms, agent,
		                            adopted, entry_estimated, answer_estimated, ended_unobserved,
		                            predicted_wait_ms, ord)
		 ORDER BY u.channel_id, u.queue, u.ended_unobserved, u.ord
		ON CONFLICT (channel_id, queue) DO UPDATE
		   SET kind = EXCLUDED.kind, caller_number = EXCLUDED.caller_number, entry_at = EXCLUDED.entry_at,
		       answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at, wait_ms = EXCLUDED.wait_ms,
		       outcome = EXCLUDED.outcome, within_threshold = EXCLUDED.within_threshold,
		       threshold_ms = EXCLUDED.threshold_ms, agent = EXCLUDED.agent, adopted = EXCLUDED.adopted,
		       entry_estimated = EXCLUDED.entry_estimated, answer_estimated = EXCLUDED.answer_estimated,
		       predicted_wait_ms = coalesce(EXCLUDED.predicted_wait_ms, call_records.predicted_wait_ms),
		       ended_unobserved = false, recorded_at = now()
		 WHERE call_records.ended_unobserved AND NOT EXCLUDED.ended_unobserved`, args)
	if err != nil {
		return 0, fmt.Errorf("insert %d call records: %w", n, err)
	}
	if _, err := tx.Exec(ctx, `
		DELETE FROM live_calls l
		 USING unnest(@channel_ids::text[], @queues::text[]) AS u(channel_id, queue)
		 WHERE l.channel_id = u.channel_id AND l.queue = u.queue`, args); err != nil {
		return 0, fmt.Errorf("end the journal of %d calls: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// LiveCalls returns the journal of calls entered and not yet recorded, for a
// process that adopts them (as journal entries: Stage set).
func (db *DB) LiveCalls(ctx context.Context) ([]CallRecord, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT channel_id, queue, kind, coalesce(caller_number, ''), entry_at, entry_estimated,
		       answered_at, answer_estimated, coalesce(agent, ''), threshold_ms
		  FROM live_calls ORDER BY entry_at, channel_id`)
	if err != nil {
		return nil, fmt.Errorf("read calls in progress: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (CallRecord, error) {
		var r CallRecord
		var answered *time.Time
		var threshold int32
		err := row.Scan(&r.ChannelID, &r.Queue, &r.Kind, &r.CallerNumber, &r.Entry, &r.EntryEstimated,
			&answered, &r.AnswerEstimated, &r.Agent, &threshold)
		r.Stage, r.ThresholdMS = StageEntered, int64(threshold)
		if answered != nil {
			r.Answered, r.Stage = *answered, StageAnswered
		}
		return r, err
	})
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
