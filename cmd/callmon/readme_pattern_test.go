package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// asteriskMatch reports whether extension exten matches dialplan pattern p,
// by the rules of Asterisk's extension patterns: without a leading "_" an
// exact match; X, Z, N are 0-9, 1-9, 2-9; [...] a class with ranges; "."
// one or more characters and "!" zero or more, both ending the pattern;
// anything else itself.
func asteriskMatch(p, exten string) bool {
	if !strings.HasPrefix(p, "_") {
		return p == exten
	}
	p = p[1:]
	for p != "" {
		switch c := p[0]; c {
		case '.':
			return exten != ""
		case '!':
			return true
		}
		if exten == "" {
			return false
		}
		x := exten[0]
		var ok bool
		switch c := p[0]; {
		case c == 'X' || c == 'x':
			ok, p = x >= '0' && x <= '9', p[1:]
		case c == 'Z' || c == 'z':
			ok, p = x >= '1' && x <= '9', p[1:]
		case c == 'N' || c == 'n':
			ok, p = x >= '2' && x <= '9', p[1:]
		case c == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return false
			}
			class := p[1:end]
			for i := 0; i < len(class); i++ {
				if i+2 < len(class) && class[i+1] == '-' {
					ok = ok || (x >= class[i] && x <= class[i+2])
					i += 2
					continue
				}
				ok = ok || x == class[i]
			}
			p = p[end+1:]
		default:
			ok, p = x == c, p[1:]
		}
		if !ok {
			return false
		}
		exten = exten[1:]
	}
	return exten == ""
}

func TestAsteriskMatch(t *testing.T) {
	for _, c := range []struct {
		p, exten string
		want     bool
	}{
		{"_X.", "1001", true}, {"_X.", "1", false}, {"_X.", "erik", false},
		{"_NXX", "200", true}, {"_NXX", "100", false}, {"_Z!", "1", true},
		{"_[a-c]X", "b7", true}, {"_[a-c]X", "d7", false}, {"h", "h", true}, {"h", "hh", false},
	} {
		if got := asteriskMatch(c.p, c.exten); got != c.want {
			t.Errorf("asteriskMatch(%q, %q) = %v, want %v", c.p, c.exten, got, c.want)
		}
	}
}

// The README's voicemail context (mode dialplan) matches the mailbox users
// callmon continues callers to, and none of the special extensions Asterisk
// runs by itself: `_.` matched h, so a hang-up ran VoiceMail(h@default).
func TestREADMEVoicemailPattern(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\[callmon-voicemail\]\s*\nexten => (\S+?),1,VoiceMail\(\$\{EXTEN\}@`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no [callmon-voicemail] context with a VoiceMail(${EXTEN}@...) line")
	}
	pattern := string(m[1])
	for _, user := range []string{"erik", "1001", "0503161234", "jan.devries", "ab"} {
		if !asteriskMatch(pattern, user) {
			t.Errorf("README pattern %s does not match mailbox user %q", pattern, user)
		}
	}
	for _, special := range []string{"h", "i", "t", "T", "s", "o", "a", "e"} {
		if asteriskMatch(pattern, special) {
			t.Errorf("README pattern %s matches the special extension %q", pattern, special)
		}
	}
	if !asteriskMatch("_.", "h") {
		t.Error(`"_." should match h (the defect the README warns about)`)
	}
}
