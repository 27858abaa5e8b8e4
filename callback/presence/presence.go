// Package presence owns agents' presence in PostgreSQL (table
// agent_presence): whether each agent is logged in and paused, why, when and
// by whom that last changed. Presence is state of the site, not of a callmon
// process: every process reads it at start, writes each change, and follows
// the changes other processes make through NOTIFY callmon_presence.
//
// The package knows no telephony and keeps no state of its own: what an
// agent's presence means for calls is decided by package ari, which holds
// the current value in memory and retries writes while PostgreSQL is away.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the NOTIFY channel on which every change of a row is announced
// (a trigger of agent_presence), with the agent's id as payload.
const Channel = "callmon_presence"

// MaxReason is the longest pause reason, in characters (the table's CHECK).
const MaxReason = 100

// ErrInvalid is returned for a presence the table would refuse.
var ErrInvalid = errors.New("invalid presence")

// Presence is one agent's row.
type Presence struct {
	Agent     string    `db:"agent"`
	LoggedIn  bool      `db:"logged_in"`
	Paused    bool      `db:"paused"`
	Reason    string    `db:"reason"` // empty: none; only while paused
	ChangedAt time.Time `db:"changed_at"`
	ChangedBy string    `db:"changed_by"` // the agent's id, or "api"
	Version   int64     `db:"version"`    // set by the store, ignored by Save
}

// CheckReason returns the reason as stored (trimmed) or an error saying what
// is wrong with it, for the API to refuse it before anything changes.
func CheckReason(reason string) (string, error) {
	r := strings.TrimSpace(reason)
	if !utf8.ValidString(r) {
		return "", fmt.Errorf("%w: the pause reason is not valid UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(r); n > MaxReason {
		return "", fmt.Errorf("%w: the pause reason has %d characters; at most %d are allowed", ErrInvalid, n, MaxReason)
	}
	if strings.ContainsFunc(r, unicode.IsControl) {
		return "", fmt.Errorf("%w: the pause reason contains a control character (one line of text, please)", ErrInvalid)
	}
	return r, nil
}

func (p Presence) check() error {
	switch {
	case p.Agent == "":
		return fmt.Errorf("%w: no agent id", ErrInvalid)
	case p.ChangedBy == "":
		return fmt.Errorf("%w: agent %q: no changed_by", ErrInvalid, p.Agent)
	case p.ChangedAt.IsZero():
		return fmt.Errorf("%w: agent %q: no changed_at", ErrInvalid, p.Agent)
	case p.Reason != "" && !p.Paused:
		return fmt.Errorf("%w: agent %q: a pause reason without a pause", ErrInvalid, p.Agent)
	}
	if _, err := CheckReason(p.Reason); err != nil {
		return err
	}
	return nil
}

// Timing of Listen.
const (
	listenIdle         = 30 * time.Second // a quiet connection is pinged after this
	listenPingTimeout  = 10 * time.Second
	listenMinBackoff   = 100 * time.Millisecond
	listenMaxBackoff   = 30 * time.Second
	listenCloseTimeout = 2 * time.Second
)

// Store reads and writes agent_presence.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

// New returns a Store on pool; log (nil: discard) hears about lost LISTEN
// connections.
func New(pool *pgxpool.Pool, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, log: log}
}

// Load returns every row, by agent id, including agents that are no longer
// configured (the caller decides what to ignore).
func (s *Store) Load(ctx context.Context) (map[string]Presence, error) {
	rows, err := s.pool.Query(ctx, `SELECT agent, logged_in, paused, coalesce(pause_reason, '') AS reason,
		changed_at, changed_by, version FROM agent_presence`)
	if err != nil {
		return nil, fmt.Errorf("load agent presence: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[Presence])
	if err != nil {
		return nil, fmt.Errorf("load agent presence: %w", err)
	}
	out := make(map[string]Presence, len(list))
	for _, p := range list {
		out[p.Agent] = p
	}
	return out, nil
}

// Save writes p unless the row already holds a later change (changed_at
// after p's): a change that waited for PostgreSQL to come back must not
// overwrite what another process wrote meanwhile. applied reports whether
// the row now holds p.
func (s *Store) Save(ctx context.Context, p Presence) (applied bool, err error) {
	if err := p.check(); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO agent_presence AS ap (agent, logged_in, paused, pause_reason, changed_at, changed_by)
		VALUES (@agent, @logged_in, @paused, nullif(@reason, ''), @changed_at, @changed_by)
		ON CONFLICT (agent) DO UPDATE SET
			logged_in = EXCLUDED.logged_in, paused = EXCLUDED.paused, pause_reason = EXCLUDED.pause_reason,
			changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by, version = ap.version + 1
		WHERE ap.changed_at <= EXCLUDED.changed_at`,
		pgx.NamedArgs{"agent": p.Agent, "logged_in": p.LoggedIn, "paused": p.Paused, "reason": p.Reason,
			"changed_at": p.ChangedAt, "changed_by": p.ChangedBy})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
			// Data or constraint errors: the row is refused, retrying
			// cannot help.
			return false, fmt.Errorf("%w: save presence of agent %q: %w", ErrInvalid, p.Agent, err)
		}
		return false, fmt.Errorf("save presence of agent %q: %w", p.Agent, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Listen calls changed with an agent's id whenever that agent's row changes,
// whoever changed it, until ctx ends; then it returns ctx's error. It holds
// one connection of its own (made with the pool's configuration, outside the
// pool), LISTENs first and then calls changed("") — anything may have changed
// while it was not listening — and again after every reconnect (exponential
// backoff, logged). Calls come in order from one goroutine.
func (s *Store) Listen(ctx context.Context, changed func(agent string)) error {
	backoff := listenMinBackoff
	for {
		listening, err := s.listenOnce(ctx, changed)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listening {
			backoff = listenMinBackoff
		}
		s.log.Warn("presence notifications interrupted; listening again", "channel", Channel, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

func (s *Store) listenOnce(ctx context.Context, changed func(string)) (listening bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), listenCloseTimeout)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return false, err
	}
	changed("")
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		idle := errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err != nil && idle:
			// A black-holed network sends no reset: ping to find out.
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
			continue
		case err != nil:
			return true, err
		}
		if n.Payload == "" {
			continue
		}
		changed(n.Payload)
	}
}
