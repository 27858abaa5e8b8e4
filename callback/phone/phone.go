// Package phone normalises Dutch telephone numbers, the one notation the
// configuration, the callback dialogue and the task API all accept.
package phone

import (
	"fmt"
	"regexp"
	"strings"
)

var nationalRE = regexp.MustCompile(`^0[1-9][0-9]{8}$`)

// National turns a Dutch number written any common way (050-316 49 11,
// 06 1234 5678, +31 (0)50 3164911, 0031 6 12345678) into its national form
// 0503164911. Foreign, short and service numbers are refused.
func National(s string) (string, error) {
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
	case strings.HasPrefix(n, "+"):
		return "", fmt.Errorf("%q is not a Dutch number", s)
	}
	if !nationalRE.MatchString(n) {
		return "", fmt.Errorf("%q is not a Dutch number of 10 digits starting with 0", s)
	}
	return n, nil
}

// E164 is National in E.164 form: +31503164911.
func E164(s string) (string, error) {
	n, err := National(s)
	if err != nil {
		return "", err
	}
	return "+31" + n[1:], nil
}
