package main

import (
	"math"
	"testing"
	"time"

	"callmon/callback/calendar"
	"callmon/cmd/callmon/config"
)

// The morning peak follows the opening hours of the configuration (08:30–17:00 by default):
// highest in the morning, a dip at lunch, a third of the mean while closed, and a mean of 1
// over the open day, so --rate stays the day's mean.
func TestMorningPeakFollowsTheOpeningHours(t *testing.T) {
	cfg := config.Demo(2)
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	cfg.OpeningHours = calendar.Config{Location: loc, Hours: calendar.DefaultHours()}
	shape, peak := morningPeak(cfg)
	day := func(h, m int) time.Time { return time.Date(2026, 11, 2, h, m, 0, 0, cfg.OpeningHours.Location) }
	if s := shape(day(7, 0)); s != 1.0/3 {
		t.Errorf("closed at 07:00: %v, want 1/3", s)
	}
	if s := shape(day(17, 30)); s != 1.0/3 {
		t.Errorf("closed at 17:30: %v", s)
	}
	morning, lunch := shape(day(10, 15)), shape(day(13, 0))
	if !(morning > 1.4 && morning <= peak && lunch < 1 && lunch < morning) {
		t.Errorf("10:15 %v, 13:00 %v, peak %v", morning, lunch, peak)
	}
	sum, n := 0.0, 0
	for at := day(8, 30); at.Before(day(17, 0)); at = at.Add(time.Minute) {
		sum += shape(at)
		n++
	}
	if mean := sum / float64(n); math.Abs(mean-1) > 0.01 {
		t.Errorf("mean over the open day %v, want 1", mean)
	}
}

// Conversations and patience have the asked means, and the lognormal ones their spread.
func TestTrafficDistributions(t *testing.T) {
	for _, o := range []trafficOptions{
		{handle: 90 * time.Second, patience: 75 * time.Second},
		{handle: 90 * time.Second, patience: 75 * time.Second, talkCV: 1, patienceDist: "lognormal"},
	} {
		o.seed = 5
		tr := newTraffic(nil, nil, config.Demo(1), o, nil)
		const n = 40000
		var talk, talk2, pat float64
		for range n {
			d := tr.talk().Seconds()
			talk += d
			talk2 += d * d
			pat += tr.patienceDraw().Seconds()
		}
		mean := talk / n
		cv := math.Sqrt(talk2/n-mean*mean) / mean
		wantCV := 1.0 // exponential, and the lognormal asked
		if math.Abs(mean-90) > 3 || math.Abs(cv-wantCV) > 0.1 || math.Abs(pat/n-75) > 3 {
			t.Errorf("%+v: talk mean %.1f s CV %.2f, patience mean %.1f s", o, mean, cv, pat/n)
		}
	}
}
