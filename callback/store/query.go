package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/calendar"
)

// IntervalMinutes is the length of the service-level intervals of Counts.
const IntervalMinutes = 15

// QueueCounts are one queue's call counts over a period.
type QueueCounts struct {
	Queue string
	// Offered counts every call that is not closed; the default service level
	// is AnsweredWithin / (Offered − ShortAbandoned).
	Offered, AnsweredWithin, ShortAbandoned                       int64
	Answered, Abandoned, Callback, Voicemail, Transferred, Closed int64
	// Intervals holds the 15-minute intervals (aligned on the wall clock of
	// the location given to Counts) that had offered calls, oldest first.
	Intervals []IntervalCounts
}

// IntervalCounts are a queue's counts in one 15-minute interval.
type IntervalCounts struct {
	Start                                   time.Time // in the location given to Counts
	Offered, AnsweredWithin, ShortAbandoned int64
}

// Counts returns, per queue, the calls that entered in [from, to), with the
// per-interval counts that the live service level of the running interval
// needs. Queues are sorted by name. Intervals are aligned on loc's wall clock:
// on the night clocks go back, 02:00–02:15 happens twice and is two intervals.
func (db *DB) Counts(ctx context.Context, from, to time.Time, loc *time.Location) ([]QueueCounts, error) {
	tz, err := zoneName(loc)
	if err != nil {
		return nil, err
	}
	type row struct {
		Queue          string     `db:"queue"`
		Slot           *time.Time `db:"slot"` // NULL on a queue's total
		Offered        int64      `db:"offered"`
		AnsweredWithin int64      `db:"answered_within"`
		ShortAbandoned int64      `db:"short_abandoned"`
		Answered       int64      `db:"answered"`
		Abandoned      int64      `db:"abandoned"`
		Callback       int64      `db:"callback"`
		Voicemail      int64      `db:"voicemail"`
		Transferred    int64      `db:"transferred"`
		Closed         int64      `db:"closed"`
	}
	// The interval start is computed as an instant (entry minus its distance
	// from the wall-clock quarter), not as a wall-clock time converted back,
	// which would merge the two 02:00 hours of the autumn night.
	rows, err := db.pool.Query(ctx, `
		WITH c AS (
		    SELECT queue, outcome, within_threshold, entry_at, entry_at AT TIME ZONE @tz AS lt
		      FROM call_records
		     WHERE entry_at >= @from AND entry_at < @to
		), s AS (
		    SELECT queue, outcome, within_threshold,
		           entry_at - (lt - date_trunc('hour', lt)
		                       - floor(extract(minute FROM lt) / @minutes) * @minutes * interval '1 minute') AS slot
		      FROM c
		)
		SELECT queue,
		       CASE WHEN grouping(slot) = 0 THEN slot END AS slot,
		       count(*) FILTER (WHERE outcome <> 'closed')          AS offered,
		       count(*) FILTER (WHERE within_threshold)             AS answered_within,
		       count(*) FILTER (WHERE outcome = 'short_abandoned')  AS short_abandoned,
		       count(*) FILTER (WHERE outcome = 'answered')         AS answered,
		       count(*) FILTER (WHERE outcome = 'abandoned')        AS abandoned,
		       count(*) FILTER (WHERE outcome = 'callback')         AS callback,
		       count(*) FILTER (WHERE outcome = 'voicemail')        AS voicemail,
		       count(*) FILTER (WHERE outcome = 'transferred')      AS transferred,
		       count(*) FILTER (WHERE outcome = 'closed')           AS closed
		  FROM s
		 GROUP BY GROUPING SETS ((queue), (queue, slot))
		 ORDER BY queue, grouping(slot) DESC, slot`,
		pgx.NamedArgs{"tz": tz, "from": from, "to": to, "minutes": IntervalMinutes})
	if err != nil {
		return nil, zoneError(tz, fmt.Errorf("count calls: %w", err))
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return nil, zoneError(tz, fmt.Errorf("count calls: %w", err))
	}
	var out []QueueCounts
	for _, r := range rs {
		if r.Slot == nil {
			out = append(out, QueueCounts{Queue: r.Queue,
				Offered: r.Offered, AnsweredWithin: r.AnsweredWithin, ShortAbandoned: r.ShortAbandoned,
				Answered: r.Answered, Abandoned: r.Abandoned, Callback: r.Callback,
				Voicemail: r.Voicemail, Transferred: r.Transferred, Closed: r.Closed})
			continue
		}
		if r.Offered == 0 {
			continue // only closed calls
		}
		q := &out[len(out)-1] // the total sorts before its intervals
		q.Intervals = append(q.Intervals, IntervalCounts{Start: r.Slot.In(loc),
			Offered: r.Offered, AnsweredWithin: r.AnsweredWithin, ShortAbandoned: r.ShortAbandoned})
	}
	return out, nil
}

// ReportRow is the service level of one queue on one day, or a total.
type ReportRow struct {
	Day   calendar.Date // entry date in the report's location; zero on a total row
	Total bool          // a total over the whole period
	Queue string        // "" only on the total over all queues

	Offered, Answered, AnsweredWithin, Abandoned, ShortAbandoned int64
	Callback, Voicemail, Transferred, Closed                     int64

	// ServiceLevel is AnsweredWithin / (Offered − ShortAbandoned), a fraction;
	// ServiceLevelOK is false when that denominator is 0.
	ServiceLevel   float64
	ServiceLevelOK bool
	// AvgWaitMS and P90WaitMS (continuous percentile) are over answered calls;
	// WaitOK is false when no call was answered.
	AvgWaitMS, P90WaitMS float64
	WaitOK               bool
}

// Report returns the service level per day and queue for the calls that
// entered on the days from through to (inclusive, dates in loc), ordered by
// day and queue, followed by a total per queue over the period and, when queue
// is "" (all queues), a total over all queues. Days without calls have no row.
func (db *DB) Report(ctx context.Context, from, to calendar.Date, queue string, loc *time.Location) ([]ReportRow, error) {
	tz, err := zoneName(loc)
	if err != nil {
		return nil, err
	}
	if to.Before(from) {
		return nil, fmt.Errorf("report: end date %s is before start date %s", to, from)
	}
	type row struct {
		Day            *time.Time `db:"day"`
		DayTotal       bool       `db:"day_total"`
		Queue          *string    `db:"queue"`
		Offered        int64      `db:"offered"`
		Answered       int64      `db:"answered"`
		AnsweredWithin int64      `db:"answered_within"`
		Abandoned      int64      `db:"abandoned"`
		ShortAbandoned int64      `db:"short_abandoned"`
		Callback       int64      `db:"callback"`
		Voicemail      int64      `db:"voicemail"`
		Transferred    int64      `db:"transferred"`
		Closed         int64      `db:"closed"`
		ServiceLevel   *float64   `db:"service_level"`
		AvgWaitMS      *float64   `db:"avg_wait_ms"`
		P90WaitMS      *float64   `db:"p90_wait_ms"`
	}
	// The averages divide float8 by a count (not numeric avg) so that they
	// equal the same division done in Go, to the bit.
	rows, err := db.pool.Query(ctx, `
		WITH c AS (
		    SELECT (entry_at AT TIME ZONE @tz)::date AS day, queue, outcome, within_threshold, wait_ms
		      FROM call_records
		     WHERE entry_at >= (@from::date::timestamp AT TIME ZONE @tz)
		       AND entry_at < ((@to::date + 1)::timestamp AT TIME ZONE @tz)
		       AND (@queue = '' OR queue = @queue)
		)
		SELECT CASE WHEN grouping(day) = 0 THEN day END AS day,
		       grouping(day) = 1 AS day_total,
		       CASE WHEN grouping(queue) = 0 THEN queue END AS queue,
		       count(*) FILTER (WHERE outcome <> 'closed')          AS offered,
		       count(*) FILTER (WHERE outcome = 'answered')         AS answered,
		       count(*) FILTER (WHERE within_threshold)             AS answered_within,
		       count(*) FILTER (WHERE outcome = 'abandoned')        AS abandoned,
		       count(*) FILTER (WHERE outcome = 'short_abandoned')  AS short_abandoned,
		       count(*) FILTER (WHERE outcome = 'callback')         AS callback,
		       count(*) FILTER (WHERE outcome = 'voicemail')        AS voicemail,
		       count(*) FILTER (WHERE outcome = 'transferred')      AS transferred,
		       count(*) FILTER (WHERE outcome = 'closed')           AS closed,
		       (count(*) FILTER (WHERE within_threshold))::float8
		           / NULLIF(count(*) FILTER (WHERE outcome <> 'closed')
		                    - count(*) FILTER (WHERE outcome = 'short_abandoned'), 0) AS service_level,
		       (sum(wait_ms) FILTER (WHERE outcome = 'answered'))::float8
		           / NULLIF(count(*) FILTER (WHERE outcome = 'answered'), 0) AS avg_wait_ms,
		       percentile_cont(0.9) WITHIN GROUP (ORDER BY wait_ms) FILTER (WHERE outcome = 'answered') AS p90_wait_ms
		  FROM c
		 GROUP BY GROUPING SETS ((day, queue), (queue), ())
		HAVING count(*) > 0
		 ORDER BY grouping(day), grouping(queue), day, queue`,
		pgx.NamedArgs{"tz": tz, "from": from.String(), "to": to.String(), "queue": queue})
	if err != nil {
		return nil, zoneError(tz, fmt.Errorf("report: %w", err))
	}
	rs, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return nil, zoneError(tz, fmt.Errorf("report: %w", err))
	}
	out := make([]ReportRow, 0, len(rs))
	for _, r := range rs {
		if r.Queue == nil && queue != "" {
			continue // the total over all queues repeats the one queue's total
		}
		rr := ReportRow{Total: r.DayTotal,
			Offered: r.Offered, Answered: r.Answered, AnsweredWithin: r.AnsweredWithin,
			Abandoned: r.Abandoned, ShortAbandoned: r.ShortAbandoned, Callback: r.Callback,
			Voicemail: r.Voicemail, Transferred: r.Transferred, Closed: r.Closed}
		if r.Day != nil {
			rr.Day = calendar.DateOf(*r.Day)
		}
		if r.Queue != nil {
			rr.Queue = *r.Queue
		}
		if r.ServiceLevel != nil {
			rr.ServiceLevel, rr.ServiceLevelOK = *r.ServiceLevel, true
		}
		if r.AvgWaitMS != nil && r.P90WaitMS != nil {
			rr.AvgWaitMS, rr.P90WaitMS, rr.WaitOK = *r.AvgWaitMS, *r.P90WaitMS, true
		}
		out = append(out, rr)
	}
	return out, nil
}

// zoneName returns the IANA name PostgreSQL needs for loc.
func zoneName(loc *time.Location) (string, error) {
	if loc == nil {
		return "", errors.New("no time zone given")
	}
	if name := loc.String(); name != "Local" && name != "" {
		return name, nil
	}
	return "", errors.New("the time zone must be named (for example Europe/Amsterdam), not Local")
}

// zoneError explains PostgreSQL's "time zone not recognized".
func zoneError(tz string, err error) error {
	if pgCode(err) == "22023" {
		return fmt.Errorf("PostgreSQL does not know time zone %q: %w", tz, err)
	}
	return err
}

// CountOffered counts, for each window [from[i], to[i]), the offered calls of queue that
// entered in it: finished ones (call_records, every outcome but closed) and those still in
// progress (live_calls, journaled at entry). The staffing forecast's history.
func (db *DB) CountOffered(ctx context.Context, queue string, from, to []time.Time) ([]int, error) {
	if len(from) != len(to) {
		return nil, fmt.Errorf("count offered calls: %d window starts for %d ends", len(from), len(to))
	}
	rows, err := db.pool.Query(ctx, `
		SELECT (SELECT count(*) FROM call_records c
		         WHERE c.queue = @queue AND c.entry_at >= w.f AND c.entry_at < w.t AND c.outcome <> 'closed')
		     + (SELECT count(*) FROM live_calls l
		         WHERE l.queue = @queue AND l.entry_at >= w.f AND l.entry_at < w.t)
		  FROM unnest(@froms::timestamptz[], @tos::timestamptz[]) WITH ORDINALITY AS w(f, t, i)
		 ORDER BY w.i`, pgx.NamedArgs{"queue": queue, "froms": from, "tos": to})
	if err != nil {
		return nil, fmt.Errorf("count offered calls of queue %s: %w", queue, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("count offered calls of queue %s: %w", queue, err)
	}
	return out, nil
}
