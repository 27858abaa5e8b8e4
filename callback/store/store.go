// Package store owns callmon's PostgreSQL database: connecting to it, its
// schema migrations, the call records (one row per finished call) and the
// queries over them that restore the live service level after a restart and
// produce the daily report. Its Recorder is the write path the call flows use:
// it never blocks them, and while PostgreSQL is unreachable it keeps records in
// a durable local spool and writes them, exactly once, when the database is back.
//
// The package knows no telephony (a call record is plain data) and no metrics:
// callers turn its counts into gauges.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SQLSTATE codes callmon tells apart, named as in github.com/jackc/pgerrcode
// (a handful of codes do not justify another module).
const (
	invalidCatalogName                = "3D000" // database does not exist
	invalidPassword                   = "28P01"
	invalidAuthorizationSpecification = "28000" // role does not exist, no pg_hba entry
	classDataException                = "22"
	classIntegrityConstraint          = "23"
)

// defaultConnectTimeout bounds one connection attempt when the URL sets no
// connect_timeout, so a black-holed network fails instead of hanging.
const defaultConnectTimeout = 5 * time.Second

// urlExample is the hint shown for a malformed URL.
const urlExample = "postgres://user@host:5432/db"

// Errors returned by Open, for errors.Is. The error's text says what to do.
var (
	ErrBadURL          = errors.New("invalid database URL")
	ErrUnreachable     = errors.New("PostgreSQL unreachable")
	ErrDatabaseMissing = errors.New("database does not exist")
	ErrAuth            = errors.New("PostgreSQL refused the login")
)

// DB is callmon's PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (a postgres:// URL or a keyword/value
// connection string) and checks that it answers. Its errors never contain the
// password: they name host, port, database and user only.
func Open(ctx context.Context, url string) (*DB, error) {
	if strings.TrimSpace(url) == "" {
		return nil, &openError{kind: ErrBadURL, msg: "DATABASE_URL is empty (hint: " + urlExample + ")"}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &openError{kind: ErrBadURL,
			msg: "DATABASE_URL is not a valid PostgreSQL URL: " + parseReason(err, url) + " (hint: " + urlExample + ")"}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connectError(&cfg.ConnConfig.Config, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectError(&cfg.ConnConfig.Config, err)
	}
	return &DB{pool: pool}, nil
}

// Close closes every connection of the pool.
func (db *DB) Close() { db.pool.Close() }

// Pool returns the connection pool, for the other parts of callback that
// keep their own tables in this database.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// openError is an error of Open: a message for a person, and a kind and the
// underlying error for errors.Is and errors.As.
type openError struct {
	kind  error
	msg   string
	cause error
}

func (e *openError) Error() string { return e.msg }

func (e *openError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// parseReason says what is wrong with a connection string without quoting it:
// pgx's message contains the string (with the password masked on a
// best-effort basis only) and net/url's errors quote the whole URL.
func parseReason(err error, raw string) string {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return "cannot be parsed"
	}
	// Error() is "cannot parse `<redacted string>`: <what> (<detail>)"; keep
	// what comes after the quoted string.
	reason := pce.Error()
	if i := strings.LastIndex(reason, "`: "); i >= 0 {
		reason = reason[i+3:]
	}
	// net/url's detail starts with `parse "<url>": `; drop the quoted URL.
	if i := strings.Index(reason, "parse \""); i >= 0 {
		if j := strings.Index(reason[i:], "\": "); j >= 0 {
			reason = reason[:i] + reason[i+j+3:]
		}
	}
	return scrubSecrets(reason, raw)
}

// scrubSecrets masks anything in msg that could be the password of raw: the
// userinfo after the first ':' and every password= value. For malformed
// strings that is a guess, so it masks generously.
func scrubSecrets(msg, raw string) string {
	var secrets []string
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				secrets = append(secrets, pw)
			}
		}
	}
	for _, sep := range []string{"password=", "sslpassword="} {
		s := raw
		for {
			i := strings.Index(s, sep)
			if i < 0 {
				break
			}
			s = s[i+len(sep):]
			end := strings.IndexAny(s, "& ")
			if end < 0 {
				end = len(s)
			}
			if v := strings.Trim(s[:end], "'"); v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

// connectError explains a failed first contact with the server. pgconn's own
// messages name user, database, host and port but never the password.
func connectError(cc *pgconn.Config, err error) error {
	at := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case invalidCatalogName:
			return &openError{kind: ErrDatabaseMissing, cause: err, msg: fmt.Sprintf(
				"database %q does not exist on PostgreSQL at %s (hint: createdb %s, then callmon migrate)",
				cc.Database, at, cc.Database)}
		case invalidPassword, invalidAuthorizationSpecification:
			return &openError{kind: ErrAuth, cause: err, msg: fmt.Sprintf(
				"PostgreSQL at %s refused user %q: %s (check the user and password in DATABASE_URL, and pg_hba.conf)",
				at, cc.User, pgErr.Message)}
		}
		return &openError{kind: ErrUnreachable, cause: err, msg: fmt.Sprintf(
			"PostgreSQL at %s refused the connection (database %q, user %q): %s (SQLSTATE %s)",
			at, cc.Database, cc.User, pgErr.Message, pgErr.Code)}
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &openError{kind: ErrUnreachable, cause: err, msg: fmt.Sprintf(
			"cannot reach PostgreSQL at %s: connection refused (is it running, and is that the host and port in DATABASE_URL?)", at)}
	case errors.As(err, &dnsErr):
		return &openError{kind: ErrUnreachable, cause: err, msg: fmt.Sprintf(
			"cannot reach PostgreSQL at %s: host %q not found (check the host in DATABASE_URL)", at, cc.Host)}
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
		return &openError{kind: ErrUnreachable, cause: err, msg: fmt.Sprintf(
			"cannot reach PostgreSQL at %s: timed out (is a firewall dropping the connection?)", at)}
	}
	return &openError{kind: ErrUnreachable, cause: err, msg: fmt.Sprintf(
		"cannot reach PostgreSQL at %s (database %q, user %q): %s", at, cc.Database, cc.User,
		maskPassword(err.Error(), cc.Password))}
}

// maskPassword replaces pw in msg; pgconn's messages should not contain it,
// but an error from a custom dialer or a future version might.
func maskPassword(msg, pw string) string {
	if pw == "" {
		return msg
	}
	return strings.ReplaceAll(msg, pw, "xxxxx")
}

// pgCode returns the SQLSTATE of err, "" if it is not a server error.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
