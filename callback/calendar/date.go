package calendar

import (
	"fmt"
	"time"
)

// Date is a civil date (a day on the wall calendar), independent of any time
// zone. Closed days are dates, not instants: 25 December is closed from local
// midnight to local midnight whatever the UTC offset that day.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's own location. Convert t with t.In first
// to get the date somewhere else.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate parses an ISO 8601 calendar date, YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// In returns local midnight at the start of d in loc (or the first instant of
// d, should a zone transition ever skip midnight).
func (d Date) In(loc *time.Location) time.Time {
	return wallClock(d, 0, loc)
}

// AddDays returns the date n days after d (before d when n is negative).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// Clock is a wall-clock time of day in minutes since midnight: 08:30 is 510.
// 24:00 (1440) is allowed as a closing time meaning "until midnight".
type Clock int

// ClockOf returns the clock value for hour:minute.
func ClockOf(hour, minute int) Clock { return Clock(hour*60 + minute) }

// ParseClock parses HH:MM in 24-hour notation, 00:00 to 24:00.
func ParseClock(s string) (Clock, error) {
	bad := fmt.Errorf("%q is not a time of day in the form HH:MM", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	digit := func(b byte) (int, bool) { return int(b - '0'), b >= '0' && b <= '9' }
	h1, ok1 := digit(s[0])
	h2, ok2 := digit(s[1])
	m1, ok3 := digit(s[3])
	m2, ok4 := digit(s[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, bad
	}
	h, m := h1*10+h2, m1*10+m2
	c := ClockOf(h, m)
	if m > 59 || c > 24*60 {
		return 0, fmt.Errorf("%q is not a time of day between 00:00 and 24:00", s)
	}
	return c, nil
}

// String formats c as HH:MM.
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Duration returns the time since midnight that c stands for on a day without
// a zone transition.
func (c Clock) Duration() time.Duration { return time.Duration(c) * time.Minute }

// wallClock returns the first instant on date d at which the wall clock in loc
// reads c or later. Opening hours are wall-clock times, so on the days that
// daylight saving time starts or ends they are still 08:30 and 17:00 local
// time. A clock inside the spring-forward gap (02:30 on the last Sunday of
// March) does not exist; the first instant after it is the transition itself.
func wallClock(d Date, c Clock, loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, int(c)/60, int(c)%60, 0, 0, loc)
	if c >= 24*60 || (t.Hour() == int(c)/60 && t.Minute() == int(c)%60) {
		return t
	}
	// time.Date normalised a non-existent wall time by one of the offsets
	// around the gap; the transition is where t's zone starts or ends.
	start, end := t.ZoneBounds()
	edge := start
	if td := DateOf(t); td.Before(d) || (td == d && t.Hour()*60+t.Minute() < int(c)) {
		edge = end
	}
	if edge.IsZero() || DateOf(edge.In(loc)) != d {
		return t
	}
	return edge.In(loc)
}
