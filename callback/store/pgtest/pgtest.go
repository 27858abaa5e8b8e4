// Package pgtest gives tests a PostgreSQL database of their own, and a TCP
// proxy that takes PostgreSQL away and brings it back.
//
// The tests of callmon run against a real PostgreSQL: the server named by
// PGTEST_URL, or postgres://postgres@127.0.0.1:5432/postgres. Without one they
// fail (not skip), so a green run means the database code was exercised.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable with the URL of a database to
// connect to for creating and dropping test databases (the user needs
// CREATEDB).
const EnvURL = "PGTEST_URL"

// DefaultURL is used when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// prefix starts the name of every database this package creates.
const prefix = "callmon_test_"

// staleAfter is the age after which a test database left behind by a killed
// test run is dropped by the next run.
const staleAfter = 24 * time.Hour

// URL creates an empty database for the test, drops it when the test and its
// subtests are done, and returns its URL. pkg names the database (for a
// person listing databases); it need not be unique. URL fails the test when
// PostgreSQL is not reachable.
func URL(t testing.TB, pkg string) string {
	t.Helper()
	u, drop, err := Create(pkg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// Create creates an empty database and returns its URL and a function that
// drops it, for a TestMain that shares one database among a package's tests:
//
//	func TestMain(m *testing.M) {
//		url, drop, err := pgtest.Create("store")
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		if err := drop(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//		}
//		os.Exit(code)
//	}
func Create(pkg string) (dbURL string, drop func() error, err error) {
	admin, err := adminURL()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	dropStale(ctx, conn)

	name := prefix + sanitize(pkg) + "_" + strconv.FormatInt(time.Now().Unix(), 10) + "_" + randomHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		// FORCE ends connections a test left open (PostgreSQL 13+).
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

func adminURL() (*url.URL, error) {
	raw := DefaultURL
	if v := strings.TrimSpace(os.Getenv(EnvURL)); v != "" {
		raw = v
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("pgtest: %s must be a postgres:// URL, e.g. %s", EnvURL, DefaultURL)
	}
	return u, nil
}

func connect(ctx context.Context, admin *url.URL) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		msg := err.Error()
		if pw, ok := admin.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		return nil, fmt.Errorf("PostgreSQL is required for these tests: start it (pg_ctlcluster 15 main start) "+
			"or set %s (connecting to %s: %s)", EnvURL, admin.Redacted(), msg)
	}
	return conn, nil
}

var staleName = regexp.MustCompile(`^` + prefix + `[a-z0-9_]*_([0-9]{10})_[0-9a-f]{8}$`)

// dropStale drops test databases that runs killed before their cleanup left
// behind a day or more ago; it never touches one a running test may use.
func dropStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix+"%")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		m := staleName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		if time.Since(time.Unix(sec, 0)) > staleAfter {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
		}
	}
}

// sanitize keeps a database name short, lower-case and unquoted-safe.
func sanitize(pkg string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(pkg) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 24 {
		s = s[:24]
	}
	if s == "" {
		s = "pkg"
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
