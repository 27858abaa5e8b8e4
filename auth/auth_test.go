package auth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"callmon/auth"
)

func hash(t *testing.T, token string) string {
	t.Helper()
	h, err := auth.HashTokenCost(token, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)} }

func setup(t *testing.T, c *clock) (*auth.Authenticator, map[string]string) {
	t.Helper()
	tokens := map[string]string{"anna": auth.NewToken("anna"), "sam": auth.NewToken("sam")}
	ps, err := auth.NewPrincipals([]auth.Credential{
		{ID: "anna", Role: auth.Agent, TokenHash: hash(t, tokens["anna"])},
		{ID: "sam", Role: auth.Supervisor, TokenHash: hash(t, tokens["sam"])},
	})
	if err != nil {
		t.Fatal(err)
	}
	return auth.New(auth.Options{Principals: ps, Clock: c.now, AddrLimit: 5, IDLimit: 3, ThrottleSpan: time.Minute}), tokens
}

func TestVerify(t *testing.T) {
	a, tokens := setup(t, newClock())
	ps := a.Principals()
	if p, ok := ps.Verify(tokens["anna"]); !ok || p != (auth.Principal{ID: "anna", Role: auth.Agent}) {
		t.Errorf("anna's token: %+v %v", p, ok)
	}
	// sam's secret under anna's id, a bare secret, nothing: refused.
	_, samSecret, _ := strings.Cut(tokens["sam"], ".")
	for _, tok := range []string{"anna." + samSecret, samSecret, "", "anna.", "nobody." + samSecret} {
		if p, ok := ps.Verify(tok); ok {
			t.Errorf("Verify(%q) = %+v, want refused", tok, p)
		}
	}
}

func TestHashForms(t *testing.T) {
	sha := "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
	_, err := auth.NewPrincipals([]auth.Credential{{ID: "anna", Role: auth.Agent, TokenHash: sha}})
	if !errors.Is(err, auth.ErrUnsaltedHash) || !strings.Contains(err.Error(), "callmon token") {
		t.Errorf("SHA-256 hash: %v, want ErrUnsaltedHash saying callmon token", err)
	}
	if _, err := auth.NewPrincipals([]auth.Credential{{ID: "anna", Role: auth.Agent, TokenHash: "secret"}}); err == nil {
		t.Error("a non-hash was accepted")
	}
	for _, weak := range []string{"anna.password", "anna.1", "anna.admin", "anna.anna"} {
		if err := auth.CheckWeak("anna", hash(t, weak)); err == nil {
			t.Errorf("CheckWeak accepted the hash of %q", weak)
		}
	}
	if err := auth.CheckWeak("anna", hash(t, auth.NewToken("anna"))); err != nil {
		t.Errorf("a random token: %v", err)
	}
}

func get(a *auth.Authenticator, rule auth.Rule, set func(*http.Request)) *httptest.ResponseRecorder {
	h := a.Require(rule, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		w.Write([]byte(p.ID))
	}))
	r := httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	if set != nil {
		set(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestRequire(t *testing.T) {
	a, tokens := setup(t, newClock())
	sup := auth.Roles(auth.Supervisor)
	if w := get(a, sup, nil); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %d", w.Code)
	}
	if w := get(a, sup, bearer(tokens["anna"])); w.Code != 403 {
		t.Errorf("agent on a supervisor route: %d", w.Code)
	}
	if w := get(a, sup, bearer(tokens["sam"])); w.Code != 200 || w.Body.String() != "sam" {
		t.Errorf("supervisor: %d %s", w.Code, w.Body)
	}
	if w := get(a, sup, func(r *http.Request) { r.SetBasicAuth("sam", tokens["sam"]) }); w.Code != 401 {
		t.Errorf("basic auth: %d, want 401 (bearer or session only)", w.Code)
	}
}

// TestSession: a sign-in sets a signed cookie that authenticates until it
// expires; a tampered cookie does not.
func TestSession(t *testing.T) {
	c := newClock()
	a, tokens := setup(t, c)
	srv := a.SignInHandler()
	form := url.Values{"token": {tokens["anna"]}, "next": {"/agent/anna"}}
	r := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/agent/anna" {
		t.Fatalf("sign-in: %d %s", w.Code, w.Header().Get("Location"))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie: %+v", cookies)
	}
	withCookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: v}) }
	}
	any := auth.Roles(auth.Agent)
	if w := get(a, any, withCookie(cookies[0].Value)); w.Code != 200 || w.Body.String() != "anna" {
		t.Errorf("with the session: %d %s", w.Code, w.Body)
	}
	tampered := strings.Replace(cookies[0].Value, cookies[0].Value[:4], "AAAA", 1)
	if w := get(a, any, withCookie(tampered)); w.Code != 401 {
		t.Errorf("tampered session: %d", w.Code)
	}
	c.add(auth.DefaultSessionTTL)
	if w := get(a, any, withCookie(cookies[0].Value)); w.Code != 401 {
		t.Errorf("expired session: %d", w.Code)
	}
	// The form is Dutch, English on request; an off-site next is dropped.
	for lang, want := range map[string]string{"": "Aanmelden", "?lang=en": "Sign in"} {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest("GET", "/signin"+lang, nil))
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET /signin%s: no %q", lang, want)
		}
	}
}

// TestThrottle: failures per id and per address are refused with 429 and
// Retry-After until the window ends, on the injected clock.
func TestThrottle(t *testing.T) {
	c := newClock()
	a, tokens := setup(t, c)
	any := auth.Roles(auth.Agent, auth.Supervisor)
	for i := range 3 {
		if w := get(a, any, bearer("anna.wrong")); w.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	w := get(a, any, bearer(tokens["anna"]))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("after 3 failures for anna: %d Retry-After %q, want 429 60", w.Code, w.Header().Get("Retry-After"))
	}
	// sam is not throttled by anna's failures until the address limit (5).
	if w := get(a, any, bearer(tokens["sam"])); w.Code != 200 {
		t.Errorf("sam: %d", w.Code)
	}
	for range 2 {
		get(a, any, bearer("sam.wrong"))
	}
	if w := get(a, any, bearer("bram.x")); w.Code != http.StatusTooManyRequests {
		t.Errorf("after 5 failures from one address: %d, want 429", w.Code)
	}
	c.add(time.Minute)
	if w := get(a, any, bearer(tokens["anna"])); w.Code != 200 {
		t.Errorf("after the window: %d", w.Code)
	}
}

// TestSetPrincipalsRevokes: after a reload with a new token hash for anna,
// her old token is refused at once (also where it was verified and cached a
// moment ago) and so is the session cookie she signed in with; the new token
// works, a principal added by the reload can sign in and a removed one cannot.
func TestSetPrincipalsRevokes(t *testing.T) {
	c := newClock()
	a, tokens := setup(t, c)
	signIn := func(tok string) string {
		t.Helper()
		r := httptest.NewRequest("POST", "/signin", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		a.SignInHandler().ServeHTTP(w, r)
		if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
			t.Fatalf("sign-in: %d %+v", w.Code, w.Result().Cookies())
		}
		return w.Result().Cookies()[0].Value
	}
	withCookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: v}) }
	}
	any := auth.Roles(auth.Agent, auth.Supervisor)
	annaSession, samSession := signIn(tokens["anna"]), signIn(tokens["sam"])
	if w := get(a, any, bearer(tokens["anna"])); w.Code != 200 { // now cached
		t.Fatalf("anna's token before the reload: %d", w.Code)
	}

	newAnna, bob := auth.NewToken("anna"), auth.NewToken("bob")
	ps, err := auth.NewPrincipals([]auth.Credential{
		{ID: "anna", Role: auth.Agent, TokenHash: hash(t, newAnna)},
		{ID: "bob", Role: auth.Supervisor, TokenHash: hash(t, bob)},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.SetPrincipals(ps)

	for name, set := range map[string]func(*http.Request){
		"anna's old token": bearer(tokens["anna"]), "anna's old session": withCookie(annaSession),
		"sam's token (removed)": bearer(tokens["sam"]), "sam's session (removed)": withCookie(samSession),
	} {
		if w := get(a, any, set); w.Code != http.StatusUnauthorized {
			t.Errorf("%s after the reload: %d, want 401", name, w.Code)
		}
	}
	for name, tok := range map[string]string{"anna's new token": newAnna, "bob's token (added)": bob} {
		if w := get(a, any, bearer(tok)); w.Code != 200 {
			t.Errorf("%s after the reload: %d, want 200", name, w.Code)
		}
	}
	if w := get(a, any, withCookie(signIn(newAnna))); w.Code != 200 || w.Body.String() != "anna" {
		t.Errorf("anna's new session: %d %s", w.Code, w.Body)
	}
}
