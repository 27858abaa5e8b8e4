package web

import (
	"errors"
	"strings"
)

// errNotDutch explains a number NormalizeNumber refuses.
var errNotDutch = errors.New("number must be a Dutch phone number: 10 digits starting with 0 (06 12345678, 050-316 49 11) or +31…")

// NormalizeNumber turns a Dutch phone number written any common way
// (06-1234 5678, 050 316 49 11, +31 (0)50 3164911, 0031 6 12345678) into
// E.164 (+31612345678). Anything else — letters, foreign or short numbers,
// a service number starting 00 — is refused: callmon only calls back Dutch
// numbers, as the IVR does.
func NormalizeNumber(s string) (string, error) {
	n := strings.ReplaceAll(strings.TrimSpace(s), "(0)", "")
	n = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '/', '(', ')', '\u00a0':
			return -1
		}
		return r
	}, n)
	switch {
	case strings.HasPrefix(n, "+31"):
		n = "0" + n[3:]
	case strings.HasPrefix(n, "0031"):
		n = "0" + n[4:]
	}
	if len(n) != 10 || n[0] != '0' || n[1] == '0' {
		return "", errNotDutch
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return "", errNotDutch
		}
	}
	return "+31" + n[1:], nil
}
