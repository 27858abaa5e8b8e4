package calendar

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func slot(start time.Time) Slot { return Slot{Start: start, End: start.Add(SlotLength)} }

func fmtSlots(ss []Slot) string {
	out := "["
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += s.Start.In(ams).Format("Mon 2006-01-02 15:04 -07:00") + "–" + s.End.In(ams).Format("15:04 -07:00")
	}
	return out + "]"
}

func equalSlots(a, b []Slot) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Start.Equal(b[i].Start) || !a[i].End.Equal(b[i].End) {
			return false
		}
	}
	return true
}

func TestNextSlots(t *testing.T) {
	def := mustNew(t, Config{})
	extra := mustNew(t, Config{ExtraClosed: []Date{{2026, time.December, 24}}})
	tests := []struct {
		name  string
		cal   *Calendar
		after time.Time
		n     int
		want  []Slot
	}{
		{"Friday 16:55 before Whit Monday to Tuesday 08:30", def, at(2026, time.May, 22, 16, 55, 0), 1,
			[]Slot{slot(at(2026, time.May, 26, 8, 30, 0))}},
		{"Friday 16:45 before Whit Monday still gets the last slot", def, at(2026, time.May, 22, 16, 45, 0), 2,
			[]Slot{slot(at(2026, time.May, 22, 16, 45, 0)), slot(at(2026, time.May, 26, 8, 30, 0))}},
		{"during a slot: the next boundary", def, at(2026, time.June, 2, 10, 7, 0), 1,
			[]Slot{slot(at(2026, time.June, 2, 10, 15, 0))}},
		{"on a boundary: that slot", def, at(2026, time.June, 2, 10, 15, 0), 1,
			[]Slot{slot(at(2026, time.June, 2, 10, 15, 0))}},
		{"a nanosecond after a boundary: the next one", def, at(2026, time.June, 2, 10, 15, 0).Add(time.Nanosecond), 1,
			[]Slot{slot(at(2026, time.June, 2, 10, 30, 0))}},
		{"before opening", def, at(2026, time.June, 2, 6, 0, 0), 1,
			[]Slot{slot(at(2026, time.June, 2, 8, 30, 0))}},
		{"instant given in UTC", def, time.Date(2026, time.June, 2, 8, 1, 0, 0, time.UTC), 1,
			[]Slot{slot(at(2026, time.June, 2, 10, 15, 0))}},
		{"n=2 spanning the close of a day", def, at(2026, time.June, 2, 16, 40, 0), 2,
			[]Slot{slot(at(2026, time.June, 2, 16, 45, 0)), slot(at(2026, time.June, 3, 8, 30, 0))}},
		{"King's Day skipped", def, at(2026, time.April, 24, 17, 0, 0), 1,
			[]Slot{slot(at(2026, time.April, 28, 8, 30, 0))}},
		{"King's Day morning itself", def, at(2026, time.April, 27, 7, 0, 0), 1,
			[]Slot{slot(at(2026, time.April, 28, 8, 30, 0))}},
		{"Christmas and Boxing Day skipped", def, at(2025, time.December, 24, 16, 50, 0), 1,
			[]Slot{slot(at(2025, time.December, 29, 8, 30, 0))}},
		{"extra closed day skipped", extra, at(2026, time.December, 23, 16, 50, 0), 1,
			[]Slot{slot(at(2026, time.December, 28, 8, 30, 0))}},
		{"24 December open without the extra day", def, at(2026, time.December, 23, 16, 50, 0), 1,
			[]Slot{slot(at(2026, time.December, 24, 8, 30, 0))}},
		{"Friday before DST starts to Monday on CEST", def, at(2026, time.March, 27, 16, 46, 0), 1,
			[]Slot{{time.Date(2026, 3, 30, 6, 30, 0, 0, time.UTC), time.Date(2026, 3, 30, 6, 45, 0, 0, time.UTC)}}},
		{"Friday before DST ends to Monday on CET", def, at(2026, time.October, 23, 16, 46, 0), 1,
			[]Slot{{time.Date(2026, 10, 26, 7, 30, 0, 0, time.UTC), time.Date(2026, 10, 26, 7, 45, 0, 0, time.UTC)}}},
		{"n=0", def, at(2026, time.June, 2, 10, 0, 0), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cal.NextSlots(tt.after, tt.n, 0, nil)
			if !equalSlots(got, tt.want) {
				t.Errorf("NextSlots(%v, %d) =\n%s\nwant\n%s", tt.after, tt.n, fmtSlots(got), fmtSlots(tt.want))
			}
			for _, s := range got {
				if s.Start.Location() != tt.cal.Location() || s.End.Location() != tt.cal.Location() {
					t.Errorf("slot %s not in the calendar's location", fmtSlots([]Slot{s}))
				}
			}
		})
	}
}

func TestNextSlotsCapacity(t *testing.T) {
	def := mustNew(t, Config{})
	tue := func(hh, mm int) time.Time { return at(2026, time.June, 2, hh, mm, 0) }
	bookings := map[int64]int{tue(8, 30).Unix(): 2, tue(8, 45).Unix(): 3, tue(9, 0).Unix(): 1}
	booked := func(s Slot) int { return bookings[s.Start.Unix()] }

	got := def.NextSlots(tue(8, 0), 2, 2, booked)
	if want := []Slot{slot(tue(9, 0)), slot(tue(9, 15))}; !equalSlots(got, want) {
		t.Errorf("capacity 2: %s, want %s", fmtSlots(got), fmtSlots(want))
	}
	got = def.NextSlots(tue(8, 0), 2, 4, booked)
	if want := []Slot{slot(tue(8, 30)), slot(tue(8, 45))}; !equalSlots(got, want) {
		t.Errorf("capacity 4: %s, want %s", fmtSlots(got), fmtSlots(want))
	}
	got = def.NextSlots(tue(8, 0), 2, 2, nil)
	if want := []Slot{slot(tue(8, 30)), slot(tue(8, 45))}; !equalSlots(got, want) {
		t.Errorf("booked nil: %s, want %s", fmtSlots(got), fmtSlots(want))
	}
	for _, capacity := range []int{0, -1} {
		got = def.NextSlots(tue(8, 0), 2, capacity, func(Slot) int { t.Fatal("booked called with unlimited capacity"); return 0 })
		if want := []Slot{slot(tue(8, 30)), slot(tue(8, 45))}; !equalSlots(got, want) {
			t.Errorf("capacity %d: %s, want %s", capacity, fmtSlots(got), fmtSlots(want))
		}
	}

	// A day fully booked moves on to the next working day; with Whit Monday
	// in between, from Friday to Tuesday.
	fullFriday := func(s Slot) int {
		if DateOf(s.Start) == (Date{2026, time.May, 22}) {
			return 1
		}
		return 0
	}
	got = def.NextSlots(at(2026, time.May, 22, 8, 0, 0), 1, 1, fullFriday)
	if want := []Slot{slot(at(2026, time.May, 26, 8, 30, 0))}; !equalSlots(got, want) {
		t.Errorf("full Friday: %s, want %s", fmtSlots(got), fmtSlots(want))
	}

	// The search window is the date of `after` and 60 dates after it: from
	// Monday 1 June 2026 that ends with Friday 31 July.
	fullBefore := func(d Date) func(Slot) int {
		return func(s Slot) int {
			if DateOf(s.Start).Before(d) {
				return 1
			}
			return 0
		}
	}
	from := at(2026, time.June, 1, 0, 0, 0)
	got = def.NextSlots(from, 1, 1, fullBefore(Date{2026, time.July, 31}))
	if want := []Slot{slot(at(2026, time.July, 31, 8, 30, 0))}; !equalSlots(got, want) {
		t.Errorf("last day of the window: %s, want %s", fmtSlots(got), fmtSlots(want))
	}
	if got = def.NextSlots(from, 1, 1, fullBefore(Date{2026, time.August, 1})); len(got) != 0 {
		t.Errorf("everything full for 60 days: %s, want none", fmtSlots(got))
	}
	// Fewer than n when the window runs out.
	got = def.NextSlots(from, 3, 1, fullBefore(Date{2026, time.July, 31}))
	if len(got) != 3 {
		t.Errorf("3 slots on the last day: got %d", len(got))
	}
	lastOne := func(s Slot) int {
		if s.Start.Before(at(2026, time.July, 31, 16, 45, 0)) {
			return 1
		}
		return 0
	}
	if got = def.NextSlots(from, 3, 1, lastOne); len(got) != 1 {
		t.Errorf("1 slot left on the last day: %s", fmtSlots(got))
	}
}

func TestSlotsDaylightSavingTime(t *testing.T) {
	week := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(8, 30), Close: ClockOf(17, 0)}})
	def := mustNew(t, Config{})
	for _, tc := range []struct {
		cal     *Calendar
		day     Date
		offset  time.Duration // UTC offset of the day's hours
		comment string
	}{
		{week, Date{2026, time.March, 29}, 2 * time.Hour, "DST starts"},
		{week, Date{2026, time.October, 25}, time.Hour, "DST ends"},
		{def, Date{2026, time.March, 27}, time.Hour, "Friday before DST starts"},
		{def, Date{2026, time.March, 30}, 2 * time.Hour, "Monday after DST starts"},
		{def, Date{2026, time.October, 23}, 2 * time.Hour, "Friday before DST ends"},
		{def, Date{2026, time.October, 26}, time.Hour, "Monday after DST ends"},
	} {
		t.Run(tc.day.String(), func(t *testing.T) {
			ss := tc.cal.Slots(tc.day)
			if len(ss) != 34 {
				t.Fatalf("%s: %d slots, want 34", tc.comment, len(ss))
			}
			first := time.Date(tc.day.Year, tc.day.Month, tc.day.Day, 8, 30, 0, 0, time.UTC).Add(-tc.offset)
			for i, s := range ss {
				want := slot(first.Add(time.Duration(i) * SlotLength))
				if !s.Start.Equal(want.Start) || !s.End.Equal(want.End) {
					t.Errorf("slot %d = %s, want %v–%v UTC", i, fmtSlots([]Slot{s}), want.Start.UTC(), want.End.UTC())
				}
				if _, off := s.Start.Zone(); time.Duration(off)*time.Second != tc.offset {
					t.Errorf("slot %d offset %ds, want %v", i, off, tc.offset)
				}
			}
			if h, m, _ := ss[0].Start.Clock(); h != 8 || m != 30 {
				t.Errorf("first slot at %02d:%02d local", h, m)
			}
			if h, m, _ := ss[33].End.Clock(); h != 17 || m != 0 {
				t.Errorf("last slot ends at %02d:%02d local", h, m)
			}
			// NextSlots from local midnight returns the same 34.
			got := tc.cal.NextSlots(tc.day.In(ams), 34, 0, nil)
			if !equalSlots(got, ss) {
				t.Errorf("NextSlots from midnight = %s", fmtSlots(got))
			}
		})
	}

	// The weekend itself is closed for the office line: Saturday evening
	// before DST starts to Monday 08:30 CEST.
	got := def.NextSlots(at(2026, time.March, 28, 20, 0, 0), 1, 0, nil)
	if want := time.Date(2026, 3, 30, 6, 30, 0, 0, time.UTC); len(got) != 1 || !got[0].Start.Equal(want) {
		t.Errorf("over the DST weekend: %s, want %v", fmtSlots(got), want)
	}
}

// checkContiguous checks that ss are back-to-back slots of SlotLength real
// time from first to last, starting on a quarter hour of the wall clock.
func checkContiguous(t *testing.T, ss []Slot, first, last time.Time) {
	t.Helper()
	if len(ss) == 0 || !ss[0].Start.Equal(first) || !ss[len(ss)-1].End.Equal(last) {
		t.Fatalf("slots %s, want from %v to %v", fmtSlots(ss), first, last)
	}
	for i, s := range ss {
		if s.End.Sub(s.Start) != SlotLength {
			t.Errorf("slot %d %s lasts %v", i, fmtSlots([]Slot{s}), s.End.Sub(s.Start))
		}
		if i > 0 && !ss[i-1].End.Equal(s.Start) {
			t.Errorf("gap or overlap before slot %d", i)
		}
		if _, m, sec := s.Start.Clock(); m%15 != 0 || sec != 0 {
			t.Errorf("slot %d starts at %v", i, s.Start)
		}
	}
}

func TestSlotsAcrossZoneTransitions(t *testing.T) {
	clock := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: 0, Close: ClockOf(24, 0)}, IgnorePublicHolidays: true})
	for day, want := range map[Date]int{
		{2026, time.March, 29}:   92,
		{2026, time.October, 25}: 100,
		{2026, time.June, 1}:     96,
	} {
		ss := clock.Slots(day)
		if len(ss) != want {
			t.Errorf("round the clock on %s: %d slots, want %d", day, len(ss), want)
		}
		checkContiguous(t, ss, day.In(ams), day.AddDays(1).In(ams))
	}

	// The repeated hour on 25 October: 02:00–02:45 once in CEST, once in CET.
	oct := clock.Slots(Date{2026, time.October, 25})
	var repeated []string
	for _, s := range oct {
		if h := s.Start.Hour(); h == 2 {
			repeated = append(repeated, s.Start.Format("15:04 -07:00"))
		}
	}
	if got := fmt.Sprint(repeated); got != "[02:00 +02:00 02:15 +02:00 02:30 +02:00 02:45 +02:00 02:00 +01:00 02:15 +01:00 02:30 +01:00 02:45 +01:00]" {
		t.Errorf("repeated hour slots = %s", got)
	}
	for _, tc := range []struct{ t, start time.Time }{
		{time.Date(2026, 10, 25, 0, 20, 0, 0, time.UTC), time.Date(2026, 10, 25, 0, 15, 0, 0, time.UTC)}, // 02:20 CEST
		{time.Date(2026, 10, 25, 1, 20, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 15, 0, 0, time.UTC)}, // 02:20 CET
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},     // 03:00 CEST
		{time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), time.Date(2026, 3, 29, 0, 45, 0, 0, time.UTC)},   // 01:59 CET
	} {
		s, ok := clock.SlotAt(tc.t)
		if !ok || !s.Start.Equal(tc.start) || s.End.Sub(s.Start) != SlotLength {
			t.Errorf("SlotAt(%v) = %s, %v; want start %v", tc.t, fmtSlots([]Slot{s}), ok, tc.start.UTC())
		}
	}
	// 01:50 CET on the spring day: the next boundary is 03:00 CEST.
	got := clock.NextSlots(time.Date(2026, 3, 29, 0, 50, 0, 0, time.UTC), 2, 0, nil)
	if want := []Slot{
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 15, 0, 0, time.UTC)},
		{time.Date(2026, 3, 29, 1, 15, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
	}; !equalSlots(got, want) {
		t.Errorf("NextSlots across the gap = %s", fmtSlots(got))
	}

	// Night lines whose hours span the transition.
	spring := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(2, 30), Close: ClockOf(5, 0)}})
	ss := spring.Slots(Date{2026, time.March, 29})
	checkContiguous(t, ss, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 3, 0, 0, 0, time.UTC))
	if len(ss) != 8 {
		t.Errorf("02:30–05:00 on the spring day: %d slots, want 8 (03:00–05:00 CEST)", len(ss))
	}
	autumn := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(1, 30), Close: ClockOf(3, 30)}})
	ss = autumn.Slots(Date{2026, time.October, 25})
	checkContiguous(t, ss, time.Date(2026, 10, 24, 23, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC))
	if len(ss) != 12 {
		t.Errorf("01:30–03:30 on the autumn day: %d slots, want 12", len(ss))
	}
}

func TestSlotAt(t *testing.T) {
	def := mustNew(t, Config{})
	short := mustNew(t, Config{Hours: Hours{Weekdays: DefaultHours().Weekdays, Open: ClockOf(8, 30), Close: ClockOf(16, 50)}})
	tue := func(hh, mm, ss int) time.Time { return at(2026, time.June, 2, hh, mm, ss) }
	tests := []struct {
		name  string
		cal   *Calendar
		t     time.Time
		start time.Time // zero: no slot
	}{
		{"opening", def, tue(8, 30, 0), tue(8, 30, 0)},
		{"inside", def, tue(10, 7, 0), tue(10, 0, 0)},
		{"last nanosecond of a slot", def, tue(10, 15, 0).Add(-time.Nanosecond), tue(10, 0, 0)},
		{"last slot", def, tue(16, 59, 59), tue(16, 45, 0)},
		{"closing", def, tue(17, 0, 0), time.Time{}},
		{"before opening", def, tue(8, 29, 59), time.Time{}},
		{"UTC input", def, time.Date(2026, 6, 2, 8, 20, 0, 0, time.UTC), tue(10, 15, 0)},
		{"King's Day", def, at(2026, time.April, 27, 10, 0, 0), time.Time{}},
		{"Christmas", def, at(2025, time.December, 25, 10, 0, 0), time.Time{}},
		{"Saturday", def, at(2026, time.June, 6, 10, 0, 0), time.Time{}},
		{"unaligned close: last whole slot", short, tue(16, 44, 0), tue(16, 30, 0)},
		{"unaligned close: the open rest", short, tue(16, 47, 0), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := tt.cal.SlotAt(tt.t)
			if ok != !tt.start.IsZero() || (ok && (!s.Start.Equal(tt.start) || !s.End.Equal(tt.start.Add(SlotLength)))) {
				t.Errorf("SlotAt(%v) = %s, %v; want start %v", tt.t, fmtSlots([]Slot{s}), ok, tt.start)
			}
		})
	}
	if n := len(short.Slots(Date{2026, time.June, 2})); n != 33 {
		t.Errorf("08:30–16:50: %d slots, want 33", n)
	}
	if !short.IsOpen(tue(16, 47, 0)) {
		t.Errorf("08:30–16:50 closed at 16:47")
	}
	got := short.NextSlots(tue(16, 31, 0), 1, 0, nil)
	if want := []Slot{slot(at(2026, time.June, 3, 8, 30, 0))}; !equalSlots(got, want) {
		t.Errorf("08:30–16:50 from 16:31: %s, want %s", fmtSlots(got), fmtSlots(want))
	}
	if s := def.Slots(Date{2026, time.April, 27}); s != nil {
		t.Errorf("Slots on King's Day = %s", fmtSlots(s))
	}
}

func TestContains(t *testing.T) {
	def := mustNew(t, Config{})
	week := mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(8, 30), Close: ClockOf(17, 0)}})
	tue := func(hh, mm int) time.Time { return at(2026, time.June, 2, hh, mm, 0) }
	tests := []struct {
		name       string
		cal        *Calendar
		start, end time.Time
		want       bool
	}{
		{"one slot", def, tue(10, 0), tue(10, 15), true},
		{"not on slot boundaries", def, tue(10, 7), tue(11, 53), true},
		{"whole day", def, tue(8, 30), tue(17, 0), true},
		{"ending at closing", def, tue(16, 50), tue(17, 0), true},
		{"past closing", def, tue(16, 50), tue(17, 5), false},
		{"before opening", def, tue(8, 15), tue(8, 45), false},
		{"over two days", def, tue(16, 0), at(2026, time.June, 3, 9, 0, 0), false},
		{"empty", def, tue(10, 0), tue(10, 0), false},
		{"reversed", def, tue(10, 15), tue(10, 0), false},
		{"Saturday", def, at(2026, time.June, 6, 10, 0, 0), at(2026, time.June, 6, 10, 15, 0), false},
		{"King's Day", def, at(2026, time.April, 27, 10, 0, 0), at(2026, time.April, 27, 10, 15, 0), false},
		{"Whit Monday", def, at(2026, time.May, 25, 10, 0, 0), at(2026, time.May, 25, 10, 15, 0), false},
		{"Boxing Day", def, at(2025, time.December, 26, 10, 0, 0), at(2025, time.December, 26, 10, 15, 0), false},
		{"UTC input inside", def, time.Date(2026, 6, 2, 6, 30, 0, 0, time.UTC), time.Date(2026, 6, 2, 15, 0, 0, 0, time.UTC), true},
		{"UTC input an hour off", def, time.Date(2026, 6, 2, 7, 30, 0, 0, time.UTC), time.Date(2026, 6, 2, 16, 0, 0, 0, time.UTC), false},
		{"DST starts, local hours", week, at(2026, time.March, 29, 8, 30, 0), at(2026, time.March, 29, 17, 0, 0), true},
		{"DST ends, local hours", week, at(2026, time.October, 25, 8, 30, 0), at(2026, time.October, 25, 17, 0, 0), true},
		{"DST ends, CEST hours", week, time.Date(2026, 10, 25, 6, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 7, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.Contains(tt.start, tt.end); got != tt.want {
				t.Errorf("Contains(%v, %v) = %v, want %v", tt.start, tt.end, got, tt.want)
			}
		})
	}
}

// TestSlotsInvariants checks the fast path against the general construction
// on every day of two years, and NextSlots, SlotAt and Contains against each
// other from random instants.
func TestSlotsInvariants(t *testing.T) {
	cals := map[string]*Calendar{
		"office": mustNew(t, Config{ExtraClosed: []Date{{2026, time.December, 24}}}),
		"week":   mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(7, 0), Close: ClockOf(22, 0)}}),
		"clock":  mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: 0, Close: ClockOf(24, 0)}, IgnorePublicHolidays: true}),
		"night":  mustNew(t, Config{Hours: Hours{Weekdays: allWeek, Open: ClockOf(1, 15), Close: ClockOf(3, 50)}}),
		"odd":    mustNew(t, Config{Hours: Hours{Weekdays: DefaultHours().Weekdays, Open: ClockOf(8, 20), Close: ClockOf(16, 50)}}),
	}
	for name, c := range cals {
		t.Run(name, func(t *testing.T) {
			for d := (Date{2026, time.January, 1}); d.Before(Date{2028, time.January, 1}); d = d.AddDays(1) {
				open, close, ok := c.OpeningTimes(d)
				if !ok {
					continue
				}
				if got, want := c.Slots(d), c.transitionSlots(nil, d, open, close); !equalSlots(got, want) {
					t.Fatalf("%s: Slots = %s, general = %s", d, fmtSlots(got), fmtSlots(want))
				}
			}
			rng := rand.New(rand.NewPCG(4, 2))
			base := at(2026, time.January, 1, 0, 0, 0)
			for range 3000 {
				after := base.Add(time.Duration(rng.Int64N(int64(2 * 365 * 24 * time.Hour))))
				ss := c.NextSlots(after, 3, 0, nil)
				if len(ss) != 3 {
					t.Fatalf("NextSlots(%v) = %s", after, fmtSlots(ss))
				}
				for i, s := range ss {
					if s.Start.Before(after) || (i > 0 && s.Start.Before(ss[i-1].End)) {
						t.Fatalf("NextSlots(%v) = %s: out of order", after, fmtSlots(ss))
					}
					if !c.Contains(s.Start, s.End) || !c.IsOpen(s.Start) || !c.IsOpen(s.End.Add(-time.Nanosecond)) {
						t.Fatalf("slot %s not inside opening hours", fmtSlots([]Slot{s}))
					}
					for _, u := range []time.Time{s.Start, s.End.Add(-time.Nanosecond)} {
						if got, ok := c.SlotAt(u); !ok || !equalSlots([]Slot{got}, []Slot{s}) {
							t.Fatalf("SlotAt(%v) = %s, %v; want %s", u, fmtSlots([]Slot{got}), ok, fmtSlots([]Slot{s}))
						}
					}
				}
				// No slot was passed over.
				for d := DateOf(after.In(ams)); !DateOf(ss[0].Start).Before(d); d = d.AddDays(1) {
					for _, s := range c.Slots(d) {
						if !s.Start.Before(after) && s.Start.Before(ss[0].Start) {
							t.Fatalf("NextSlots(%v) skipped %s", after, fmtSlots([]Slot{s}))
						}
					}
				}
			}
		})
	}
}

func TestSlotsConcurrentUse(t *testing.T) {
	c := mustNew(t, Config{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			from := at(2026, time.May, 22, 16, 55, 0).Add(time.Duration(i) * time.Hour)
			for range 200 {
				c.NextSlots(from, 2, 1, func(Slot) int { return 0 })
				c.SlotAt(from)
			}
		})
	}
	wg.Wait()
}

// BenchmarkNextSlots measures the callback offer's lookup: the first slots
// after an instant, with per-slot bookings from a map.
func BenchmarkNextSlots(b *testing.B) {
	def, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	clock, err := New(Config{Hours: Hours{Weekdays: allWeek, Open: 0, Close: ClockOf(24, 0)}, IgnorePublicHolidays: true})
	if err != nil {
		b.Fatal(err)
	}
	// Every other slot of June 2026 holds 3 callbacks, the rest 1.
	bookings := make(map[int64]int)
	for d := (Date{2026, time.June, 1}); d.Before(Date{2026, time.July, 1}); d = d.AddDays(1) {
		for i, s := range def.Slots(d) {
			bookings[s.Start.Unix()] = 1 + 2*(i%2)
		}
	}
	booked := func(s Slot) int { return bookings[s.Start.Unix()] }
	for _, bc := range []struct {
		name     string
		cal      *Calendar
		after    time.Time
		n, limit int
		booked   func(Slot) int
	}{
		{"n=2/open", def, at(2026, time.June, 2, 10, 7, 0), 2, 0, nil},
		{"n=2/Whit-weekend", def, at(2026, time.May, 22, 16, 55, 0), 2, 0, nil},
		{"n=2/capacity=3/half-full", def, at(2026, time.June, 2, 10, 7, 0), 2, 3, booked},
		{"n=100/capacity=3/half-full", def, at(2026, time.June, 2, 10, 7, 0), 100, 3, booked},
		{"n=2/DST-transition-day", clock, at(2026, time.October, 25, 1, 50, 0), 2, 0, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			slots := 0
			for b.Loop() {
				slots += len(bc.cal.NextSlots(bc.after, bc.n, bc.limit, bc.booked))
			}
			if slots == 0 {
				b.Fatal("no slots")
			}
			b.ReportMetric(float64(slots)/b.Elapsed().Seconds(), "slots/s")
		})
	}
}
