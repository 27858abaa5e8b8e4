package pgtest_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"callmon/callback/store/pgtest"
)

func TestURLCreatesAndDropsDatabase(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		u := pgtest.URL(t, "pgtest/self")
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "callmon_test_pgtest_self_") {
			t.Errorf("database %q, want callmon_test_pgtest_self_…", name)
		}
	})
	// The subtest's cleanup has run: the database is gone.
	if n := countDatabases(t, name); n != 0 {
		t.Errorf("database %s still exists after the test", name)
	}
}

func TestCreateForTestMain(t *testing.T) {
	u, drop, err := pgtest.Create("main")
	if err != nil {
		t.Fatal(err)
	}
	name := u[strings.LastIndex(u, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	if countDatabases(t, name) != 1 {
		t.Fatalf("database %s not created", name)
	}
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	if countDatabases(t, name) != 0 {
		t.Fatalf("database %s not dropped", name)
	}
}

func countDatabases(t *testing.T, name string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DefaultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fatalTB records Fatal instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestURLFailsWithoutPostgreSQL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	t.Setenv(pgtest.EnvURL, "postgres://postgres:hunter2@"+addr+"/postgres?sslmode=disable")

	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pgtest.URL(f, "x")
		f.msg = "URL returned"
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("URL hangs when PostgreSQL is not reachable")
	}
	for _, want := range []string{"PostgreSQL is required for these tests", "pg_ctlcluster 15 main start", "PGTEST_URL", addr} {
		if !strings.Contains(f.msg, want) {
			t.Errorf("message %q lacks %q", f.msg, want)
		}
	}
	if strings.Contains(f.msg, "hunter2") {
		t.Errorf("message shows the password: %q", f.msg)
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	u := pgtest.URL(t, "pgtest_proxy")
	p := pgtest.NewProxy(t, "127.0.0.1:5432")
	pu := p.URL(u)
	if !strings.Contains(pu, p.Addr()) {
		t.Fatalf("URL %q does not go through %s", pu, p.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pu)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	p.Cut()
	if err := conn.Ping(ctx); err == nil {
		t.Error("a connection through a cut proxy still works")
	}
	conn.Close(ctx)
	if c, err := pgx.Connect(ctx, pu); err == nil {
		c.Close(ctx)
		t.Error("connected through a cut proxy")
	}

	p.Restore()
	conn, err = pgx.Connect(ctx, pu)
	if err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestProxyBlackHole(t *testing.T) {
	u := pgtest.URL(t, "pgtest_blackhole")
	p := pgtest.NewProxy(t, "127.0.0.1:5432")
	pu := p.URL(u)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pu)
	if err != nil {
		t.Fatal(err)
	}
	p.BlackHole()
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	err = conn.Ping(short)
	stop()
	if err == nil || !pgconnTimeout(err) {
		t.Errorf("ping through a black hole: %v, want a timeout (nothing refused, nothing answered)", err)
	}
	short, stop = context.WithTimeout(ctx, 300*time.Millisecond)
	c, err := pgx.Connect(short, pu)
	stop()
	if err == nil {
		c.Close(ctx)
		t.Error("connected through a black hole")
	}
	p.Restore()
	conn, err = pgx.Connect(ctx, pu)
	if err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func pgconnTimeout(err error) bool {
	return strings.Contains(err.Error(), "timeout") || strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "canceled")
}

// A cluster of the test's own can be crashed and restarted; data committed
// before survives, and the shared server is not involved.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	u := c.CreateDB("cluster_test")
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE t (x int); INSERT INTO t VALUES (1)`)
	c.Restart("immediate")
	exec(`INSERT INTO t VALUES (2)`)
	c.Restart("fast")
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Errorf("count %d, %v; want 2 rows after two restarts", n, err)
	}
}
