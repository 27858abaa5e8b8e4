// Package auth says who is asking and what they may do: principals with
// bcrypt-hashed tokens of the form <id>.<secret>, signed session cookies,
// a cache of verified bearer tokens, throttling of failed sign-ins, the
// sign-in page and the HTTP middleware that puts a principal in the
// request context. It knows roles, not tasks or telephony: which role may
// use which route is decided where the route is registered.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Role is what kind of person (or screen) a principal is.
type Role string

// Roles (DESIGN §10.2).
const (
	Agent      Role = "agent"      // own presence, own tasks, pool tasks of their queues
	Employee   Role = "employee"   // own voicemails and their tasks
	Supervisor Role = "supervisor" // everything
	Wallboard  Role = "wallboard"  // read-only screen
)

// Principal is who a request comes from.
type Principal struct {
	ID   string
	Role Role
}

// IsSupervisor reports whether p may see and change everything.
func (p Principal) IsSupervisor() bool { return p.Role == Supervisor }

// Credential configures one principal: its id, role and the bcrypt hash of
// its token (HashToken). The token itself is never configured.
type Credential struct {
	ID        string
	Role      Role
	TokenHash string
}

// Principals maps tokens to principals. It is immutable after NewPrincipals
// and safe for concurrent use.
type Principals struct {
	byID map[string]entry
}

type entry struct {
	p    Principal
	hash []byte
	// gen names the token hash: sessions and cached verifications carry
	// it, so a new token_hash (a reload) ends those of the old token.
	gen string
}

// current returns the principal with the id and the generation of its
// token hash.
func (ps *Principals) current(id string) (Principal, string, bool) {
	if ps == nil {
		return Principal{}, "", false
	}
	e, ok := ps.byID[id]
	return e.p, e.gen, ok
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

var sha256HexRE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// ErrUnsaltedHash is a token hash in the old form: a bare SHA-256.
var ErrUnsaltedHash = errors.New("token_hash is an unsalted SHA-256 (64 hex digits), which is no longer accepted: " +
	"make a new token and its bcrypt hash with `callmon token --id <id>`, give the token to its owner and put the hash in token_hash")

// CheckHashForm reports whether hash is a bcrypt hash callmon accepts.
func CheckHashForm(hash string) error {
	if sha256HexRE.MatchString(hash) {
		return ErrUnsaltedHash
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil || !strings.HasPrefix(hash, "$2") {
		return errors.New("token_hash is not a bcrypt hash ($2a$/$2b$/$2y$…, 60 characters): make one with `callmon token --id <id>`")
	}
	return nil
}

// NewPrincipals checks the credentials: ids are unique and made of letters,
// digits, '_' and '-' (a token is <id>.<secret>), roles are known and every
// hash is bcrypt.
func NewPrincipals(creds []Credential) (*Principals, error) {
	ps := &Principals{byID: make(map[string]entry, len(creds))}
	for _, c := range creds {
		if !idRE.MatchString(c.ID) {
			return nil, fmt.Errorf("principal %q: an id is letters, digits, '_' and '-'", c.ID)
		}
		if _, dup := ps.byID[c.ID]; dup {
			return nil, fmt.Errorf("principal %q: configured twice (an id is one person, with one role)", c.ID)
		}
		switch c.Role {
		case Agent, Employee, Supervisor, Wallboard:
		default:
			return nil, fmt.Errorf("principal %q: unknown role %q", c.ID, c.Role)
		}
		h := strings.TrimSpace(c.TokenHash)
		if err := CheckHashForm(h); err != nil {
			return nil, fmt.Errorf("principal %q: %w", c.ID, err)
		}
		sum := sha256.Sum256([]byte(h))
		ps.byID[c.ID] = entry{p: Principal{ID: c.ID, Role: c.Role}, hash: []byte(h), gen: base64.RawURLEncoding.EncodeToString(sum[:9])}
	}
	return ps, nil
}

// Lookup returns the principal with the id.
func (ps *Principals) Lookup(id string) (Principal, bool) {
	if ps == nil {
		return Principal{}, false
	}
	e, ok := ps.byID[id]
	return e.p, ok
}

// dummyHash is compared against when the id is unknown, so an unknown id
// costs as long as a wrong secret.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such principal"), bcrypt.DefaultCost)

// Verify returns the principal of token (<id>.<secret>): one bcrypt compare.
func (ps *Principals) Verify(token string) (Principal, bool) {
	id, _, ok := strings.Cut(token, ".")
	if ps == nil || !ok || id == "" {
		return Principal{}, false
	}
	e, known := ps.byID[id]
	hash := e.hash
	if !known {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(token)) != nil || !known {
		return Principal{}, false
	}
	return e.p, true
}

// TokenID returns the id part of a token ("" if it has none).
func TokenID(token string) string {
	id, _, ok := strings.Cut(token, ".")
	if !ok || !idRE.MatchString(id) {
		return ""
	}
	return id
}

// NewToken returns a new token for id: id, '.', and 32 random bytes in
// base64url (43 characters).
func NewToken(id string) string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (Go 1.24+)
	return id + "." + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the bcrypt hash (default cost) of token, for token_hash.
func HashToken(token string) (string, error) {
	return HashTokenCost(token, bcrypt.DefaultCost)
}

// HashTokenCost is HashToken with a bcrypt cost (tests use bcrypt.MinCost).
func HashTokenCost(token string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(token), cost)
	return string(h), err
}

// weakSecrets are secrets that are refused after "<id>.": what people type
// when they are in a hurry. A token without "<id>." cannot sign in at all,
// so only the prefixed forms are worth a compare.
var weakSecrets = []string{"password", "1", "admin", "123456", "changeme"}

// CheckWeak reports an error if hash is the hash of a known weak token of
// id: <id>.<weak>, or <id>.<id>. It costs len(weakSecrets)+1 bcrypt
// compares (about 70 ms each at the default cost).
func CheckWeak(id, hash string) error {
	for _, w := range append(append([]string{}, weakSecrets...), id) {
		tok := id + "." + w
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(tok)) == nil {
			return fmt.Errorf("token_hash is the hash of a weak token (%q): make a random one with `callmon token --id %s`", tok, id)
		}
	}
	return nil
}
