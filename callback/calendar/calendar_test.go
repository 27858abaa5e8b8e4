package calendar

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var ams = mustLoad("Europe/Amsterdam")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a wall-clock time in Amsterdam.
func at(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, ams)
}

func mustNew(t *testing.T, c Config) *Calendar {
	t.Helper()
	cl, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return cl
}

var allWeek = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

func TestIsOpen(t *testing.T) {
	def := mustNew(t, Config{})
	closedBoth := mustNew(t, Config{ClosedOnGoodFriday: true, ClosedOnLiberationDay: true})
	extra := mustNew(t, Config{ExtraClosed: []Date{{2026, time.December, 24}}})

	tests := []struct {
		name    string
		cal     *Calendar
		t       time.Time
		open    bool
		holiday string
	}{
		{"ordinary Tuesday morning", def, at(2026, time.June, 2, 10, 0, 0), true, ""},
		{"opening minute", def, at(2026, time.June, 2, 8, 30, 0), true, ""},
		{"just before opening", def, at(2026, time.June, 2, 8, 29, 59), false, ""},
		{"Friday 16:59:59", def, at(2026, time.June, 5, 16, 59, 59), true, ""},
		{"Friday 16:59:59.999", def, at(2026, time.June, 5, 16, 59, 59).Add(999 * time.Millisecond), true, ""},
		{"Friday 17:00:00", def, at(2026, time.June, 5, 17, 0, 0), false, ""},
		{"Saturday", def, at(2026, time.June, 6, 10, 0, 0), false, ""},
		{"Sunday", def, at(2026, time.June, 7, 10, 0, 0), false, ""},
		{"New Year", def, at(2026, time.January, 1, 10, 0, 0), false, "Nieuwjaarsdag"},
		{"Good Friday open by default", def, at(2026, time.April, 3, 10, 0, 0), true, ""},
		{"Good Friday closed when configured", closedBoth, at(2026, time.April, 3, 10, 0, 0), false, "Goede Vrijdag"},
		{"Easter Monday", def, at(2026, time.April, 6, 10, 0, 0), false, "Tweede Paasdag"},
		{"King's Day", def, at(2026, time.April, 27, 10, 0, 0), false, "Koningsdag"},
		{"Liberation Day open by default", def, at(2026, time.May, 5, 10, 0, 0), true, ""},
		{"Liberation Day closed when configured", closedBoth, at(2026, time.May, 5, 10, 0, 0), false, "Bevrijdingsdag"},
		{"Liberation Day lustrum year still per config", def, at(2025, time.May, 5, 10, 0, 0), true, ""},
		{"Ascension", def, at(2026, time.May, 14, 10, 0, 0), false, "Hemelvaartsdag"},
		{"Whit Monday", def, at(2026, time.May, 25, 10, 0, 0), false, "Tweede Pinksterdag"},
		{"Christmas", def, at(2025, time.December, 25, 10, 0, 0), false, "Eerste Kerstdag"},
		{"Boxing Day", def, at(2025, time.December, 26, 10, 0, 0), false, "Tweede Kerstdag"},
		{"24 December open by default", def, at(2026, time.December, 24, 10, 0, 0), true, ""},
		{"24 December as extra closed day", extra, at(2026, time.December, 24, 10, 0, 0), false, ExtraClosedName},
		{"extra closed day is one day only", extra, at(2026, time.December, 23, 16, 0, 0), true, ""},
		// 09:00 UTC on 2 June is 11:00 in Amsterdam; 15:30 UTC is 17:30.
		{"instant given in UTC, open", def, time.Date(2026, time.June, 2, 9, 0, 0, 0, time.UTC), true, ""},
		{"instant given in UTC, closed", def, time.Date(2026, time.June, 2, 15, 30, 0, 0, time.UTC), false, ""},
		// 23:30 UTC on Friday 24 April 2026 is already Saturday in Amsterdam.
		{"day boundary is local", def, time.Date(2026, time.April, 24, 22, 30, 0, 0, time.UTC), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.IsOpen(tt.t); got != tt.open {
				t.Errorf("IsOpen(%v) = %v, want %v", tt.t, got, tt.open)
			}
			name, ok := tt.cal.Holiday(tt.t)
			if name != tt.holiday || ok != (tt.holiday != "") {
				t.Errorf("Holiday(%v) = %q, %v; want %q", tt.t, name, ok, tt.holiday)
			}
			if tt.holiday != "" && tt.cal.IsWorkingDay(tt.t) {
				t.Errorf("IsWorkingDay(%v) = true on %s", tt.t, tt.holiday)
			}
		})
	}
}

func TestKingsDayOnSunday(t *testing.T) {
	// 27 April 2025 was a Sunday: King's Day moved to Saturday the 26th. A
	// seven-day line must be closed then.
	c := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(8, 30), Close: ClockOf(17, 0)}})
	sat := at(2025, time.April, 26, 12, 0, 0)
	if name, ok := c.Holiday(sat); !ok || name != "Koningsdag" {
		t.Errorf("Holiday(2025-04-26) = %q, %v; want Koningsdag", name, ok)
	}
	if c.IsOpen(sat) || c.IsWorkingDay(sat) {
		t.Errorf("open on Saturday 26 April 2025 (King's Day observed)")
	}
	// The Monday after is an ordinary working day.
	if mon := at(2025, time.April, 28, 12, 0, 0); !c.IsOpen(mon) {
		t.Errorf("closed on Monday 28 April 2025")
	}
	// And in a year when the 27th is a weekday, the 26th is not a holiday.
	if _, ok := c.Holiday(at(2026, time.April, 26, 12, 0, 0)); ok {
		t.Errorf("26 April 2026 reported as a holiday")
	}
}

func TestNextOpen(t *testing.T) {
	def := mustNew(t, Config{})
	tests := []struct {
		name string
		from time.Time
		want time.Time
	}{
		{"open now returns t", at(2026, time.June, 2, 10, 0, 0), at(2026, time.June, 2, 10, 0, 0)},
		{"early morning", at(2026, time.June, 2, 7, 0, 0), at(2026, time.June, 2, 8, 30, 0)},
		{"evening", at(2026, time.June, 2, 17, 0, 0), at(2026, time.June, 3, 8, 30, 0)},
		{"Friday 17:00 to Monday", at(2026, time.June, 5, 17, 0, 0), at(2026, time.June, 8, 8, 30, 0)},
		{"Friday 17:00 before Whit Monday to Tuesday", at(2026, time.May, 22, 17, 0, 0), at(2026, time.May, 26, 8, 30, 0)},
		{"Wednesday evening before Ascension to Friday", at(2026, time.May, 13, 18, 0, 0), at(2026, time.May, 15, 8, 30, 0)},
		{"Christmas Eve evening 2025 to 29 December", at(2025, time.December, 24, 17, 0, 0), at(2025, time.December, 29, 8, 30, 0)},
		{"New Year's Eve to 2 January", at(2025, time.December, 31, 20, 0, 0), at(2026, time.January, 2, 8, 30, 0)},
		{"from UTC input", time.Date(2026, time.June, 2, 5, 0, 0, 0, time.UTC), at(2026, time.June, 2, 8, 30, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := def.NextOpen(tt.from)
			if !got.Equal(tt.want) {
				t.Errorf("NextOpen(%v) = %v, want %v", tt.from, got, tt.want)
			}
			if !def.IsOpen(got) {
				t.Errorf("IsOpen(NextOpen(%v)) = false", tt.from)
			}
			if got.After(tt.from) && def.IsOpen(got.Add(-time.Second)) {
				t.Errorf("open a second before NextOpen(%v) = %v", tt.from, got)
			}
		})
	}
}

func TestDaylightSavingTime(t *testing.T) {
	def := mustNew(t, Config{})
	// Friday 27 March 2026 is on CET (UTC+1); Monday 30 March on CEST (UTC+2).
	fri := def.NextOpen(at(2026, time.March, 27, 7, 0, 0))
	if want := time.Date(2026, time.March, 27, 7, 30, 0, 0, time.UTC); !fri.Equal(want) {
		t.Errorf("Friday before DST opens at %v, want %v", fri.UTC(), want)
	}
	mon := def.NextOpen(at(2026, time.March, 27, 17, 0, 0))
	if want := time.Date(2026, time.March, 30, 6, 30, 0, 0, time.UTC); !mon.Equal(want) {
		t.Errorf("Monday after DST opens at %v, want %v", mon.UTC(), want)
	}
	if h, m, _ := mon.In(ams).Clock(); h != 8 || m != 30 {
		t.Errorf("Monday after DST opens at %02d:%02d local, want 08:30", h, m)
	}
	// Friday 17:00 CET to Monday 08:30 CEST is 63h30m minus the lost hour.
	if got, want := mon.Sub(at(2026, time.March, 27, 17, 0, 0)), 62*time.Hour+30*time.Minute; got != want {
		t.Errorf("closed for %v over the spring DST weekend, want %v", got, want)
	}
	// And back in October: Friday 23 on CEST, Monday 26 on CET.
	monOct := def.NextOpen(at(2026, time.October, 23, 17, 0, 0))
	if want := time.Date(2026, time.October, 26, 7, 30, 0, 0, time.UTC); !monOct.Equal(want) {
		t.Errorf("Monday after DST ends opens at %v, want %v", monOct.UTC(), want)
	}

	// A seven-day line keeps local hours on the change days themselves.
	week := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(8, 30), Close: ClockOf(17, 0)}})
	for _, tc := range []struct {
		day               Date
		openUTC, closeUTC time.Time
	}{
		{Date{2026, time.March, 29}, time.Date(2026, 3, 29, 6, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 15, 0, 0, 0, time.UTC)},
		{Date{2026, time.October, 25}, time.Date(2026, 10, 25, 7, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 16, 0, 0, 0, time.UTC)},
	} {
		open, close, ok := week.OpeningTimes(tc.day)
		if !ok || !open.Equal(tc.openUTC) || !close.Equal(tc.closeUTC) {
			t.Errorf("OpeningTimes(%s) = %v, %v, %v; want %v, %v", tc.day, open.UTC(), close.UTC(), ok, tc.openUTC, tc.closeUTC)
		}
		if !week.IsOpen(tc.day.In(ams).Add(12*time.Hour)) || week.IsOpen(close) || !week.IsOpen(close.Add(-time.Nanosecond)) {
			t.Errorf("IsOpen wrong around the hours of %s", tc.day)
		}
	}

	// A round-the-clock line: the spring day has 23 hours, the autumn day 25.
	clock := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: 0, Close: ClockOf(24, 0)}, IgnorePublicHolidays: true})
	for day, want := range map[Date]time.Duration{
		{2026, time.March, 29}:   23 * time.Hour,
		{2026, time.October, 25}: 25 * time.Hour,
		{2026, time.June, 1}:     24 * time.Hour,
	} {
		open, close, _ := clock.OpeningTimes(day)
		if got := close.Sub(open); got != want {
			t.Errorf("%s lasts %v, want %v", day, got, want)
		}
	}
	if !clock.IsOpen(time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC)) || !clock.IsOpen(time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("round-the-clock line closed in the repeated hour")
	}

	// Opening at 02:30, a wall time that does not exist on 29 March 2026:
	// the centre opens at the transition (03:00 CEST = 01:00 UTC).
	night := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(2, 30), Close: ClockOf(5, 0)}})
	open, _, _ := night.OpeningTimes(Date{2026, time.March, 29})
	if want := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC); !open.Equal(want) {
		t.Errorf("opening inside the DST gap = %v, want %v", open.UTC(), want)
	}
	if night.IsOpen(time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC)) || !night.IsOpen(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("IsOpen wrong around an opening inside the DST gap")
	}
}

func TestClosures(t *testing.T) {
	c := mustNew(t, Config{ClosedOnLiberationDay: true, ExtraClosed: []Date{{2026, time.December, 24}}})
	var got []string
	for _, cl := range c.Closures(Date{2026, time.January, 1}, Date{2027, time.January, 1}) {
		got = append(got, cl.Date.String()+" "+cl.Name)
	}
	want := []string{
		"2026-01-01 Nieuwjaarsdag",
		"2026-04-06 Tweede Paasdag",
		"2026-04-27 Koningsdag",
		"2026-05-05 Bevrijdingsdag",
		"2026-05-14 Hemelvaartsdag",
		"2026-05-25 Tweede Pinksterdag",
		"2026-12-24 " + ExtraClosedName,
		"2026-12-25 Eerste Kerstdag",
		"2026-12-26 Tweede Kerstdag",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Closures(2026) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	none := mustNew(t, Config{IgnorePublicHolidays: true})
	if got := none.Closures(Date{2026, time.January, 1}, Date{2027, time.January, 1}); len(got) != 0 {
		t.Errorf("IgnorePublicHolidays: Closures = %v, want none", got)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no weekdays", Config{Hours: Hours{Open: ClockOf(8, 0), Close: ClockOf(17, 0)}}, "no working weekdays"},
		{"close before open", Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(17, 0), Close: ClockOf(8, 0)}}, "not after opening time"},
		{"close equals open", Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(8, 0), Close: ClockOf(8, 0)}}, "not after opening time"},
		{"close past midnight", Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(8, 0), Close: ClockOf(24, 1)}}, "not after opening time"},
		{"bad weekday", Config{Hours: Hours{Weekdays: []time.Weekday{9}, Open: ClockOf(8, 0), Close: ClockOf(17, 0)}}, "9 is not a weekday"},
		{"30 February", Config{ExtraClosed: []Date{{2026, time.February, 30}}}, "2026-02-30 does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := mustNew(t, Config{})
	if c.Location().String() != DefaultTimezone {
		t.Errorf("Location = %v, want %s", c.Location(), DefaultTimezone)
	}
	utc := mustNew(t, Config{Location: time.UTC})
	// 08:00 UTC is 10:00 in Amsterdam in June: open there, not yet in UTC.
	tm := time.Date(2026, time.June, 2, 8, 0, 0, 0, time.UTC)
	if utc.IsOpen(tm) || !c.IsOpen(tm) {
		t.Errorf("Location not honoured")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := mustNew(t, Config{ExtraClosed: []Date{{2026, time.December, 24}}})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tm := at(2026, time.January, 1, 0, 0, 0).Add(time.Duration(i) * time.Hour)
			for range 500 {
				c.IsOpen(tm)
				c.NextOpen(tm)
				tm = tm.Add(17 * time.Hour)
			}
		})
	}
	wg.Wait()
}

func TestParseClockAndDate(t *testing.T) {
	for in, want := range map[string]Clock{"08:30": 510, "00:00": 0, "24:00": 1440, "17:00": 1020} {
		if got, err := ParseClock(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseClock(%q) = %v (%s), %v; want %v", in, int(got), got, err, int(want))
		}
	}
	for _, in := range []string{"8:30", "08.30", "24:01", "08:60", "+1:30", "0830", "", "ab:cd"} {
		if _, err := ParseClock(in); err == nil {
			t.Errorf("ParseClock(%q) succeeded", in)
		}
	}
	if d, err := ParseDate("2026-12-24"); err != nil || d != (Date{2026, time.December, 24}) || d.String() != "2026-12-24" {
		t.Errorf("ParseDate = %v, %v", d, err)
	}
	for _, in := range []string{"2026-02-30", "24-12-2026", "2026-12-24T00:00:00Z", "2026/12/24"} {
		if _, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) succeeded", in)
		}
	}
	if got := (Date{2026, time.December, 31}).AddDays(1); got != (Date{2027, time.January, 1}) {
		t.Errorf("AddDays across the year = %v", got)
	}
	if got := (Date{2026, time.March, 29}).In(ams); !got.Equal(time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("Date.In = %v", got.UTC())
	}
}
