package voicemails

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"callmon/callback/spool"
	"callmon/callback/store"
	"callmon/callback/tasks"
)

// MaxChannelIDLen is the longest channel id accepted: the task's source key
// is the channel id behind a short prefix.
const MaxChannelIDLen = tasks.MaxTextLen - len(sourcePrefix)

// Store keeps the voicemails in PostgreSQL. It is safe for concurrent use,
// also by several callmon instances on one database.
type Store struct {
	pool   *pgxpool.Pool
	tasks  *tasks.Store
	window WindowFunc
}

// Option configures a Store.
type Option func(*Store)

// WithWindow sets the window of voicemail tasks (default: DefaultWindow;
// CalendarWindow for opening hours). A window f returns that is empty or
// reversed is replaced by DefaultWindow's: a message is never lost to it.
func WithWindow(f WindowFunc) Option {
	return func(s *Store) {
		if f != nil {
			s.window = f
		}
	}
}

// New returns a store on pool, whose database has migration
// 003_voicemails.sql (store.DB.Migrate) applied.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, tasks: tasks.New(pool), window: DefaultWindow}
	for _, o := range opts {
		o(s)
	}
	return s
}

// columns selects a voicemail for scan.
const columns = `id, employee, coalesce(caller_number, ''), caller_name, received_at, duration_ms,
	recording, channel_id, heard_at, task_id, masked_at`

func scan(row pgx.Row) (Voicemail, error) {
	var v Voicemail
	var ms int64
	var heard, masked pgtype.Timestamptz
	err := row.Scan(&v.ID, &v.Employee, &v.CallerNumber, &v.CallerName, &v.ReceivedAt, &ms,
		&v.Recording, &v.ChannelID, &heard, &v.TaskID, &masked)
	if err != nil {
		return Voicemail{}, err
	}
	v.ReceivedAt = v.ReceivedAt.UTC()
	v.Duration = time.Duration(ms) * time.Millisecond
	if heard.Valid {
		v.HeardAt = heard.Time.UTC()
	}
	if masked.Valid {
		v.MaskedAt = masked.Time.UTC()
	}
	return v, nil
}

// dbError turns the errors of statements the tables refuse into
// ErrInvalid; the input was checked, so this means a check the Go code does
// not repeat.
func dbError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil, errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		return err
	case errors.Is(err, tasks.ErrInvalid):
		return fmt.Errorf("%w: its task: %w", ErrInvalid, err)
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")):
		return fmt.Errorf("%w: %s", ErrInvalid, pgErr.Message)
	}
	return err
}

// Save stores a voicemail and the employee's voicemail task in one
// transaction: queue "direct", for v.Assignee (or the employee), to call
// v.CallerNumber back in E.164 (none when withheld or not a callable
// number), in the window of the Store's WindowFunc. When a voicemail of
// v.ChannelID exists it returns that one and created=false, and changes
// nothing. Invalid input gives ErrInvalid; any other error means the
// database could not be reached or failed, and retrying may succeed.
func (s *Store) Save(ctx context.Context, v NewVoicemail) (vm Voicemail, created bool, err error) {
	v, err = v.prepare()
	if err != nil {
		return Voicemail{}, false, err
	}
	start, end := s.window(v.ReceivedAt)
	if start.IsZero() || !start.Before(end) {
		start, end = DefaultWindow(v.ReceivedAt)
	}
	number, _ := E164(v.CallerNumber)
	assignee := v.Assignee
	if assignee == "" {
		assignee = v.Employee
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The voicemail's id first, so that its task can name it.
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('voicemails', 'id'))`).Scan(&id); err != nil {
			return err
		}
		task, taskCreated, err := s.tasks.CreateTx(ctx, tx, tasks.NewTask{
			Kind: tasks.KindVoicemail, Queue: Queue, Number: number, CallerName: v.CallerName,
			WindowStart: start, WindowEnd: end, Assignee: assignee, Notes: taskNotes(id, v, number),
			SourceKey: sourcePrefix + v.ChannelID, Actor: "caller",
		})
		if err != nil {
			return err
		}
		if !taskCreated {
			// Saved before (a concurrent Save has committed): the task and
			// the voicemail were created together.
			vm, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM voicemails WHERE channel_id = $1`, v.ChannelID))
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// A task of this key without its voicemail (written by hand?):
			// the voicemail goes with it.
		}
		vm, err = scan(tx.QueryRow(ctx, `
			INSERT INTO voicemails (id, employee, caller_number, caller_name, received_at, duration_ms,
				recording, channel_id, task_id)
			VALUES (@id, @employee, NULLIF(@caller_number, ''), @caller_name, @received_at, @duration_ms,
				@recording, @channel_id, @task_id)
			RETURNING `+columns, pgx.NamedArgs{
			"id": id, "employee": v.Employee, "caller_number": v.CallerNumber, "caller_name": v.CallerName,
			"received_at": v.ReceivedAt, "duration_ms": millis(v.Duration), "recording": v.Recording,
			"channel_id": v.ChannelID, "task_id": task.ID,
		}))
		created = err == nil
		return err
	})
	if err != nil {
		return Voicemail{}, false, dbError(err)
	}
	return vm, created, nil
}

// taskNotes describes the message on its task, for the employee's list.
func taskNotes(id int64, v NewVoicemail, number string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Voicemail %d: a message of %s for %s.", id, v.Duration.Round(time.Second), v.Employee)
	switch {
	case v.CallerNumber == "":
		b.WriteString(" The caller withheld their number.")
	case number == "":
		fmt.Fprintf(&b, " The caller's number %q cannot be called back.", v.CallerNumber)
	}
	return b.String()
}

// Get returns the voicemail with id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id int64) (Voicemail, error) {
	v, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM voicemails WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Voicemail{}, fmt.Errorf("%w: voicemail %d", ErrNotFound, id)
	}
	return v, err
}

// ByTask returns the voicemail whose task is taskID, or ErrNotFound.
func (s *Store) ByTask(ctx context.Context, taskID int64) (Voicemail, error) {
	v, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM voicemails WHERE task_id = $1`, taskID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Voicemail{}, fmt.Errorf("%w: no voicemail has task %d", ErrNotFound, taskID)
	}
	return v, err
}

// List returns the voicemails of employee ("" for every employee's), only
// those not yet heard when unheardOnly, newest first. Voicemails removed
// after their retention period are not listed.
func (s *Store) List(ctx context.Context, employee string, unheardOnly bool) ([]Voicemail, error) {
	q := `SELECT ` + columns + ` FROM voicemails WHERE masked_at IS NULL`
	args := pgx.NamedArgs{}
	if employee != "" {
		q += ` AND employee = @employee`
		args["employee"] = employee
	}
	if unheardOnly {
		q += ` AND heard_at IS NULL`
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY received_at DESC, id DESC`, args)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Voicemail, error) { return scan(r) })
}

// MarkHeard records that the voicemail has been heard at at, and returns
// it. Marking it again changes nothing: the first time it was heard stays.
// A voicemail removed after its retention period gives ErrRemoved.
func (s *Store) MarkHeard(ctx context.Context, id int64, at time.Time) (Voicemail, error) {
	if at.IsZero() {
		return Voicemail{}, invalidf("the time it was heard is missing")
	}
	v, err := scan(s.pool.QueryRow(ctx, `
		UPDATE voicemails SET heard_at = coalesce(heard_at, @at) WHERE id = @id
		RETURNING `+columns, pgx.NamedArgs{"id": id, "at": at}))
	if errors.Is(err, pgx.ErrNoRows) {
		return Voicemail{}, fmt.Errorf("%w: voicemail %d", ErrNotFound, id)
	}
	if err == nil && v.Removed() {
		return v, fmt.Errorf("%w: voicemail %d", ErrRemoved, id)
	}
	return v, err
}

// Counts returns how many of employee's voicemails are new (not heard)
// and old (heard): the message-waiting indicator's counts.
func (s *Store) Counts(ctx context.Context, employee string) (newCount, oldCount int, err error) {
	err = s.pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE heard_at IS NULL), count(*) FILTER (WHERE heard_at IS NOT NULL)
		FROM voicemails WHERE employee = $1 AND masked_at IS NULL`, employee).Scan(&newCount, &oldCount)
	return newCount, oldCount, err
}

// Backlog is an employee's unheard voicemails: all of them, and those whose
// task window has ended (by default the close of the next working day after
// the message was left), which is when unheard becomes a broken promise.
type Backlog struct{ Unheard, Overdue int }

// Waiting returns the unheard voicemails per employee at now, for the
// metrics; employees without one are absent.
func (s *Store) Waiting(ctx context.Context, now time.Time) (map[string]Backlog, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT v.employee, count(*), count(*) FILTER (WHERE t.window_end <= $1)
		FROM voicemails v JOIN tasks t ON t.id = v.task_id
		WHERE v.heard_at IS NULL AND v.masked_at IS NULL GROUP BY v.employee`, now)
	if err != nil {
		return nil, err
	}
	out := map[string]Backlog{}
	var employee string
	var b Backlog
	if _, err := pgx.ForEachRow(rows, []any{&employee, &b.Unheard, &b.Overdue}, func() error {
		out[employee] = b
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// SpoolWriter writes spooled voicemails (kind SpoolKind) with s.Save,
// which is idempotent on the channel id, so a drain repeated after a crash
// stores each voicemail and its task once. Register it with the Recorder:
//
//	rec.Register(voicemails.SpoolKind, voicemails.SpoolWriter(vs))
//
// It writes through s, whatever database the Recorder passes.
func SpoolWriter(s *Store) store.SpoolWriter {
	return func(ctx context.Context, _ *store.DB, entries []spool.Entry) error {
		for _, e := range entries {
			var v NewVoicemail
			if err := json.Unmarshal(e.Data, &v); err != nil {
				return fmt.Errorf("%w: entry %d (key %s) is not a voicemail: %v", store.ErrBadEntry, e.Seq, e.Key, err)
			}
			if _, _, err := s.Save(ctx, v); err != nil {
				if errors.Is(err, ErrInvalid) {
					return fmt.Errorf("%w: voicemail %s: %w", store.ErrBadEntry, e.Key, err)
				}
				return err
			}
		}
		return nil
	}
}

// Spool keeps v in r's durable spool, to be written by the SpoolWriter
// registered for SpoolKind when PostgreSQL is back. It returns once v is on
// stable storage. Invalid input gives ErrInvalid and is not spooled.
func Spool(r *store.Recorder, v NewVoicemail) error {
	p, err := v.prepare()
	if err != nil {
		return err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return r.Spool(SpoolKind, p.ChannelID, data)
}

// SaveOrSpool saves v, or — when PostgreSQL cannot take it now — keeps it
// in r's spool (spooled=true, Voicemail zero) so that it lands exactly once
// later. An error means the voicemail is in neither: invalid input
// (ErrInvalid), or both the database and the spool failed.
func (s *Store) SaveOrSpool(ctx context.Context, r *store.Recorder, v NewVoicemail) (vm Voicemail, spooled bool, err error) {
	vm, _, err = s.Save(ctx, v)
	if err == nil || errors.Is(err, ErrInvalid) {
		return vm, false, err
	}
	if serr := Spool(r, v); serr != nil {
		return Voicemail{}, false, fmt.Errorf("storing voicemail: %w; spooling it: %w", err, serr)
	}
	return Voicemail{}, true, nil
}
