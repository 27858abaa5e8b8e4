package config

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse: any bytes give either a configuration that validates again
// (parsing it twice gives the same, its calendar builds, its summary
// writes, its lookups find what it lists) or an error whose every part is
// an *Error naming the file and a line inside it. Never a panic.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../../callmon.example.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(example), head + tail, "", "{}", "[]", "ari: x", "---\n---\n", head,
		head + tail + "opening_hours:\n  open: 08:30: x\n",
		head + "queues:\n\t- name: general\n",
		head + "queues:\n  - name: general\n    agents: *team\n",
		head + tail + "supervisors:\n  - id: sam\n    token_hash: sha256:00\n",
		head + tail + "opening_hours:\n  days: [mon, tue]\n  open: \"08:30\"\n  close: \"17:00\"\n  closed: [2026-12-25]\n",
		head + "a: &a [*a]\n",
	} {
		f.Add([]byte(s))
	}
	const name = "fuzz.yml"
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(name, data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a configuration and an error: %v", err)
			}
			lines := lineCount(data)
			parts := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				parts = j.Unwrap()
			}
			for _, p := range parts {
				var e *Error
				if !errors.As(p, &e) || p != error(e) {
					t.Fatalf("error %q (%T) is not a *Error", p, p)
				}
				if e.File != name || e.Line < 1 || e.Line > lines || e.Msg == "" {
					t.Fatalf("error %q: file %q line %d of %d", e, e.File, e.Line, lines)
				}
			}
			return
		}
		again, err := Parse(name, data)
		if err != nil {
			t.Fatalf("parsed once, refused the second time: %v", err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("two parses differ:\n%+v\n%+v", c, again)
		}
		if _, err := c.Calendar(); err != nil {
			t.Fatalf("a valid configuration's calendar: %v", err)
		}
		for _, q := range c.Queues {
			if got, ok := c.Queue(q.Name); !ok || got.Name != q.Name {
				t.Fatalf("Queue(%q) does not find it", q.Name)
			}
			for _, n := range q.Numbers {
				if got, ok := c.QueueByNumber(n); !ok {
					t.Fatalf("QueueByNumber(%q) of queue %q finds nothing", n, q.Name)
				} else if got.Name != q.Name {
					t.Fatalf("number %q is in queue %q and in %q", n, q.Name, got.Name)
				}
			}
		}
		for _, a := range c.Agents {
			if got, ok := c.Agent(a.ID); !ok || got.ID != a.ID {
				t.Fatalf("Agent(%q) does not find it", a.ID)
			}
		}
		// A password set by the program: the summary must not read a file
		// the fuzzer named.
		c.ARI.Password = "x"
		if err := c.SummaryAt(io.Discard, now); err != nil {
			t.Fatalf("Summary: %v", err)
		}
	})
}

// Found by FuzzParse: a file of only "---" was reported at line 2 of a
// one-line file (yaml.v3 places the empty document after the marker).
func TestErrorLineIsInsideTheFile(t *testing.T) {
	for _, src := range []string{"---", "---\n", "ari: x\n---", "\r\"", "ari:\r\n  url: 'x\r\n"} {
		_, err := Parse("callmon.yml", []byte(src))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: %v, want an *Error", src, err)
		}
		if lines := lineCount([]byte(src)); e.Line < 1 || e.Line > lines {
			t.Errorf("%q: error at line %d of a %d-line file: %v", src, e.Line, lines, err)
		}
	}
}

// lineCount is the number of lines as an editor shows them: LF, CRLF and a
// lone CR end a line (YAML counts a lone CR too).
func lineCount(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return strings.Count(s, "\n") + strings.Count(s, "\r") + 1
}
