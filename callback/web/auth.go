package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Principal is who a request comes from: an agent, or a supervisor (who may
// see and change every task).
type Principal struct {
	ID         string
	Supervisor bool
}

// Credential configures one principal: its id (an agent id for agents; the
// user name of basic auth) and the SHA-256 of its token in hex, as HashToken
// returns it. The token itself is never configured.
type Credential struct {
	ID         string
	Supervisor bool
	TokenHash  string
}

// Principals maps credentials to principals. It is immutable after
// NewPrincipals and safe for concurrent use.
type Principals struct {
	list []entry
	byID map[string]int
}

type entry struct {
	p    Principal
	hash [sha256.Size]byte
}

// NewPrincipals checks the credentials: ids are unique, non-empty and
// contain no ':' or '/' (they are basic-auth user names and page paths), and
// every hash is 64 hex digits.
func NewPrincipals(creds []Credential) (*Principals, error) {
	ps := &Principals{byID: make(map[string]int, len(creds))}
	for _, c := range creds {
		if c.ID == "" || strings.ContainsAny(c.ID, ":/ \t\r\n") {
			return nil, fmt.Errorf("principal %q: an id must be non-empty, without ':', '/' or spaces", c.ID)
		}
		if _, dup := ps.byID[c.ID]; dup {
			return nil, fmt.Errorf("principal %q: configured twice", c.ID)
		}
		h, err := hex.DecodeString(strings.TrimSpace(c.TokenHash))
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("principal %q: token hash must be the SHA-256 of the token in hex (64 digits): "+
				"printf %%s \"$TOKEN\" | sha256sum", c.ID)
		}
		e := entry{p: Principal{ID: c.ID, Supervisor: c.Supervisor}}
		copy(e.hash[:], h)
		ps.byID[c.ID] = len(ps.list)
		ps.list = append(ps.list, e)
	}
	return ps, nil
}

// Lookup returns the principal with the id.
func (ps *Principals) Lookup(id string) (Principal, bool) {
	if ps == nil {
		return Principal{}, false
	}
	i, ok := ps.byID[id]
	if !ok {
		return Principal{}, false
	}
	return ps.list[i].p, true
}

// byToken returns the principal whose token hashes to the hash of token. It
// compares against every entry in constant time, so the time taken says
// nothing about which entry (or how much of a hash) matched.
func (ps *Principals) byToken(token string) (Principal, bool) {
	if ps == nil || token == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range ps.list {
		if subtle.ConstantTimeCompare(h[:], ps.list[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return ps.list[found].p, true
}

// byBasic checks the basic-auth user (a principal id) and password (its
// token).
func (ps *Principals) byBasic(user, token string) (Principal, bool) {
	if ps == nil {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	want := [sha256.Size]byte{} // an unknown user costs the same compare
	i, known := ps.byID[user]
	if known {
		want = ps.list[i].hash
	}
	if subtle.ConstantTimeCompare(h[:], want[:]) != 1 || !known || token == "" {
		return Principal{}, false
	}
	return ps.list[i].p, true
}

// HashToken returns what a Credential's TokenHash holds for token: the
// SHA-256 of its bytes in lower-case hex. Tokens are long random strings
// (NewToken), so a fast unsalted hash is enough. Without callmon:
//
//	printf %s "$TOKEN" | sha256sum | cut -d' ' -f1
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a new random token: 32 bytes from crypto/rand, base64url
// without padding (43 characters). Without callmon:
//
//	openssl rand -base64 32 | tr '+/' '-_' | tr -d '='
func NewToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24+): it crashes the program instead
	return b
}

// cookieName holds a page's token after ?token= (see the package comment).
const cookieName = "callmon_token"

// errBadCredentials is a request with credentials that match nobody.
var errBadCredentials = errors.New("invalid credentials")

// errNoCredentials is a request without credentials.
var errNoCredentials = errors.New("authentication required: Authorization: Bearer <token>, basic auth (agent id and token) or the page's cookie")

// authenticate finds the principal of r: the Authorization header (Bearer
// or Basic) if present, else the cookie the page sets. A bad Authorization
// header never falls back to the cookie.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		rest = strings.TrimSpace(rest)
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			if p, ok := s.principals.byToken(rest); ok {
				return p, nil
			}
		case strings.EqualFold(scheme, "Basic"):
			if user, token, ok := r.BasicAuth(); ok {
				if p, ok := s.principals.byBasic(user, token); ok {
					return p, nil
				}
			}
		}
		return Principal{}, errBadCredentials
	}
	if c, err := r.Cookie(cookieName); err == nil {
		token, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err == nil {
			if p, ok := s.principals.byToken(string(token)); ok {
				return p, nil
			}
		}
		return Principal{}, errBadCredentials
	}
	return Principal{}, errNoCredentials
}

// setTokenCookie keeps token in an HttpOnly cookie, for the page's own
// requests (fetch and EventSource send it; scripts cannot read it). The
// value is base64url-encoded: a token may hold bytes a cookie cannot.
func (s *Server) setTokenCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    base64.RawURLEncoding.EncodeToString([]byte(token)),
		Path:     "/",
		MaxAge:   int(s.cookieMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}
