// Package calendar owns callmon's answer to "is the contact centre open?":
// opening hours as local wall-clock times on working days, the Dutch public
// holidays of github.com/rickar/cal/v2/nl, Good Friday and Liberation Day
// (closed or not, per collective agreement) and extra closed days from the
// configuration (DESIGN §3 "Closed").
//
// It knows no telephony and no database: call flows ask it whether a call is
// offered or closed, and callback scheduling asks it when the next opening is
// and which 15-minute callback slots are free (slots.go). How many callbacks
// a slot holds is the caller's to say: the calendar knows no tasks.
package calendar

import (
	"errors"
	"fmt"
	"time"

	// Opening hours must not depend on the host having a zoneinfo database
	// (minimal containers often lack one); the embedded copy costs ~450 kB.
	_ "time/tzdata"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/nl"
)

// DefaultTimezone is the time zone of opening hours when none is configured.
const DefaultTimezone = "Europe/Amsterdam"

// ExtraClosedName is the name Holiday reports for an extra closed day from
// the configuration.
const ExtraClosedName = "extra closed day"

// Hours are the opening hours of a working day: from Open (inclusive) to
// Close (exclusive), wall-clock time in the calendar's location.
type Hours struct {
	Weekdays []time.Weekday
	Open     Clock
	Close    Clock
}

// DefaultHours returns the opening hours of the service charter: Monday to
// Friday, 08:30–17:00.
func DefaultHours() Hours {
	return Hours{
		Weekdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Open:     ClockOf(8, 30),
		Close:    ClockOf(17, 0),
	}
}

// Config configures a Calendar. The zero Config is the service charter:
// Europe/Amsterdam, Monday to Friday 08:30–17:00, closed on the Dutch public
// holidays except Good Friday and Liberation Day.
type Config struct {
	// Location of the opening hours; nil means Europe/Amsterdam.
	Location *time.Location
	// Hours; the zero value means DefaultHours.
	Hours Hours
	// Whether Good Friday and Liberation Day (5 May) are closed: that
	// differs per collective agreement, so both are open by default.
	ClosedOnGoodFriday    bool
	ClosedOnLiberationDay bool
	// ExtraClosed lists further closed days (for example 24 December).
	ExtraClosed []Date
	// IgnorePublicHolidays keeps the centre open on public holidays: for a
	// round-the-clock line and the demo. Extra closed days still apply.
	IgnorePublicHolidays bool
}

// Calendar answers whether the centre is open at an instant. It is
// immutable after New and safe for concurrent use.
type Calendar struct {
	loc      *time.Location
	weekdays [7]bool
	open     Clock
	close    Clock
	holidays *cal.Calendar // not Cacheable: its cache is an unguarded map
	extra    map[Date]bool
	maxDays  int // how far NextOpen looks before giving up
}

// New validates c and builds a Calendar.
func New(c Config) (*Calendar, error) {
	loc := c.Location
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation(DefaultTimezone); err != nil {
			return nil, fmt.Errorf("calendar: %w", err)
		}
	}
	h := c.Hours
	if h.Weekdays == nil && h.Open == 0 && h.Close == 0 {
		h = DefaultHours()
	}
	var errs []error
	if len(h.Weekdays) == 0 {
		errs = append(errs, errors.New("calendar: no working weekdays"))
	}
	cl := &Calendar{
		loc:      loc,
		open:     h.Open,
		close:    h.Close,
		holidays: &cal.Calendar{},
		extra:    make(map[Date]bool, len(c.ExtraClosed)),
		maxDays:  2*366 + 7*len(c.ExtraClosed),
	}
	for _, wd := range h.Weekdays {
		if wd < time.Sunday || wd > time.Saturday {
			errs = append(errs, fmt.Errorf("calendar: %d is not a weekday", wd))
			continue
		}
		cl.weekdays[wd] = true
	}
	if h.Open < 0 || h.Open >= 24*60 {
		errs = append(errs, fmt.Errorf("calendar: opening time %s is not between 00:00 and 23:59", h.Open))
	}
	if h.Close <= h.Open || h.Close > 24*60 {
		errs = append(errs, fmt.Errorf("calendar: closing time %s is not after opening time %s on the same day", h.Close, h.Open))
	}
	for _, d := range c.ExtraClosed {
		if d.Month < time.January || d.Month > time.December || d.Day < 1 || DateOf(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)) != d {
			errs = append(errs, fmt.Errorf("calendar: extra closed day %s does not exist", d))
			continue
		}
		cl.extra[d] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if !c.IgnorePublicHolidays {
		for _, hol := range nl.Holidays {
			switch {
			case hol == nl.GoedeVrijdag && !c.ClosedOnGoodFriday:
			case hol == nl.BevrijdingsDag && !c.ClosedOnLiberationDay:
			default:
				cl.holidays.AddHoliday(hol)
			}
		}
	}
	return cl, nil
}

// Location returns the time zone of the opening hours.
func (c *Calendar) Location() *time.Location { return c.loc }

// Holiday reports the holiday that closes the centre on the day of t (in the
// calendar's location): a public holiday, or ExtraClosedName for an extra
// closed day. Good Friday and Liberation Day count only when configured as
// closed. A holiday on a weekend is reported too (King's Day on Sunday 27
// April and its Saturday observance on the 26th both report "Koningsdag").
func (c *Calendar) Holiday(t time.Time) (name string, ok bool) {
	return c.holidayOn(DateOf(t.In(c.loc)))
}

func (c *Calendar) holidayOn(d Date) (string, bool) {
	// rickar/cal compares only the year, month and day of the time it is
	// given, so noon UTC on the civil date is exact.
	act, obs, h := c.holidays.IsHoliday(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC))
	if (act || obs) && h != nil {
		return h.Name, true
	}
	if c.extra[d] {
		return ExtraClosedName, true
	}
	return "", false
}

// IsWorkingDay reports whether the day of t (in the calendar's location) is
// one of the working weekdays and not closed for a holiday.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	return c.isWorkingDay(DateOf(t.In(c.loc)))
}

func (c *Calendar) isWorkingDay(d Date) bool {
	if !c.weekdays[d.Weekday()] {
		return false
	}
	_, hol := c.holidayOn(d)
	return !hol
}

// OpeningTimes returns the instants at which the centre opens and closes on
// day d; ok is false when d is not a working day. Opening hours are
// wall-clock times: on the days daylight saving time starts or ends the
// centre still opens at 08:30 local time, so the day is an hour shorter or
// longer only if its hours span the transition.
func (c *Calendar) OpeningTimes(d Date) (open, close time.Time, ok bool) {
	if !c.isWorkingDay(d) {
		return time.Time{}, time.Time{}, false
	}
	return wallClock(d, c.open, c.loc), wallClock(d, c.close, c.loc), true
}

// IsOpen reports whether t lies inside the opening hours of a working day:
// open <= t < close, so 17:00:00 sharp is closed.
func (c *Calendar) IsOpen(t time.Time) bool {
	open, close, ok := c.OpeningTimes(DateOf(t.In(c.loc)))
	return ok && !t.Before(open) && t.Before(close)
}

// NextOpen returns t itself when the centre is open at t, else the next
// instant it opens (in the calendar's location). It returns the zero Time
// only when no working day exists within two years, which a validated
// configuration cannot produce.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	d := DateOf(t.In(c.loc))
	for range c.maxDays {
		if open, close, ok := c.OpeningTimes(d); ok && t.Before(close) {
			if t.Before(open) {
				return open
			}
			return t
		}
		d = d.AddDays(1)
	}
	return time.Time{}
}

// Closure is a day on which the centre is closed for a holiday.
type Closure struct {
	Date Date
	Name string
}

// Closures lists the holidays and extra closed days from (inclusive) to
// (exclusive), in date order, whether or not they fall on a working weekday.
func (c *Calendar) Closures(from, to Date) []Closure {
	var out []Closure
	for d := from; d.Before(to); d = d.AddDays(1) {
		if name, ok := c.holidayOn(d); ok {
			out = append(out, Closure{Date: d, Name: name})
		}
	}
	return out
}
