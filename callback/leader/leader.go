// Package leader chooses, through PostgreSQL, the one callmon process that
// drives calls when several run with one configuration and one database
// (DESIGN §10.1). It owns the leader_lease and callmon_instances tables and
// knows nothing of telephony.
//
// The active process holds a lease row with an expiry in the database's own
// time and renews it; a standby takes the row only once it has expired. A
// lease row rather than a session advisory lock, because a lock stays held
// as long as the server sees the session, and a frozen process or a
// black-holed network keeps a TCP session looking alive for minutes.
//
// Fencing: the holder counts its lease from the moment it *sent* the renewal
// that succeeded, on its own monotonic clock, and gives it up a margin before
// the database's expiry (which started later). Valid turns false at that
// moment whatever the process was doing — also when it wakes from a freeze —
// so callers that check Valid before acting (callmon's REST client does) can
// never act after another process may have started.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune an Elector; zero values take the defaults.
type Options struct {
	// Lease is how long a renewal holds the lease (default 3 s). A standby
	// takes over at most Lease + Poll after the active process dies.
	Lease time.Duration
	// Renew is how often the active process renews (default Lease/3).
	Renew time.Duration
	// Poll is how often a standby tries to take the lease (default 500 ms);
	// a resignation is noticed at once (NOTIFY).
	Poll time.Duration
	// Margin is how long before the database's expiry the holder stops
	// (default Lease/6): room for clock rate differences and scheduling.
	Margin time.Duration
	Log    *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Lease <= 0 {
		o.Lease = 3 * time.Second
	}
	if o.Renew <= 0 {
		o.Renew = o.Lease / 3
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Margin <= 0 {
		o.Margin = o.Lease / 6
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// notifyChannel carries the name of a lease that was just released.
const notifyChannel = "callmon_leader"

// Elector campaigns for one lease name (the ARI application) on behalf of
// one process.
type Elector struct {
	pool *pgxpool.Pool
	name string
	id   string
	opt  Options
	base time.Time // monotonic origin of validUntil

	validUntil atomic.Int64 // ns since base; 0 = not the holder
	epoch      atomic.Int64

	mu       sync.Mutex
	holding  bool // the loop's view: elected and not yet deposed
	resigned atomic.Bool
	// opMu is held while the loop takes or renews the lease, so Resign never
	// races a renewal that would take the lease back.
	opMu sync.Mutex
}

// New returns an Elector for the lease name, as instance id (unique per
// process; see InstanceID).
func New(pool *pgxpool.Pool, name, id string, opt Options) *Elector {
	return &Elector{pool: pool, name: name, id: id, opt: opt.withDefaults(), base: time.Now()}
}

// InstanceID names this process: host, pid and a start time, so a restarted
// process on the same host is a new instance.
func InstanceID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), time.Now().UTC().Format("150405.000"))
}

// ID is this process's instance id.
func (e *Elector) ID() string { return e.id }

// Valid reports whether this process holds the lease at this instant.
// Check it before every action that only the active process may take.
func (e *Elector) Valid() bool {
	until := e.validUntil.Load()
	return until != 0 && int64(time.Since(e.base)) < until
}

// Epoch is the term of the current (or last) holding: a fencing token.
func (e *Elector) Epoch() int64 { return e.epoch.Load() }

// Run campaigns until ctx ends. elected runs when this process becomes the
// holder, deposed when it stops being one (lease lost, or not renewed in
// time); both run on Run's goroutine, in order, and must not block (the
// lease is renewed on the same goroutine). When ctx ends while holding,
// deposed runs, and the lease is left to expire: call Resign first for a
// quick hand-over.
func (e *Elector) Run(ctx context.Context, elected func(epoch int64), deposed func(reason string)) {
	var listen *pgxpool.Conn
	defer func() {
		if listen != nil {
			listen.Release()
		}
	}()
	depose := func(reason string) {
		e.validUntil.Store(0)
		e.mu.Lock()
		was := e.holding
		e.holding = false
		e.mu.Unlock()
		if was {
			e.opt.Log.Warn("no longer the active callmon", "reason", reason, "epoch", e.epoch.Load())
			deposed(reason)
		}
	}
	defer depose("stopping")
	for ctx.Err() == nil {
		if e.resigned.Load() {
			// A resigned process campaigns no more: renewing would take back
			// the lease it just gave up.
			depose("resigned")
			return
		}
		e.heartbeat(ctx)
		if e.isHolding() {
			sent := time.Since(e.base)
			e.opMu.Lock()
			if e.resigned.Load() {
				e.opMu.Unlock()
				continue
			}
			held, err := e.renew(ctx)
			e.opMu.Unlock()
			switch {
			case err == nil && held:
				e.validUntil.Store(int64(sent + e.opt.Lease - e.opt.Margin))
			case err == nil:
				depose("another process holds the lease")
				continue
			default:
				e.opt.Log.Warn("renewing the lease failed; still active until it runs out", "err", err)
			}
			if !e.Valid() {
				depose("lease not renewed in time (database unreachable?)")
				continue
			}
			wait := min(e.opt.Renew, time.Duration(e.validUntil.Load())-time.Since(e.base))
			sleep(ctx, wait)
			continue
		}
		sent := time.Since(e.base)
		e.opMu.Lock()
		if e.resigned.Load() {
			e.opMu.Unlock()
			continue
		}
		epoch, err := e.acquire(ctx)
		e.opMu.Unlock()
		if err != nil && ctx.Err() == nil {
			e.opt.Log.Debug("trying the lease failed", "err", err)
		}
		if err == nil && epoch > 0 {
			e.epoch.Store(epoch)
			e.validUntil.Store(int64(sent + e.opt.Lease - e.opt.Margin))
			if e.Valid() {
				e.mu.Lock()
				e.holding = true
				e.mu.Unlock()
				e.opt.Log.Info("this callmon is now the active one", "epoch", epoch, "instance", e.id)
				elected(epoch)
				continue
			}
			e.validUntil.Store(0)
		}
		listen = e.waitForRelease(ctx, listen)
	}
}

func (e *Elector) isHolding() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.holding
}

// acquire takes the lease if it is free, expired, or already this
// instance's; it returns the new epoch, or 0 if another process holds it.
func (e *Elector) acquire(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opt.Poll+e.opt.Renew)
	defer cancel()
	var epoch int64
	err := e.pool.QueryRow(ctx, `
		INSERT INTO leader_lease (name, holder, epoch, acquired_at, renewed_at, expires_at)
		VALUES ($1, $2, 1, now(), now(), now() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE
		   SET holder = EXCLUDED.holder, epoch = leader_lease.epoch + 1,
		       acquired_at = now(), renewed_at = now(), expires_at = EXCLUDED.expires_at
		 WHERE leader_lease.expires_at < now() OR leader_lease.holder = EXCLUDED.holder
		RETURNING epoch`, e.name, e.id, e.opt.Lease.Microseconds()).Scan(&epoch)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return epoch, err
}

// renew extends the lease of this holding; false means another process took
// it (or it was released).
func (e *Elector) renew(ctx context.Context) (bool, error) {
	remaining := time.Duration(e.validUntil.Load()) - time.Since(e.base)
	ctx, cancel := context.WithTimeout(ctx, max(min(e.opt.Renew, remaining), time.Millisecond))
	defer cancel()
	tag, err := e.pool.Exec(ctx, `
		UPDATE leader_lease SET renewed_at = now(), expires_at = now() + $4 * interval '1 microsecond'
		 WHERE name = $1 AND holder = $2 AND epoch = $3`, e.name, e.id, e.epoch.Load(), e.opt.Lease.Microseconds())
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Resign gives the lease up at once and tells the standbys (NOTIFY), for a
// graceful stop; Run then returns. The caller must have stopped acting first.
func (e *Elector) Resign(ctx context.Context) error {
	e.resigned.Store(true)
	e.opMu.Lock() // a renewal in flight ends first
	defer e.opMu.Unlock()
	e.validUntil.Store(0)
	ctx, cancel := context.WithTimeout(ctx, e.opt.Lease)
	defer cancel()
	_, err := e.pool.Exec(ctx, `
		WITH released AS (
		    UPDATE leader_lease SET expires_at = now() - interval '1 millisecond'
		     WHERE name = $1 AND holder = $2 AND epoch = $3 RETURNING name)
		SELECT pg_notify($4, name) FROM released`, e.name, e.id, e.epoch.Load(), notifyChannel)
	if err != nil {
		return fmt.Errorf("resign the lease: %w", err)
	}
	return nil
}

// Standbys is the number of other instances of this name seen alive
// within two leases.
func (e *Elector) Standbys(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opt.Lease)
	defer cancel()
	var n int
	err := e.pool.QueryRow(ctx, `
		SELECT count(*) FROM callmon_instances
		 WHERE name = $1 AND id <> $2 AND seen_at > now() - $3 * interval '1 microsecond'`,
		e.name, e.id, (2 * e.opt.Lease).Microseconds()).Scan(&n)
	return n, err
}

// heartbeat says this instance is alive; failures only matter to Standbys.
func (e *Elector) heartbeat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.opt.Renew)
	defer cancel()
	_, _ = e.pool.Exec(ctx, `
		INSERT INTO callmon_instances (id, name, seen_at) VALUES ($1, $2, now())
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, e.id, e.name)
}

// Leave removes this instance from callmon_instances (graceful stop).
func (e *Elector) Leave(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, e.opt.Lease)
	defer cancel()
	_, _ = e.pool.Exec(ctx, `DELETE FROM callmon_instances WHERE id = $1 OR seen_at < now() - interval '1 day'`, e.id)
}

// waitForRelease waits up to Poll for a resignation to be announced, on a
// connection that listens for it; it returns that connection (nil if it
// broke) for the next wait.
func (e *Elector) waitForRelease(ctx context.Context, conn *pgxpool.Conn) *pgxpool.Conn {
	if conn == nil {
		c, err := e.pool.Acquire(ctx)
		if err == nil {
			lctx, cancel := context.WithTimeout(ctx, e.opt.Poll)
			_, err = c.Exec(lctx, "LISTEN "+notifyChannel)
			cancel()
			if err != nil {
				c.Release()
			} else {
				conn = c
			}
		}
		if conn == nil {
			sleep(ctx, e.opt.Poll)
			return nil
		}
	}
	wctx, cancel := context.WithTimeout(ctx, e.opt.Poll)
	defer cancel()
	_, err := conn.Conn().WaitForNotification(wctx)
	if err != nil && wctx.Err() == nil {
		// The connection broke: a fresh one next time.
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil
	}
	if err != nil && ctx.Err() == nil && !conn.Conn().IsClosed() {
		return conn // timed out: nobody resigned
	}
	if err != nil {
		conn.Release()
		return nil
	}
	return conn
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
