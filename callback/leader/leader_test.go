package leader_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"callmon/callback/leader"
	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

// Short leases so a test takes seconds; the defaults are 3 s / 1 s / 500 ms.
var fast = leader.Options{Lease: 600 * time.Millisecond, Renew: 150 * time.Millisecond, Poll: 100 * time.Millisecond}

// migrated returns the URL of a fresh migrated database.
func migrated(t *testing.T) string {
	t.Helper()
	u := pgtest.URL(t, "leader")
	ctx := context.Background()
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return u
}

// candidate is one process campaigning: its own pool (through its own proxy,
// so its network can be taken away) and a log of its terms.
type candidate struct {
	t      *testing.T
	e      *leader.Elector
	proxy  *pgtest.Proxy
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	elected []time.Time
	deposed []time.Time
}

func campaign(t *testing.T, url, id string) *candidate {
	t.Helper()
	proxy := pgtest.NewProxy(t, "127.0.0.1:5432")
	cfg, err := pgxpool.ParseConfig(proxy.URL(url))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = 200 * time.Millisecond
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{t: t, e: leader.New(pool, "callmon", id, fast), proxy: proxy, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.e.Run(ctx, func(int64) {
			c.mu.Lock()
			c.elected = append(c.elected, time.Now())
			c.mu.Unlock()
		}, func(string) {
			c.mu.Lock()
			c.deposed = append(c.deposed, time.Now())
			c.mu.Unlock()
		})
	}()
	t.Cleanup(c.stop)
	return c
}

// stop ends the campaign without resigning: as far as the database can
// tell, the process died.
func (c *candidate) stop() {
	c.cancel()
	<-c.done
}

func (c *candidate) terms() (elected, deposed []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.elected...), append([]time.Time(nil), c.deposed...)
}

func (c *candidate) leading() bool {
	el, de := c.terms()
	return len(el) > len(de)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, d)
		case <-tick.C:
		}
	}
	return time.Since(start)
}

// watchOverlap samples both candidates' Valid until stop is closed and
// fails the test if both were ever valid at once.
func watchOverlap(t *testing.T, a, b *candidate) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if a.e.Valid() && b.e.Valid() {
				t.Errorf("both %s and %s hold the lease", a.e.ID(), b.e.ID())
				return
			}
			time.Sleep(time.Millisecond) // sampling, not synchronisation
		}
	}()
	return func() { close(quit); <-done }
}

func TestExactlyOneActive(t *testing.T) {
	u := migrated(t)
	a, b := campaign(t, u, "a"), campaign(t, u, "b")
	waitFor(t, "leader", 5*time.Second, func() bool { return a.leading() || b.leading() })
	stop := watchOverlap(t, a, b)
	// Several renewals later there is still exactly one.
	time.Sleep(3 * fast.Lease) //nolint:forbidigo // observing a steady state over time, not waiting for an event
	stop()
	if a.leading() == b.leading() {
		t.Fatalf("a leading %v, b leading %v: want exactly one", a.leading(), b.leading())
	}
	ae, _ := a.terms()
	be, _ := b.terms()
	if len(ae)+len(be) != 1 {
		t.Errorf("%d elections in a steady state, want 1", len(ae)+len(be))
	}
}

func TestStandbyTakesOverWhenTheActiveDies(t *testing.T) {
	u := migrated(t)
	a := campaign(t, u, "a")
	waitFor(t, "a elected", 5*time.Second, a.leading)
	b := campaign(t, u, "b")
	a.stop() // killed: no resignation
	took := waitFor(t, "b elected", 5*time.Second, b.leading)
	if took > fast.Lease+2*fast.Poll+200*time.Millisecond {
		t.Errorf("takeover after %v, want within the lease (%v) and a poll", took, fast.Lease)
	}
	if b.e.Epoch() != a.e.Epoch()+1 {
		t.Errorf("epoch %d after %d, want +1", b.e.Epoch(), a.e.Epoch())
	}
}

func TestResignHandsOverAtOnce(t *testing.T) {
	u := migrated(t)
	a := campaign(t, u, "a")
	waitFor(t, "a elected", 5*time.Second, a.leading)
	b := campaign(t, u, "b")
	waitFor(t, "b standing by", 5*time.Second, func() bool {
		n, err := a.e.Standbys(context.Background())
		return err == nil && n == 1
	})
	start := time.Now()
	if err := a.e.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.e.Valid() {
		t.Error("still valid after resigning")
	}
	waitFor(t, "b elected", 5*time.Second, b.leading)
	// NOTIFY wakes the standby: well under a poll plus the lease.
	if took := time.Since(start); took > fast.Lease {
		t.Errorf("hand-over took %v, want less than a lease (%v)", took, fast.Lease)
	}
	a.stop()
}

// A host lost: the active process's database connection black-holed. Its
// lease must run out on its side before the standby can take it, and it
// must not take it back when the network returns.
func TestLostHostFencesItselfBeforeTakeover(t *testing.T) {
	u := migrated(t)
	a := campaign(t, u, "a")
	waitFor(t, "a elected", 5*time.Second, a.leading)
	b := campaign(t, u, "b")
	stop := watchOverlap(t, a, b)
	a.proxy.BlackHole()
	waitFor(t, "b elected", 5*time.Second, b.leading)
	stop()
	// watchOverlap proved a was no longer valid when b became so; a's loop
	// reports the deposition once its renewal attempt gives up.
	if a.e.Valid() {
		t.Fatal("the cut-off process still thinks it is active")
	}
	waitFor(t, "a deposed", 5*time.Second, func() bool { return !a.leading() })
	a.proxy.Restore()
	stop = watchOverlap(t, a, b)
	time.Sleep(3 * fast.Lease) //nolint:forbidigo // observing that nothing changes
	stop()
	if a.leading() || !b.leading() {
		t.Errorf("after the network returned: a leading %v, b leading %v; want b only", a.leading(), b.leading())
	}
}

// A short database outage does not depose the active process if it ends
// within the lease; a longer one does, and then one process is elected again.
func TestDatabaseOutage(t *testing.T) {
	u := migrated(t)
	a := campaign(t, u, "a")
	waitFor(t, "a elected", 5*time.Second, a.leading)
	a.proxy.Cut()
	a.proxy.Restore()
	time.Sleep(fast.Lease) //nolint:forbidigo // observing that nothing changes
	if _, de := a.terms(); len(de) != 0 {
		t.Fatalf("deposed by a blip: %v", de)
	}
	a.proxy.Cut()
	waitFor(t, "a deposed", 5*time.Second, func() bool { return !a.leading() })
	if a.e.Valid() {
		t.Error("valid while deposed")
	}
	a.proxy.Restore()
	waitFor(t, "a elected again", 5*time.Second, a.leading)
}
