package voicemails_test

import (
	"testing"
	"time"

	"callmon/callback/calendar"
	"callmon/callback/voicemails"
)

func TestE164(t *testing.T) {
	good := map[string]string{
		"+31612345678":       "+31612345678",
		"0612345678":         "+31612345678",
		"06-12345678":        "+31612345678",
		"050-316 12 34":      "+31503161234",
		"+31 (0)50 316 1234": "+31503161234",
		"0031503161234":      "+31503161234",
		"31503161234":        "+31503161234",
		"(050) 316.12.34":    "+31503161234",
		" 0612345678\u00a0":  "+31612345678",
		"+44 20 7946 0000":   "+442079460000",
		"0044 20 7946 0000":  "+442079460000",
		"+1 212 555 0100":    "+12125550100",
	}
	for in, want := range good {
		if got, ok := voicemails.E164(in); !ok || got != want {
			t.Errorf("E164(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "anonymous", "Anonymous", "2001", "12345", "050316123", "05031612345",
		"+310503161234", "+3150316123", "+0612345678", "06123456xx", "+31 6 1234 5678 9"} {
		if got, ok := voicemails.E164(in); ok {
			t.Errorf("E164(%q) = %q, want none", in, got)
		}
	}
}

func TestCalendarWindow(t *testing.T) {
	cal, err := calendar.New(calendar.Config{ExtraClosed: []calendar.Date{{Year: 2026, Month: 12, Day: 24}}})
	if err != nil {
		t.Fatal(err)
	}
	ams := cal.Location()
	w := voicemails.CalendarWindow(cal)
	for _, tt := range []struct {
		name          string
		received, end time.Time
	}{
		{"Monday morning: Tuesday's close", time.Date(2026, 11, 23, 9, 0, 0, 0, ams), time.Date(2026, 11, 24, 17, 0, 0, 0, ams)},
		{"before opening: still the next day", time.Date(2026, 11, 23, 7, 0, 0, 0, ams), time.Date(2026, 11, 24, 17, 0, 0, 0, ams)},
		{"Friday evening: Monday's close", time.Date(2026, 11, 27, 19, 0, 0, 0, ams), time.Date(2026, 11, 30, 17, 0, 0, 0, ams)},
		{"Saturday: Monday's close", time.Date(2026, 11, 28, 11, 0, 0, 0, ams), time.Date(2026, 11, 30, 17, 0, 0, 0, ams)},
		// 24 December is closed, 25 and 26 are holidays, 27 is a Sunday.
		{"over Christmas", time.Date(2026, 12, 23, 12, 0, 0, 0, ams), time.Date(2026, 12, 28, 17, 0, 0, 0, ams)},
	} {
		start, end := w(tt.received)
		if !start.Equal(tt.received) || !end.Equal(tt.end) {
			t.Errorf("%s: window %v – %v, want %v – %v", tt.name, start, end, tt.received, tt.end)
		}
	}

	// No working day at all: a day.
	never, err := calendar.New(calendar.Config{Hours: calendar.Hours{Weekdays: []time.Weekday{time.Monday}, Open: calendar.ClockOf(8, 0), Close: calendar.ClockOf(9, 0)},
		ExtraClosed: mondays(2026, 11, 30, 20)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, ams)
	if start, end := voicemails.CalendarWindow(never)(at); !start.Equal(at) || !end.Equal(at.Add(24*time.Hour)) {
		t.Errorf("without working days: %v – %v", start, end)
	}
	if start, end := voicemails.DefaultWindow(at); !start.Equal(at) || !end.Equal(at.Add(24*time.Hour)) {
		t.Errorf("DefaultWindow: %v – %v", start, end)
	}
}

// mondays lists n Mondays from the given one.
func mondays(year int, month time.Month, day, n int) []calendar.Date {
	d := calendar.Date{Year: year, Month: month, Day: day}
	var out []calendar.Date
	for range n {
		out = append(out, d)
		d = d.AddDays(7)
	}
	return out
}
