package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server of the test's own, initialised with initdb
// in a temporary directory, for tests that stop and restart PostgreSQL: the
// shared server of URL stays untouched. Trust authentication, user postgres,
// listening on 127.0.0.1 on a free port and on a unix socket in the
// directory. PostgreSQL refuses to run as root, so when the test runs as
// root the server runs as the OS user postgres.
type Cluster struct {
	t       testing.TB
	bin     string // PostgreSQL's bindir
	dir     string // holds data/, the socket and the log
	port    int
	asUser  string // "" = the test's own user
	mu      sync.Mutex
	running bool
}

// NewCluster creates and starts a cluster; it is stopped (immediately) when
// the test ends. It fails the test, with the reason, when PostgreSQL's
// programs are not installed or cannot run.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, err := pgBindir()
	if err != nil {
		t.Fatalf("pgtest: cluster: %v", err)
	}
	c := &Cluster{t: t, bin: bin, dir: t.TempDir()}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: cluster: the test runs as root and PostgreSQL refuses to; no OS user postgres to run it as: %v", err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Fatalf("pgtest: cluster: the test runs as root and needs runuser to start PostgreSQL as postgres: %v", err)
		}
		c.asUser = "postgres"
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// t.TempDir's parent is 0700 root: let postgres through to its
		// directory, which it owns.
		for _, d := range []string{filepath.Dir(c.dir), c.dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatalf("pgtest: cluster: %v", err)
			}
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatalf("pgtest: cluster: %v", err)
		}
	}
	if out, err := c.command("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: cluster: initdb: %v\n%s", err, out)
	}
	c.port = freePort(t)
	t.Cleanup(func() {
		c.mu.Lock()
		running := c.running
		c.mu.Unlock()
		if running {
			_ = c.pgCtl("stop", "-m", "immediate")
		}
		if t.Failed() {
			if log, err := os.ReadFile(c.logFile()); err == nil {
				t.Logf("pgtest: cluster log (last 4 kB):\n%s", tail(log, 4096))
			}
		}
	})
	c.Start()
	return c
}

// pgBindir finds PostgreSQL's programs: pg_config --bindir, else Debian's
// /usr/lib/postgresql/N/bin.
func pgBindir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	return "", fmt.Errorf("PostgreSQL's server programs (initdb, pg_ctl) not found: install postgresql (Debian) or put pg_config on PATH")
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: cluster: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *Cluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *Cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

func (c *Cluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	if c.asUser != "" {
		return exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *Cluster) pgCtl(args ...string) error {
	args = append([]string{"-D", c.data(), "-w", "-t", "60"}, args...)
	out, err := c.command("pg_ctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Addr is the server's host:port.
func (c *Cluster) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.port) }

// URL is the URL of database db on the cluster (created with CreateDB).
func (c *Cluster) URL(db string) string {
	return "postgres://postgres@" + c.Addr() + "/" + db + "?sslmode=disable"
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	// fsync off: what an immediate stop leaves is in the OS's cache, and only
	// a crash of the machine would lose it. synchronous_commit stays on: with
	// it off an immediate stop loses transactions already reported committed.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
		c.port, c.dir)
	if err := c.pgCtl("start", "-l", c.logFile(), "-o", opts); err != nil {
		c.t.Fatalf("pgtest: cluster: %v", err)
	}
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
}

// Stop stops the server; mode is pg_ctl's: "fast" (sessions are ended,
// a clean shutdown) or "immediate" (a crash: recovery at the next start).
func (c *Cluster) Stop(mode string) {
	c.t.Helper()
	if err := c.pgCtl("stop", "-m", mode); err != nil {
		c.t.Fatalf("pgtest: cluster: %v", err)
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// Restart stops the server with mode and starts it again.
func (c *Cluster) Restart(mode string) {
	c.t.Helper()
	c.Stop(mode)
	c.Start()
}

// CreateDB creates database name on the cluster and returns its URL.
func (c *Cluster) CreateDB(name string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		c.t.Fatalf("pgtest: cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatalf("pgtest: cluster: %v", err)
	}
	return c.URL(name)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
