package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "callmon_session"

// signSession returns the cookie value for p until exp, made with the token
// hash of generation gen: base64url("id|role|unix|gen") "."
// base64url(HMAC-SHA256).
func signSession(key []byte, p Principal, gen string, exp time.Time) string {
	payload := p.ID + "|" + string(p.Role) + "|" + strconv.FormatInt(exp.Unix(), 10) + "|" + gen
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// openSession checks a cookie value's signature and expiry.
// It returns the principal and the generation of its token hash then.
func openSession(key []byte, v string, now time.Time) (Principal, string, bool) {
	p64, s64, ok := strings.Cut(v, ".")
	if !ok {
		return Principal{}, "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return Principal{}, "", false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Principal{}, "", false
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 4 {
		return Principal{}, "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return Principal{}, "", false
	}
	return Principal{ID: parts[0], Role: Role(parts[1])}, parts[3], true
}
