package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"callmon/audit"
)

// Defaults of Options.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultBearerCache  = 5 * time.Minute
	DefaultAddrLimit    = 20 // failed sign-ins per client address per window
	DefaultIDLimit      = 10 // failed sign-ins per principal id per window
	DefaultThrottleSpan = 15 * time.Minute
	maxBearerCache      = 10_000
)

// Options configures an Authenticator. Principals is required.
type Options struct {
	Principals *Principals
	// SessionKey signs session cookies; nil: 32 random bytes, so sessions
	// end when the process restarts.
	SessionKey []byte
	SessionTTL time.Duration // DefaultSessionTTL
	// BearerCache is how long a verified bearer token is trusted without
	// another bcrypt compare (DefaultBearerCache).
	BearerCache time.Duration
	// AddrLimit and IDLimit failed sign-ins per ThrottleSpan are allowed
	// per client address and per id; then 429.
	AddrLimit, IDLimit int
	ThrottleSpan       time.Duration
	Clock              func() time.Time // default time.Now
	Log                *slog.Logger     // default: discard
	Audit              *audit.Logger    // nil: no audit lines
	// Home is where a principal lands after signing in on the page
	// (default "/").
	Home func(Principal) string
	// Authenticated, if set, is told who each authenticated request is
	// from (e.g. for the access log); it must not block.
	Authenticated func(ctx context.Context, p Principal)
}

// Authenticator authenticates requests. It is safe for concurrent use.
type Authenticator struct {
	ps       atomic.Pointer[Principals] // replaced by SetPrincipals
	key      []byte
	ttl      time.Duration
	cacheTTL time.Duration
	now      func() time.Time
	log      *slog.Logger
	audit    *audit.Logger
	home     func(Principal) string
	notify   func(ctx context.Context, p Principal)
	byAddr   *throttle
	byID     *throttle
	mu       sync.Mutex
	verified map[[sha256.Size]byte]cached
}

type cached struct {
	p     Principal
	gen   string // of the token hash it was verified against
	until time.Time
}

// generation is the generation of id's token hash now ("" if unknown).
func (a *Authenticator) generation(id string) string {
	_, gen, _ := a.ps.Load().current(id)
	return gen
}

// New returns an Authenticator; it panics without Principals (a wiring
// mistake).
func New(o Options) *Authenticator {
	if o.Principals == nil {
		panic("auth.New: Principals is required")
	}
	a := &Authenticator{key: o.SessionKey, ttl: o.SessionTTL, cacheTTL: o.BearerCache,
		now: o.Clock, log: o.Log, audit: o.Audit, home: o.Home, notify: o.Authenticated, verified: map[[sha256.Size]byte]cached{}}
	a.ps.Store(o.Principals)
	if len(a.key) == 0 {
		a.key = make([]byte, 32)
		rand.Read(a.key)
	}
	if a.ttl <= 0 {
		a.ttl = DefaultSessionTTL
	}
	if a.cacheTTL <= 0 {
		a.cacheTTL = DefaultBearerCache
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.home == nil {
		a.home = func(Principal) string { return "/" }
	}
	span := o.ThrottleSpan
	if span <= 0 {
		span = DefaultThrottleSpan
	}
	al, il := o.AddrLimit, o.IDLimit
	if al <= 0 {
		al = DefaultAddrLimit
	}
	if il <= 0 {
		il = DefaultIDLimit
	}
	a.byAddr, a.byID = newThrottle(al, span), newThrottle(il, span)
	return a
}

// Principals returns the configured principals.
func (a *Authenticator) Principals() *Principals { return a.ps.Load() }

// SetPrincipals replaces the principals (a reload). A removed principal, or
// one whose token hash changed, is refused from then on: its cached
// verifications and session cookies end with it.
func (a *Authenticator) SetPrincipals(ps *Principals) {
	a.ps.Store(ps)
	a.mu.Lock()
	clear(a.verified)
	a.mu.Unlock()
}

// Errors of Authenticate.
var (
	ErrNoCredentials  = errors.New("authentication required: sign in at /signin, or send Authorization: Bearer <token>")
	ErrBadCredentials = errors.New("invalid credentials")
)

// ThrottledError is a sign-in refused because of too many failures.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; try again in %d seconds", seconds(e.RetryAfter))
}

func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// clientAddr is the address the throttle counts: the TCP peer. A proxy in
// front makes every client one address; callmon does not trust
// X-Forwarded-For.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Authenticate finds the principal of r: Authorization: Bearer, else the
// session cookie. A bad Authorization header never falls back to the cookie.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	p, err := a.authenticate(r)
	if err == nil && a.notify != nil {
		a.notify(r.Context(), p)
	}
	return p, err
}

func (a *Authenticator) authenticate(r *http.Request) (Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return Principal{}, fmt.Errorf("%w: only Authorization: Bearer <token> is accepted", ErrBadCredentials)
		}
		return a.Token(r, strings.TrimSpace(rest))
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		p, gen, ok := openSession(a.key, c.Value, a.now())
		if !ok {
			return Principal{}, fmt.Errorf("%w: the session has ended; sign in again at /signin", ErrBadCredentials)
		}
		// The configuration may have changed since: the principal must
		// still exist with the same role.
		if cur, curGen, ok := a.ps.Load().current(p.ID); !ok || cur.Role != p.Role || curGen != gen {
			return Principal{}, fmt.Errorf("%w: the session has ended; sign in again at /signin", ErrBadCredentials)
		}
		return p, nil
	}
	return Principal{}, ErrNoCredentials
}

// Token verifies a token (bearer, ?token= or the sign-in form): from the
// cache of verified tokens, else throttled and by one bcrypt compare.
func (a *Authenticator) Token(r *http.Request, token string) (Principal, error) {
	now := a.now()
	key := sha256.Sum256([]byte(token))
	a.mu.Lock()
	c, hit := a.verified[key]
	a.mu.Unlock()
	ps := a.ps.Load()
	if hit && now.Before(c.until) {
		if cur, gen, ok := ps.current(c.p.ID); ok && cur == c.p && gen == c.gen {
			return c.p, nil
		}
	}
	addr, id := clientAddr(r), TokenID(token)
	wait := a.byAddr.blocked(addr, now)
	if id != "" {
		wait = max(wait, a.byID.blocked(id, now))
	}
	if wait > 0 {
		return Principal{}, &ThrottledError{RetryAfter: wait}
	}
	p, ok := ps.Verify(token)
	if !ok {
		a.byAddr.fail(addr, now)
		if id != "" {
			a.byID.fail(id, now)
		}
		a.log.Warn("failed sign-in", "id", id, "client", addr) // never the token
		a.audit.Record(r.Context(), audit.Entry{Who: id, Action: "sign-in", Outcome: "refused", Status: http.StatusUnauthorized})
		return Principal{}, ErrBadCredentials
	}
	a.mu.Lock()
	if len(a.verified) >= maxBearerCache {
		clear(a.verified)
	}
	_, gen, _ := ps.current(p.ID)
	a.verified[key] = cached{p: p, gen: gen, until: now.Add(a.cacheTTL)}
	a.mu.Unlock()
	return p, nil
}

// SetSession sets the session cookie for p: HttpOnly, SameSite=Strict,
// Secure over TLS.
func (a *Authenticator) SetSession(w http.ResponseWriter, r *http.Request, p Principal) {
	exp := a.now().Add(a.ttl)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: signSession(a.key, p, a.generation(p.ID), exp), Path: "/",
		MaxAge: int(a.ttl.Seconds()), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	a.audit.Record(r.Context(), audit.Entry{Who: p.ID, Role: string(p.Role), Action: "sign-in", Outcome: "ok"})
}

type principalKey struct{}

// FromContext returns the principal Require put in the request context.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Deny answers an authentication error: 429 with Retry-After, or 401 with
// a challenge. It writes a JSON body {"error": ...}.
func Deny(w http.ResponseWriter, err error) {
	var th *ThrottledError
	if errors.As(err, &th) {
		w.Header().Set("Retry-After", strconv.Itoa(seconds(th.RetryAfter)))
		writeJSONError(w, http.StatusTooManyRequests, err.Error())
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="callmon"`)
	writeJSONError(w, http.StatusUnauthorized, err.Error())
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\": %q}\n", msg)
}

// Rule decides whether p may make request r (route values are set).
type Rule func(p Principal, r *http.Request) bool

// Roles allows the roles given.
func Roles(roles ...Role) Rule {
	return func(p Principal, _ *http.Request) bool {
		for _, r := range roles {
			if p.Role == r {
				return true
			}
		}
		return false
	}
}

// SupervisorOrSelf allows a supervisor, and the principal whose id is the
// path value {id} if their role is one of roles.
func SupervisorOrSelf(roles ...Role) Rule {
	return func(p Principal, r *http.Request) bool {
		if p.IsSupervisor() {
			return true
		}
		return r.PathValue("id") == p.ID && Roles(roles...)(p, r)
	}
}

// Require serves h to requests whose principal passes rule: 401 without
// credentials, 429 when throttled, 403 when rule says no. h finds the
// principal with FromContext.
func (a *Authenticator) Require(rule Rule, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			Deny(w, err)
			return
		}
		if !rule(p, r) {
			writeJSONError(w, http.StatusForbidden, fmt.Sprintf("%s %s may not do this", p.Role, p.ID))
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Change is Require for a request that changes state: it also writes one
// audit line with the principal, the action (action with "{name}" replaced
// by that path value, e.g. "task {action}"), the target (path value {id},
// or what the handler sets with audit.Annotate) and the outcome.
func (a *Authenticator) Change(action string, rule Rule, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			Deny(w, err)
			return
		}
		n := &audit.Note{Action: expand(action, r), Target: r.PathValue("id")}
		ctx := audit.WithNote(WithPrincipal(r.Context(), p), n)
		if !rule(p, r) {
			writeJSONError(w, http.StatusForbidden, fmt.Sprintf("%s %s may not do this", p.Role, p.ID))
			a.audit.Record(ctx, audit.Entry{Who: p.ID, Role: string(p.Role), Action: n.Action, Target: n.Target, Outcome: "forbidden", Status: http.StatusForbidden})
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		a.audit.Record(ctx, audit.Entry{Who: p.ID, Role: string(p.Role), Action: n.Action, Target: n.Target, Outcome: audit.Outcome(sw.status), Status: sw.status})
	})
}

// expand replaces {name} in action with the request's path values.
func expand(action string, r *http.Request) string {
	for {
		i := strings.IndexByte(action, '{')
		j := strings.IndexByte(action, '}')
		if i < 0 || j < i {
			return action
		}
		action = action[:i] + r.PathValue(action[i+1:j]) + action[j+1:]
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
