package config

import (
	"strings"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	c, err := Parse("callmon.yml", []byte(head+tail))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Retention{CallRecords: 366 * 24 * time.Hour, Tasks: 90 * 24 * time.Hour, Voicemails: 30 * 24 * time.Hour}); c.Retention != want {
		t.Errorf("default retention %+v, want %+v", c.Retention, want)
	}
	c, err = Parse("callmon.yml", []byte(head+tail+"retention:\n  call_records: 400d\n  tasks: 720h\n  voicemails: 1d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Retention{CallRecords: 400 * 24 * time.Hour, Tasks: 30 * 24 * time.Hour, Voicemails: 24 * time.Hour}); c.Retention != want {
		t.Errorf("retention %+v, want %+v", c.Retention, want)
	}
	var sb strings.Builder
	if err := c.SummaryAt(&sb, time.Date(2026, 6, 20, 10, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "caller numbers removed 400d after the call") {
		t.Errorf("summary lacks the retention:\n%s", sb.String())
	}

	for _, tt := range []struct{ yaml, want string }{
		{"retention:\n  voicemails: 12h\n", "callmon.yml:9: voicemails: 12h0m0s is shorter than a day (hint: write at least 1d (a day); 30d, 90d and 366d are usual)"},
		{"retention:\n  tasks: 3 months\n", `callmon.yml:9: tasks: "3 months" is not a duration`},
		{"retention:\n  calls: 30d\n", `callmon.yml:9: unknown key`},
		{"retention:\n  call_records: -5d\n", `call_records: "-5d" is not a duration`},
	} {
		_, err := Parse("callmon.yml", []byte(head+tail+tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.yaml, err, tt.want)
		}
	}
}
