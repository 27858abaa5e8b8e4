package phone

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzNational: any string is either refused with an error that quotes it,
// or turned into a national number that National and E164 keep as it is.
func FuzzNational(f *testing.F) {
	for _, s := range []string{
		"0503164911", "050-316 49 11", "+31503164911", "+31 (0)50 3164911", "0031 6 12345678",
		"06-1234 5678", "+4930123456", "123", "0012345678", "anonymous", "", "+310612345678",
		"06\u00a01234\u00a05678", "(050) 316.49/11", "+31(0)(0)612345678", "0(0)612345678",
	} {
		f.Add(s)
	}
	digits := regexp.MustCompile(`^0[1-9][0-9]{8}$`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := National(s)
		if err != nil {
			if n != "" {
				t.Fatalf("National(%q) = %q with error %v", s, n, err)
			}
			if !strings.Contains(err.Error(), "not a Dutch number") {
				t.Fatalf("National(%q): unclear error %q", s, err)
			}
			return
		}
		if !digits.MatchString(n) {
			t.Fatalf("National(%q) = %q, not ten digits starting with 0", s, n)
		}
		if again, err := National(n); again != n || err != nil {
			t.Fatalf("National(%q) = %q, but National(%q) = %q, %v", s, n, n, again, err)
		}
		e, err := E164(s)
		if err != nil || e != "+31"+n[1:] {
			t.Fatalf("E164(%q) = %q, %v; want +31%s", s, e, err, n[1:])
		}
		if back, err := National(e); back != n || err != nil {
			t.Fatalf("National(E164(%q)) = %q, %v; want %q", s, back, err, n)
		}
	})
}
