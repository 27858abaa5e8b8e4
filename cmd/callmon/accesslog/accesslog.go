// Package accesslog owns callmon's HTTP access log: one line per request
// with what an operator needs (time, remote address, method, path, status,
// bytes, duration, principal) and nothing that is a secret or personal data.
// Headers are never logged (Authorization, Cookie); token-like query values
// and anything that looks like a phone number in the path or query are
// replaced by REDACTED. It must not decide who may do what: the handler it
// wraps authenticates and may name the principal with SetPrincipal.
package accesslog

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Redacted replaces what the log must not show.
const Redacted = "REDACTED"

// Options tune the middleware; the zero value is usable.
type Options struct {
	// Now is the clock for the line's time and duration (tests); nil: time.Now.
	Now func() time.Time
}

// New wraps next so that every request it serves is one line on w (logfmt).
func New(w io.Writer, next http.Handler, o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	h := slog.NewTextHandler(w, nil)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		begin := o.Now()
		who := &principal{}
		rec := &recorder{ResponseWriter: rw}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), principalKey{}, who)))
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		name := who.get()
		if name == "" {
			// The user name of exporter-toolkit basic auth is not a secret;
			// its password is never looked at.
			if u, _, ok := r.BasicAuth(); ok {
				name = u
			}
		}
		// The record carries the request's start on o.Now's clock.
		rec2 := slog.NewRecord(begin, slog.LevelInfo, "http", 0)
		rec2.Add(
			"remote", r.RemoteAddr,
			"method", r.Method,
			"path", RedactURL(r.URL),
			"status", status,
			"bytes", rec.bytes,
			"duration", o.Now().Sub(begin),
			"principal", name,
		)
		_ = h.Handle(r.Context(), rec2) // a log that cannot be written must not fail the request
	})
}

type principalKey struct{}

type principal struct {
	mu   sync.Mutex
	name string
}

func (p *principal) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// SetPrincipal names who made the request (an agent or supervisor id, never
// a token), for the access line; without the middleware it does nothing.
func SetPrincipal(ctx context.Context, name string) {
	if p, ok := ctx.Value(principalKey{}).(*principal); ok {
		p.mu.Lock()
		p.name = name
		p.mu.Unlock()
	}
}

// recorder notes the status and the bytes of the response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Flush keeps server-sent events (the live pages) flowing through the wrapper.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// secretKeys are query parameters whose value is always redacted: tokens
// and credentials, and parameters that carry a caller's number.
var secretKeys = map[string]bool{
	"token": true, "access_token": true, "api_key": true, "apikey": true, "key": true,
	"password": true, "secret": true, "session": true, "auth": true,
	"number": true, "phone": true, "caller": true, "callerid": true, "caller_number": true, "msisdn": true, "tel": true,
}

// phoneRE finds digit runs that may be a phone number: 8 or more digits,
// optionally with a leading + and the separators people type.
var phoneRE = regexp.MustCompile(`\+?\d[\d \-.()/]{6,}\d`)

// dateRE is an ISO date (2026-12-01): eight digits, but no one's number.
var dateRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d$`)

func redactNumbers(s string) string {
	return phoneRE.ReplaceAllStringFunc(s, func(m string) string {
		if dateRE.MatchString(m) {
			return m
		}
		digits := 0
		for _, c := range m {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		if digits < 8 {
			return m
		}
		return Redacted
	})
}

// RedactURL is u's path and query as the access log shows them.
func RedactURL(u *url.URL) string {
	segs := strings.Split(u.EscapedPath(), "/")
	for i, s := range segs {
		if dec, err := url.PathUnescape(s); err == nil {
			if red := redactNumbers(dec); red != dec {
				segs[i] = red
			}
		} else {
			segs[i] = redactNumbers(s)
		}
	}
	out := strings.Join(segs, "/")
	if u.RawQuery == "" {
		return out
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return out + "?" + Redacted // a query that does not parse is not shown
	}
	for k, vs := range q {
		for i, v := range vs {
			if secretKeys[strings.ToLower(k)] {
				vs[i] = Redacted
			} else {
				vs[i] = redactNumbers(v)
			}
		}
	}
	return out + "?" + q.Encode()
}
