package web

import (
	"errors"

	"callmon/callback/phone"
)

// errNotDutch explains a number NormalizeNumber refuses.
var errNotDutch = errors.New("number must be a Dutch phone number: 10 digits starting with 0 (06 12345678, 050-316 49 11) or +31…")

// NormalizeNumber turns a Dutch phone number written any common way
// (06-1234 5678, 050 316 49 11, +31 (0)50 3164911, 0031 6 12345678) into
// E.164 (+31612345678). Anything else — letters, foreign or short numbers,
// a service number starting 00 — is refused: callmon only calls back Dutch
// numbers, as the IVR does.
func NormalizeNumber(s string) (string, error) {
	n, err := phone.E164(s)
	if err != nil {
		return "", errNotDutch
	}
	return n, nil
}
