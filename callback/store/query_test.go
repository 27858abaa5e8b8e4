package store_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"callmon/callback/calendar"
	"callmon/callback/store"
)

var amsterdam = mustLoad("Europe/Amsterdam")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// traffic generates calls on the days from..to (inclusive) in loc, at random
// instants over each whole day (nights give closed calls, the autumn night's
// hour 02:00 happens twice), plus calls exactly on interval and day edges.
func traffic(rng *rand.Rand, from, to calendar.Date, loc *time.Location) []store.CallRecord {
	thresholds := map[string]int64{"general": 30_000, "permits": 20_000}
	var recs []store.CallRecord
	add := func(queue string, entry time.Time) {
		id := fmt.Sprintf("gen-%05d", len(recs))
		th := thresholds[queue]
		r := store.CallRecord{ChannelID: id, Queue: queue, Kind: store.KindQueue, Entry: entry, ThresholdMS: th}
		local := entry.In(loc)
		clock := local.Hour()*60 + local.Minute()
		wd := local.Weekday()
		if wd == time.Saturday || wd == time.Sunday || clock < 8*60+30 || clock >= 17*60 {
			r.Outcome, r.Ended = store.OutcomeClosed, entry.Add(20*time.Second)
			recs = append(recs, r)
			return
		}
		switch p := rng.IntN(100); {
		case p < 70:
			wait := rng.Int64N(90_000)
			if rng.IntN(20) == 0 {
				wait = th // exactly at the threshold: within
			}
			r.Outcome, r.WaitMS, r.Answered = store.OutcomeAnswered, wait, entry.Add(time.Duration(wait)*time.Millisecond)
			r.Ended, r.WithinThreshold, r.Agent = r.Answered.Add(3*time.Minute), wait <= th, "agent"
		case p < 85:
			r.Outcome, r.WaitMS = store.OutcomeAbandoned, 5_001+rng.Int64N(120_000)
		case p < 92:
			r.Outcome, r.WaitMS = store.OutcomeShortAbandoned, rng.Int64N(5_001)
		case p < 96:
			r.Outcome, r.WaitMS = store.OutcomeCallback, 60_000+rng.Int64N(30_000)
		case p < 98:
			r.Outcome, r.WaitMS = store.OutcomeVoicemail, rng.Int64N(60_000)
		default:
			r.Outcome, r.WaitMS = store.OutcomeTransferred, rng.Int64N(60_000)
		}
		if r.Ended.IsZero() {
			r.Ended = entry.Add(time.Duration(r.WaitMS) * time.Millisecond)
		}
		recs = append(recs, r)
	}
	for d := from; !to.Before(d); d = d.AddDays(1) {
		start, end := d.In(loc), d.AddDays(1).In(loc)
		for _, q := range []string{"general", "permits"} {
			n := 20 + rng.IntN(60)
			if q == "permits" && d.Weekday() == time.Wednesday {
				n = 0 // a day without calls for one queue
			}
			for range n {
				ms := rng.Int64N(end.Sub(start).Milliseconds())
				add(q, start.Add(time.Duration(ms)*time.Millisecond))
			}
		}
		// Edges: local midnight, the last millisecond of the day, and an
		// interval's first and last millisecond during opening hours.
		add("general", start)
		add("general", end.Add(-time.Millisecond))
		q := time.Date(d.Year, d.Month, d.Day, 10, 15, 0, 0, loc)
		edgeQueue := "permits"
		if d.Weekday() == time.Wednesday {
			edgeQueue = "general"
		}
		add(edgeQueue, q)
		add(edgeQueue, q.Add(-time.Millisecond))
	}
	return recs
}

type tally struct{ offered, within, short int64 }

// slotOf is the start of the 15-minute interval of t on loc's wall clock.
func slotOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return t.Add(-(time.Duration(l.Minute()%15)*time.Minute + time.Duration(l.Second())*time.Second +
		time.Duration(l.Nanosecond()))).In(loc)
}

func expectCounts(recs []store.CallRecord, from, to time.Time, loc *time.Location) []store.QueueCounts {
	byQueue := map[string]*store.QueueCounts{}
	slots := map[string]map[time.Time]*tally{}
	for _, r := range recs {
		if r.Entry.Before(from) || !r.Entry.Before(to) {
			continue
		}
		q := byQueue[r.Queue]
		if q == nil {
			q = &store.QueueCounts{Queue: r.Queue}
			byQueue[r.Queue], slots[r.Queue] = q, map[time.Time]*tally{}
		}
		switch r.Outcome {
		case store.OutcomeAnswered:
			q.Answered++
		case store.OutcomeAbandoned:
			q.Abandoned++
		case store.OutcomeShortAbandoned:
			q.ShortAbandoned++
		case store.OutcomeCallback:
			q.Callback++
		case store.OutcomeVoicemail:
			q.Voicemail++
		case store.OutcomeTransferred:
			q.Transferred++
		case store.OutcomeClosed:
			q.Closed++
			continue
		}
		q.Offered++
		s := slots[r.Queue][slotOf(r.Entry, loc).UTC()]
		if s == nil {
			s = &tally{}
			slots[r.Queue][slotOf(r.Entry, loc).UTC()] = s
		}
		s.offered++
		if r.WithinThreshold {
			q.AnsweredWithin++
			s.within++
		}
		if r.Outcome == store.OutcomeShortAbandoned {
			s.short++
		}
	}
	var out []store.QueueCounts
	for name, q := range byQueue {
		for start, s := range slots[name] {
			q.Intervals = append(q.Intervals, store.IntervalCounts{Start: start.In(loc),
				Offered: s.offered, AnsweredWithin: s.within, ShortAbandoned: s.short})
		}
		slices.SortFunc(q.Intervals, func(a, b store.IntervalCounts) int { return a.Start.Compare(b.Start) })
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b store.QueueCounts) int { return cmp.Compare(a.Queue, b.Queue) })
	return out
}

// percentileCont is PostgreSQL's percentile_cont, operation for operation.
func percentileCont(sorted []int64, p float64) float64 {
	pos := p * float64(len(sorted)-1)
	lo, hi := math.Floor(pos), math.Ceil(pos)
	first := float64(sorted[int(lo)])
	if hi == lo {
		return first
	}
	second := float64(sorted[int(hi)])
	return first + float64((pos-lo)*(second-first))
}

func expectReport(recs []store.CallRecord, from, to calendar.Date, queue string, loc *time.Location) []store.ReportRow {
	type key struct {
		day   calendar.Date
		total bool
		queue string
	}
	rows := map[key]*store.ReportRow{}
	waits := map[key][]int64{}
	add := func(k key, r store.CallRecord) {
		row := rows[k]
		if row == nil {
			row = &store.ReportRow{Day: k.day, Total: k.total, Queue: k.queue}
			rows[k] = row
		}
		switch r.Outcome {
		case store.OutcomeAnswered:
			row.Answered++
			waits[k] = append(waits[k], r.WaitMS)
		case store.OutcomeAbandoned:
			row.Abandoned++
		case store.OutcomeShortAbandoned:
			row.ShortAbandoned++
		case store.OutcomeCallback:
			row.Callback++
		case store.OutcomeVoicemail:
			row.Voicemail++
		case store.OutcomeTransferred:
			row.Transferred++
		case store.OutcomeClosed:
			row.Closed++
		}
		if r.Outcome != store.OutcomeClosed {
			row.Offered++
		}
		if r.WithinThreshold {
			row.AnsweredWithin++
		}
	}
	for _, r := range recs {
		day := calendar.DateOf(r.Entry.In(loc))
		if day.Before(from) || to.Before(day) || (queue != "" && r.Queue != queue) {
			continue
		}
		add(key{day, false, r.Queue}, r)
		add(key{calendar.Date{}, true, r.Queue}, r)
		if queue == "" {
			add(key{calendar.Date{}, true, ""}, r)
		}
	}
	var out []store.ReportRow
	for k, row := range rows {
		if den := row.Offered - row.ShortAbandoned; den != 0 {
			row.ServiceLevel, row.ServiceLevelOK = float64(row.AnsweredWithin)/float64(den), true
		}
		if w := waits[k]; len(w) > 0 {
			var sum int64
			for _, x := range w {
				sum += x
			}
			slices.Sort(w)
			row.AvgWaitMS, row.P90WaitMS, row.WaitOK = float64(sum)/float64(len(w)), percentileCont(w, 0.9), true
		}
		out = append(out, *row)
	}
	rank := func(r store.ReportRow) int {
		switch {
		case !r.Total:
			return 0
		case r.Queue != "":
			return 1
		}
		return 2
	}
	slices.SortFunc(out, func(a, b store.ReportRow) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		if a.Day != b.Day {
			if a.Day.Before(b.Day) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Queue, b.Queue)
	})
	return out
}

func TestCountsAndReportMatchRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	// A month around the spring-forward night (29 March 2026) and a week
	// around the fall-back night (25 October 2026).
	spring := traffic(rng, calendar.Date{Year: 2026, Month: 3, Day: 15}, calendar.Date{Year: 2026, Month: 4, Day: 14}, amsterdam)
	autumn := traffic(rng, calendar.Date{Year: 2026, Month: 10, Day: 22}, calendar.Date{Year: 2026, Month: 10, Day: 28}, amsterdam)
	for i := range autumn {
		autumn[i].ChannelID = "autumn-" + autumn[i].ChannelID
	}
	// Open calls in both 02:10s of the autumn night, to see two intervals.
	for i, at := range []string{"2026-10-25T02:10:00+02:00", "2026-10-25T02:10:00+01:00"} {
		entry, _ := time.Parse(time.RFC3339, at)
		r := answered(fmt.Sprintf("fallback-%d", i), entry, 1000)
		autumn = append(autumn, r)
	}
	recs := append(spring, autumn...)
	for chunk := range slices.Chunk(recs, 500) {
		if _, err := db.InsertCalls(ctx, chunk); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d call records", len(recs))

	t.Run("counts", func(t *testing.T) {
		for _, p := range []struct{ from, to time.Time }{
			{time.Date(2026, 3, 1, 0, 0, 0, 0, amsterdam), time.Date(2026, 11, 1, 0, 0, 0, 0, amsterdam)},
			{time.Date(2026, 3, 29, 0, 0, 0, 0, amsterdam), time.Date(2026, 3, 30, 0, 0, 0, 0, amsterdam)},
			{time.Date(2026, 10, 25, 0, 0, 0, 0, amsterdam), time.Date(2026, 10, 26, 0, 0, 0, 0, amsterdam)},
			// Edges inside an interval and a day: [from, to) to the millisecond.
			{time.Date(2026, 4, 1, 10, 14, 59, 999e6, amsterdam), time.Date(2026, 4, 2, 10, 15, 0, 0, amsterdam)},
		} {
			got, err := db.Counts(ctx, p.from, p.to, amsterdam)
			if err != nil {
				t.Fatal(err)
			}
			compareCounts(t, got, expectCounts(recs, p.from, p.to, amsterdam))
		}
		// The autumn night's two 02:00–02:15 intervals are kept apart.
		got, err := db.Counts(ctx, time.Date(2026, 10, 25, 0, 0, 0, 0, amsterdam), time.Date(2026, 10, 25, 4, 0, 0, 0, amsterdam), amsterdam)
		if err != nil {
			t.Fatal(err)
		}
		var twoTen []string
		for _, q := range got {
			for _, iv := range q.Intervals {
				if iv.Start.Hour() == 2 && iv.Start.Minute() == 0 {
					twoTen = append(twoTen, iv.Start.Format(time.RFC3339))
				}
			}
		}
		if !slices.Equal(twoTen, []string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"}) {
			t.Errorf("02:00 intervals on the autumn night: %v", twoTen)
		}
	})

	t.Run("report", func(t *testing.T) {
		for _, p := range []struct {
			from, to calendar.Date
			queue    string
		}{
			{calendar.Date{Year: 2026, Month: 3, Day: 1}, calendar.Date{Year: 2026, Month: 12, Day: 31}, ""},
			{calendar.Date{Year: 2026, Month: 3, Day: 15}, calendar.Date{Year: 2026, Month: 4, Day: 14}, "permits"},
			{calendar.Date{Year: 2026, Month: 3, Day: 29}, calendar.Date{Year: 2026, Month: 3, Day: 29}, ""},
			{calendar.Date{Year: 2026, Month: 10, Day: 25}, calendar.Date{Year: 2026, Month: 10, Day: 26}, "general"},
			{calendar.Date{Year: 2027, Month: 1, Day: 1}, calendar.Date{Year: 2027, Month: 1, Day: 31}, ""},
		} {
			got, err := db.Report(ctx, p.from, p.to, p.queue, amsterdam)
			if err != nil {
				t.Fatal(err)
			}
			want := expectReport(recs, p.from, p.to, p.queue, amsterdam)
			if len(got) != len(want) {
				t.Errorf("report %s..%s %q: %d rows, want %d", p.from, p.to, p.queue, len(got), len(want))
				continue
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("report %s..%s %q row %d:\n got %+v\nwant %+v", p.from, p.to, p.queue, i, got[i], want[i])
				}
			}
		}
		// Some rows have no service level (weekends: nothing offered) and
		// some days no calls for a queue at all.
		rows, _ := db.Report(ctx, calendar.Date{Year: 2026, Month: 3, Day: 15}, calendar.Date{Year: 2026, Month: 3, Day: 21}, "", amsterdam)
		var noSL, permitsDays int
		for _, r := range rows {
			if !r.ServiceLevelOK {
				noSL++
			}
			if r.Queue == "permits" && !r.Total {
				permitsDays++
			}
		}
		if noSL == 0 || permitsDays != 6 {
			t.Errorf("week of 15 March: %d rows without service level, %d days with permits calls (want >0, 6)", noSL, permitsDays)
		}
	})

	t.Run("errors", func(t *testing.T) {
		d := calendar.Date{Year: 2026, Month: 3, Day: 15}
		if _, err := db.Report(ctx, d, d.AddDays(-1), "", amsterdam); err == nil {
			t.Error("Report with to before from succeeded")
		}
		if _, err := db.Counts(ctx, d.In(amsterdam), d.AddDays(1).In(amsterdam), time.Local); err == nil {
			t.Error("Counts in time.Local succeeded")
		}
		if _, err := db.Counts(ctx, d.In(amsterdam), d.AddDays(1).In(amsterdam), time.FixedZone("Nowhere/Land", 3600)); err == nil {
			t.Error("Counts in a zone PostgreSQL does not know succeeded")
		}
	})
}

func compareCounts(t *testing.T, got, want []store.QueueCounts) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d queues, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		gi, wi := g.Intervals, w.Intervals
		g.Intervals, w.Intervals = nil, nil
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("queue %s totals:\n got %+v\nwant %+v", w.Queue, g, w)
		}
		if len(gi) != len(wi) {
			t.Errorf("queue %s: %d intervals, want %d", w.Queue, len(gi), len(wi))
			continue
		}
		for j := range wi {
			if !gi[j].Start.Equal(wi[j].Start) || gi[j].Start.Location() != wi[j].Start.Location() ||
				gi[j].Offered != wi[j].Offered || gi[j].AnsweredWithin != wi[j].AnsweredWithin ||
				gi[j].ShortAbandoned != wi[j].ShortAbandoned {
				t.Errorf("queue %s interval %d:\n got %+v\nwant %+v", w.Queue, j, gi[j], wi[j])
			}
		}
	}
}

// CountOffered counts finished offered calls and calls in progress of the one queue, by entry,
// and leaves out closed calls, other queues and entries outside the window.
func TestCountOffered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := newDB(t)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	recs := []store.CallRecord{
		answered("co-1", at, 1000),
		answered("co-2", at.Add(14*time.Minute+59*time.Second), 1000),
		answered("co-3", at.Add(15*time.Minute), 1000), // the next window
		answered("co-4", at.Add(-time.Millisecond), 1000),
	}
	closed := store.CallRecord{ChannelID: "co-closed", Queue: "general", Kind: store.KindQueue, Entry: at.Add(time.Minute),
		Ended: at.Add(2 * time.Minute), Outcome: store.OutcomeClosed, ThresholdMS: 30000}
	other := answered("co-other", at.Add(time.Minute), 1000)
	other.Queue = "vergunningen"
	live := store.CallRecord{ChannelID: "co-live", Queue: "general", Kind: store.KindQueue, Entry: at.Add(3 * time.Minute),
		ThresholdMS: 30000, Stage: store.StageEntered}
	if _, err := db.InsertCalls(ctx, append(recs, closed, other, live)); err != nil {
		t.Fatal(err)
	}
	got, err := db.CountOffered(ctx, "general",
		[]time.Time{at, at.Add(15 * time.Minute), at.Add(-time.Hour)},
		[]time.Time{at.Add(15 * time.Minute), at.Add(30 * time.Minute), at.Add(-30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v (two finished + one in progress; one; none)", got, want)
	}
	if _, err := db.CountOffered(ctx, "general", []time.Time{at}, nil); err == nil {
		t.Error("mismatched windows accepted")
	}
}
