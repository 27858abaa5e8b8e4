package phone

import "testing"

func TestNational(t *testing.T) {
	for in, want := range map[string]string{
		"0503164911": "0503164911", "050-316 49 11": "0503164911", "+31503164911": "0503164911",
		"+31 (0)50 3164911": "0503164911", "0031 6 12345678": "0612345678", "06-1234 5678": "0612345678",
		"+4930123456": "", "123": "", "0012345678": "", "anonymous": "", "": "", "+310612345678": "",
	} {
		got, err := National(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("National(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if e, err := E164("050-316 49 11"); e != "+31503164911" || err != nil {
		t.Errorf("E164 = %q, %v", e, err)
	}
}
