package web_test

import (
	"strings"
	"testing"

	"callmon/callback/web"
)

func TestHashToken(t *testing.T) {
	// printf %s abc | sha256sum
	if got := web.HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
	a, b := web.NewToken(), web.NewToken()
	if len(a) != 43 || a == b || strings.ContainsAny(a, "+/=") {
		t.Errorf("NewToken: %q, %q", a, b)
	}
}

func TestNewPrincipals(t *testing.T) {
	h := web.HashToken("secret")
	ps, err := web.NewPrincipals([]web.Credential{{ID: "anna", TokenHash: h}, {ID: "sam", Supervisor: true, TokenHash: strings.ToUpper(h)}})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := ps.Lookup("sam"); !ok || !p.Supervisor {
		t.Errorf("Lookup(sam) = %+v, %v", p, ok)
	}
	if _, ok := ps.Lookup("nobody"); ok {
		t.Error("Lookup(nobody) found someone")
	}
	for _, tc := range []struct {
		creds []web.Credential
		says  string
	}{
		{[]web.Credential{{ID: "", TokenHash: h}}, "non-empty"},
		{[]web.Credential{{ID: "a:b", TokenHash: h}}, "':'"},
		{[]web.Credential{{ID: "a/b", TokenHash: h}}, "'/'"},
		{[]web.Credential{{ID: "anna", TokenHash: h}, {ID: "anna", TokenHash: h}}, "twice"},
		{[]web.Credential{{ID: "anna", TokenHash: "secret"}}, "sha256sum"},
		{[]web.Credential{{ID: "anna", TokenHash: h[:62]}}, "64 digits"},
	} {
		if _, err := web.NewPrincipals(tc.creds); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("NewPrincipals(%+v): %v, want an error saying %q", tc.creds, err, tc.says)
		}
	}
}

func TestNormalizeNumber(t *testing.T) {
	for in, want := range map[string]string{
		"0612345678":          "+31612345678",
		"06-1234 5678":        "+31612345678",
		"06 12 34 56 78":      "+31612345678",
		"+31612345678":        "+31612345678",
		"+31 6 12345678":      "+31612345678",
		"0031612345678":       "+31612345678",
		"050-316 49 11":       "+31503164911",
		"(050) 316 49 11":     "+31503164911",
		"+31 (0)50 3164911":   "+31503164911",
		"050.316.49.11":       "+31503164911",
		" 020 123 4567 ":      "+31201234567",
		"0800-1234567":        "",
		"call me":             "",
		"":                    "",
		"112":                 "",
		"061234567":           "",
		"06123456789":         "",
		"+49 30 1234567":      "",
		"+3161234567a":        "",
		"0612345678; DROP":    "",
		"0031 0612345678":     "",
		"٠٦١٢٣٤٥٦٧٨":          "", // Arabic-Indic digits are not digits here
		"06\u00a012345678":    "+31612345678",
		"+31-6-1234-5678 ext": "",
	} {
		got, err := web.NormalizeNumber(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
