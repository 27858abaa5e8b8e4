package config

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"callmon/callback/retention"
)

// Retention is how long callers' personal data is kept (AVG art. 5(1)(e));
// see package callmon/callback/retention.
type Retention struct {
	CallRecords time.Duration // caller numbers in call records, after the call ended
	Tasks       time.Duration // numbers, names and notes of finished tasks, after completion
	Voicemails  time.Duration // recordings and callers of voicemails, after they were left
}

// DefaultRetention returns the periods callmon keeps when the file sets none.
func DefaultRetention() Retention {
	p := retention.DefaultPeriods()
	return Retention{CallRecords: p.CallRecords, Tasks: p.Tasks, Voicemails: p.Voicemails}
}

// Periods returns r for package retention.
func (r Retention) Periods() retention.Periods {
	return retention.Periods{CallRecords: r.CallRecords, Tasks: r.Tasks, Voicemails: r.Voicemails}
}

// minRetention keeps the job away from today's calls and from voicemails
// the employee has not had a chance to hear.
const minRetention = 24 * time.Hour

var daysRE = regexp.MustCompile(`^([0-9]+)d$`)

func (b *builder) retention(v *yaml.Node) {
	r := &b.cfg.Retention
	period := func(key string, dst *time.Duration) field {
		return field{name: key, set: func(v *yaml.Node) {
			s, ok := b.scalar(key, v)
			if !ok {
				return
			}
			var d time.Duration
			if m := daysRE.FindStringSubmatch(s); m != nil {
				n, err := strconv.Atoi(m[1])
				if err != nil || n > 100*366 {
					b.fail(v, "write a number of days such as 30d or 366d", "%s: %q is too long", key, s)
					return
				}
				d = time.Duration(n) * 24 * time.Hour
			} else if !b.duration(key, v, &d) {
				return
			}
			if d < minRetention {
				b.fail(v, "write at least 1d (a day); 30d, 90d and 366d are usual",
					"%s: %s is shorter than a day", key, formatPeriod(d))
				return
			}
			*dst = d
		}}
	}
	b.mapping(v, "retention", []field{
		period("call_records", &r.CallRecords),
		period("tasks", &r.Tasks),
		period("voicemails", &r.Voicemails),
	})
}

// formatPeriod writes whole days as 30d.
func formatPeriod(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
