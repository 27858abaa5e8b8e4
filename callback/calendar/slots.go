package calendar

import (
	"slices"
	"time"
)

// SlotLength is the length of a callback slot in wall-clock time.
const SlotLength = 15 * time.Minute

// slotMinutes is SlotLength as a Clock difference.
const slotMinutes Clock = Clock(SlotLength / time.Minute)

// SlotSearchDays is how far NextSlots looks: the date of its start time and
// the SlotSearchDays dates after it.
const SlotSearchDays = 60

// Slot is a callback slot: Start (inclusive) to End (exclusive), in the
// calendar's location.
//
// A working day is divided into slots of SlotLength wall-clock time from the
// opening time on: with the default hours 08:30–17:00 that is 08:30–08:45 up
// to 16:45–17:00, 34 slots, also on the days daylight saving time starts or
// ends. A slot never starts before the opening and never ends after the
// closing: when the hours are not a whole number of slots, the rest before
// closing (16:45–16:50 of a day closing at 16:50) is open but belongs to no
// slot.
//
// Slot boundaries are the instants at which the wall clock reads the opening
// time plus a whole number of slots. When the hours span a zone transition
// (a round-the-clock or night line) this keeps every slot of Europe/Amsterdam
// SlotLength of real time long: the spring day has 4 slots fewer, the autumn
// day 4 more, the repeated hour's slots once in each offset.
type Slot struct{ Start, End time.Time }

// Contains reports whether t lies in s: Start <= t < End.
func (s Slot) Contains(t time.Time) bool { return !t.Before(s.Start) && t.Before(s.End) }

// Slots returns the slots of day d in order; nil when d is not a working day.
func (c *Calendar) Slots(d Date) []Slot {
	open, close, ok := c.OpeningTimes(d)
	if !ok {
		return nil
	}
	if c.uniform(open, close) {
		n := int(close.Sub(open) / SlotLength)
		out := make([]Slot, n)
		for k := range out {
			s := open.Add(time.Duration(k) * SlotLength)
			out[k] = Slot{Start: s, End: s.Add(SlotLength)}
		}
		return out
	}
	return c.transitionSlots(nil, d, open, close)
}

// SlotAt returns the slot that contains t; ok is false when the centre is
// closed at t or t falls in the rest of a day after its last whole slot.
func (c *Calendar) SlotAt(t time.Time) (Slot, bool) {
	d := DateOf(t.In(c.loc))
	open, close, ok := c.OpeningTimes(d)
	if !ok || t.Before(open) || !t.Before(close) {
		return Slot{}, false
	}
	if c.uniform(open, close) {
		s := open.Add(t.Sub(open) / SlotLength * SlotLength)
		e := s.Add(SlotLength)
		if e.After(close) {
			return Slot{}, false
		}
		return Slot{Start: s, End: e}, true
	}
	for _, s := range c.transitionSlots(nil, d, open, close) {
		if s.Contains(t) {
			return s, true
		}
	}
	return Slot{}, false
}

// NextSlots returns the first n slots that start at or after `after` and
// whose booked count is below capacity, in order. A slot that has already
// begun at `after` is not offered: 10:07 gives 10:15 first. booked reports
// how many callbacks a slot already holds (nil means none); capacity <= 0
// means unlimited, and booked is then not called. It looks at the date of
// `after` and the SlotSearchDays dates after it, so it returns fewer than n
// slots only when those are full or closed.
func (c *Calendar) NextSlots(after time.Time, n, capacity int, booked func(Slot) int) []Slot {
	if n <= 0 {
		return nil
	}
	full := func(s Slot) bool { return capacity > 0 && booked != nil && booked(s) >= capacity }
	out := make([]Slot, 0, min(n, 64))
	var buf []Slot
	d := DateOf(after.In(c.loc))
	for range SlotSearchDays + 1 {
		open, close, ok := c.OpeningTimes(d)
		if ok && after.Before(close) {
			if c.uniform(open, close) {
				k := time.Duration(0)
				if after.After(open) {
					k = (after.Sub(open) + SlotLength - 1) / SlotLength
				}
				for ; ; k++ {
					s := open.Add(k * SlotLength)
					e := s.Add(SlotLength)
					if e.After(close) {
						break
					}
					if sl := (Slot{Start: s, End: e}); !full(sl) {
						if out = append(out, sl); len(out) == n {
							return out
						}
					}
				}
			} else {
				buf = c.transitionSlots(buf[:0], d, open, close)
				for _, sl := range buf {
					if sl.Start.Before(after) || full(sl) {
						continue
					}
					if out = append(out, sl); len(out) == n {
						return out
					}
				}
			}
		}
		d = d.AddDays(1)
	}
	return out
}

// Contains reports whether [start, end) is a non-empty interval inside the
// opening hours of one working day, for validating a callback window an
// agent reschedules. The window need not be a slot.
func (c *Calendar) Contains(start, end time.Time) bool {
	if !start.Before(end) {
		return false
	}
	open, close, ok := c.OpeningTimes(DateOf(start.In(c.loc)))
	return ok && !start.Before(open) && !end.After(close)
}

// uniform reports whether the day's slots are simply every SlotLength from
// the opening instant: the opening is the configured wall-clock time (not
// moved by a spring-forward gap) and no zone transition falls inside the
// hours. That holds on every day of an office-hours line, DST days included.
func (c *Calendar) uniform(open, close time.Time) bool {
	if h, m, s := open.Clock(); Clock(h*60+m) != c.open || s != 0 || open.Nanosecond() != 0 {
		return false
	}
	_, end := open.ZoneBounds()
	return end.IsZero() || !end.Before(close)
}

// boundary is an instant at which the wall clock reads mark.
type boundary struct {
	at   time.Time
	mark Clock
}

// transitionSlots appends the slots of working day d, whose hours
// [open, close] span a zone transition, to dst. Every instant in the hours at
// which the wall clock reads a slot boundary (opening time + k slots) is a
// boundary; consecutive boundaries form a slot when the first one's wall time
// leaves room for a whole slot before closing. The opening instant is a
// boundary even when the opening time falls in a spring-forward gap, and the
// closing instant when the hours are a whole number of slots.
func (c *Calendar) transitionSlots(dst []Slot, d Date, open, close time.Time) []Slot {
	last := c.open + (c.close-c.open)/slotMinutes*slotMinutes
	bs := make([]boundary, 1, 2*int((c.close-c.open)/slotMinutes)+2)
	bs[0] = boundary{open, c.open}
	var buf [3]time.Time
	for m := c.open; m <= last && m < 24*60; m += slotMinutes {
		for _, t := range wallInstants(buf[:0], d, m, c.loc) {
			if !t.Before(open) && !t.After(close) {
				bs = append(bs, boundary{t, m})
			}
		}
	}
	if last == c.close {
		bs = append(bs, boundary{close, c.close})
	}
	slices.SortFunc(bs, func(a, b boundary) int {
		if r := a.at.Compare(b.at); r != 0 {
			return r
		}
		return int(a.mark - b.mark)
	})
	// One instant with two marks (the opening inside a gap is also the
	// first boundary after it): the later mark is the wall time it shows.
	j := 0
	for _, b := range bs {
		if j > 0 && bs[j-1].at.Equal(b.at) {
			bs[j-1] = b
			continue
		}
		bs[j] = b
		j++
	}
	bs = bs[:j]
	for i := 0; i+1 < len(bs); i++ {
		if bs[i].mark+slotMinutes <= c.close {
			dst = append(dst, Slot{Start: bs[i].at, End: bs[i+1].at})
		}
	}
	return dst
}

// wallInstants appends to dst, in order, the instants on date d at which the
// wall clock in loc reads exactly c: none in a spring-forward gap, two in an
// autumn repeated hour, else one. time.Date picks just one of two, so the
// offsets of the zones on either side of its answer are tried as well.
func wallInstants(dst []time.Time, d Date, c Clock, loc *time.Location) []time.Time {
	hh, mm := int(c)/60, int(c)%60
	t := time.Date(d.Year, d.Month, d.Day, hh, mm, 0, 0, loc)
	naive := time.Date(d.Year, d.Month, d.Day, hh, mm, 0, 0, time.UTC)
	_, off := t.Zone()
	offs := [3]int{off, off, off}
	start, end := t.ZoneBounds()
	if !start.IsZero() {
		_, offs[1] = start.Add(-time.Nanosecond).Zone()
	}
	if !end.IsZero() {
		_, offs[2] = end.Zone()
	}
	out := dst
	for _, o := range offs {
		u := naive.Add(-time.Duration(o) * time.Second).In(loc)
		if DateOf(u) != d || u.Hour() != hh || u.Minute() != mm || u.Second() != 0 {
			continue
		}
		if !slices.ContainsFunc(out[len(dst):], u.Equal) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out[len(dst):], time.Time.Compare)
	return out
}
