package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the NOTIFY channel on which every change of a task is
// announced (a trigger of the tasks table), as JSON
// {"id", "queue", "assignee", "status", "window_start", "lease_expires"}.
const Channel = "callmon_tasks"

// Timing of Listen.
const (
	// defaultListenIdle: a connection quiet for this long is pinged, so a
	// dead one (a black-holed network sends no reset) is noticed.
	defaultListenIdle  = 30 * time.Second
	listenPingTimeout  = 10 * time.Second
	listenMinBackoff   = 100 * time.Millisecond
	listenMaxBackoff   = 30 * time.Second
	listenCloseTimeout = 2 * time.Second
)

// Change is a notification: task ID changed and is now in Status, in Queue,
// assigned to Assignee ("" for the pool), in the window starting at
// WindowStart, held until LeaseExpires (zero when not held).
//
// A Change with Resync set names no task: Listen has (re-)established its
// LISTEN. Every change from then on will be delivered; changes made before —
// while the connection was down, or before the first LISTEN — were not, so
// whoever shows tasks should read them again.
type Change struct {
	ID       int64  `json:"id"`
	Queue    string `json:"queue"`
	Assignee string `json:"assignee"`
	Status   Status `json:"status"`
	// Times as the database gives them; compare them with Equal.
	WindowStart  time.Time `json:"window_start"`
	LeaseExpires time.Time `json:"lease_expires"`
	Resync       bool      `json:"-"`
}

// Listen delivers every change of a task to fn until ctx ends, and then
// returns ctx's error. It holds one connection of its own, made with pool's
// configuration (the store's pool when pool is nil) but outside the pool:
// it LISTENs first, then calls fn(Change{Resync: true}), then fn for each
// notification, in order, on one goroutine — a slow fn delays the next. A
// lost connection is made again with exponential backoff (reported to the
// store's logger), followed again by a Resync.
func (s *Store) Listen(ctx context.Context, pool *pgxpool.Pool, fn func(Change)) error {
	if pool == nil {
		pool = s.pool
	}
	if pool == nil || fn == nil {
		return fmt.Errorf("%w: Listen needs a pool and a function", ErrInvalid)
	}
	backoff := listenMinBackoff
	for {
		listening, err := s.listenOnce(ctx, pool, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listening {
			backoff = listenMinBackoff // it had worked: a fresh failure
		}
		s.log.Warn("task notifications interrupted; listening again", "channel", Channel, "err", err, "retry_in", backoff)
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

// listenOnce connects, listens and delivers until the connection fails or
// ctx ends. listening reports whether LISTEN succeeded.
func (s *Store) listenOnce(ctx context.Context, pool *pgxpool.Pool, fn func(Change)) (listening bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
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
	fn(Change{Resync: true})
	for {
		wctx, cancel := context.WithTimeout(ctx, s.listenIdle)
		n, err := conn.WaitForNotification(wctx)
		idle := errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err != nil && idle:
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
		var c Change
		if err := json.Unmarshal([]byte(n.Payload), &c); err != nil || c.ID == 0 {
			s.log.Warn("task notification skipped: not a task change", "channel", Channel, "payload", n.Payload)
			continue
		}
		fn(c)
	}
}
