package ari

import (
	"slices"
	"testing"
	"time"
)

func TestSpokenMinutes(t *testing.T) {
	for d, want := range map[time.Duration]int{
		0: 0, 59 * time.Second: 0, time.Minute: 0, 61 * time.Second: 2, 150 * time.Second: 3, 5 * time.Minute: 5,
		5*time.Minute + time.Second: 10, 12 * time.Minute: 15, 30 * time.Minute: 30, 31 * time.Minute: 40, 95 * time.Minute: 100,
	} {
		if got := spokenMinutes(d); got != want {
			t.Errorf("%v: %d minutes, want %d", d, got, want)
		}
	}
}

func TestAnnouncementMedia(t *testing.T) {
	pos := []string{"sound:callmon/you-are-number", "number:4", "sound:callmon/in-line"}
	for _, c := range []struct {
		st   standing
		want []string
	}{
		{standing{position: 4, bound: 10 * time.Minute}, pos},
		{standing{position: 4, bound: 30 * time.Second, told: true}, append(slices.Clone(pos), "sound:callmon/less-than-a-minute")},
		{standing{position: 4, bound: 61 * time.Second, told: true}, append(slices.Clone(pos), "sound:callmon/expected-wait", "number:2", "sound:callmon/minutes")},
	} {
		if got := announcementMedia(c.st); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.st, got, c.want)
		}
	}
}
