package config

import (
	"slices"
	"strings"
	"testing"

	"callmon/auth"
)

func TestFixedAndChanged(t *testing.T) {
	const base = `ari: {url: http://127.0.0.1:8088/ari, user: callmon}
queues:
  - name: general
    threshold: 30s
    ring_timeout: 15s
    agents: [anna]
agents:
  - {id: anna, endpoint: PJSIP/1001}
`
	parse := func(s string) *Config {
		t.Helper()
		c, err := Parse("callmon.yml", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(base)
	if got := Fixed(old, parse(base)); len(got) != 0 {
		t.Errorf("Fixed of the same file = %v, want none", got)
	}
	live := parse(strings.Replace(strings.Replace(base, "ring_timeout: 15s", "ring_timeout: 20s\n    strategy: ring-all", 1), "", "", 1))
	if got := Fixed(old, live); len(got) != 0 {
		t.Errorf("Fixed of a ring_timeout/strategy change = %v, want none", got)
	}
	want := []string{"queues[general].strategy: longest-idle → ring-all", "queues[general].ring_timeout: 15s → 20s"}
	if got := Changed(old, live); !slices.Equal(got, want) {
		t.Errorf("Changed = %q, want %q", got, want)
	}
	// A token for anna is a sign-in change, applied live.
	h, err := auth.HashToken(auth.NewToken("anna"))
	if err != nil {
		t.Fatal(err)
	}
	tokened := parse(strings.Replace(base, "endpoint: PJSIP/1001}", "endpoint: PJSIP/1001, token_hash: '"+h+"'}", 1))
	if got := Fixed(old, tokened); len(got) != 0 {
		t.Errorf("Fixed of a new token_hash = %v, want none", got)
	}
	if got, want := Changed(old, tokened), []string{"sign-in: agent anna added"}; !slices.Equal(got, want) {
		t.Errorf("Changed of a new token_hash = %q, want %q", got, want)
	}
	for _, c := range []struct{ from, to, key string }{
		{"url: http://127.0.0.1:8088/ari", "url: https://pbx:8089/ari", "ari.url"},
		{"user: callmon}", "user: other}", "ari.user"},
		{"threshold: 30s", "threshold: 20s", "queues[general].threshold"},
		{"agents: [anna]", "agents: []", "queues[general].agents"},
		{"PJSIP/1001", "PJSIP/1009", "agents"},
		{"name: general", "name: permits", "queues (a queue added, removed or moved)"},
	} {
		got := Fixed(old, parse(strings.Replace(base, c.from, c.to, 1)))
		if !slices.Contains(got, c.key) {
			t.Errorf("%s → %s: Fixed = %q, want %q in it", c.from, c.to, got, c.key)
		}
	}
}
