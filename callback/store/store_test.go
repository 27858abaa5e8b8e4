package store_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"callmon/callback/store"
	"callmon/callback/store/pgtest"
)

const secret = "s3cr3t-pw"

func openErr(t *testing.T, u string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, u)
	if err == nil {
		db.Close()
		t.Fatalf("Open(%q) succeeded", u)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the password: %v", err)
	}
	return err
}

func wantParts(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://callmon:" + secret + "@db.example:notaport/callmon",
		"postgres://callmon:" + secret + "@localhost/callmon?sslmode=bogus",
		"postgres://callmon:" + secret + "@db:5432:5433/callmon",
		"postgres://callmon@localhost/callmon?password=" + secret + "&connect_timeout=soon",
		"host=localhost password=" + secret + " connect_timeout=soon",
		"postgres://callmon:" + secret + "@[::1/callmon",
		"",
	} {
		err := openErr(t, u)
		if !errors.Is(err, store.ErrBadURL) {
			t.Errorf("Open(%q): %v is not ErrBadURL", u, err)
		}
		wantParts(t, err, "DATABASE_URL", "(hint: postgres://user@host:5432/db)")
		if u != "" {
			wantParts(t, err, "is not a valid PostgreSQL URL: ")
		}
	}
}

func TestOpenRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = openErr(t, "postgres://callmon:"+secret+"@"+addr+"/callmon?sslmode=disable")
	if !errors.Is(err, store.ErrUnreachable) {
		t.Errorf("%v is not ErrUnreachable", err)
	}
	wantParts(t, err, "cannot reach PostgreSQL at "+addr, "connection refused")
}

func TestOpenMissingDatabase(t *testing.T) {
	t.Parallel()
	hp := hostPort(t, pgtest.URL(t, "store_open"))
	err := openErr(t, "postgres://postgres:"+secret+"@"+hp+"/callmon_no_such_db?sslmode=disable")
	if !errors.Is(err, store.ErrDatabaseMissing) {
		t.Errorf("%v is not ErrDatabaseMissing", err)
	}
	wantParts(t, err, `database "callmon_no_such_db" does not exist`,
		"(hint: createdb callmon_no_such_db, then callmon migrate)")
}

func TestOpenAuthFailure(t *testing.T) {
	t.Parallel()
	hp := hostPort(t, pgtest.URL(t, "store_open"))
	err := openErr(t, "postgres://callmon_no_such_role:"+secret+"@"+hp+"/postgres?sslmode=disable")
	if !errors.Is(err, store.ErrAuth) {
		t.Errorf("%v is not ErrAuth", err)
	}
	wantParts(t, err, "refused user \"callmon_no_such_role\"", "check the user and password in DATABASE_URL")
}

func TestOpenPoolAndClose(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.URL(t, "store_open"))
	if err := db.Pool().Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
