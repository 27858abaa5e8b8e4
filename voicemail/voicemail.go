// Package voicemail takes a message from a caller whose channel is in callmon's Stasis
// application: answer, greeting, beep, record (DESIGN §4.2). It talks to Asterisk through
// ari/v5's REST client only; the events of the channel, its playbacks and its recording reach
// it from callmon's dispatcher (package ari), in order.
package voicemail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"

	"callmon/ari/reststatus"
)

// Outcome is how a voicemail dialogue ended.
type Outcome string

const (
	// Recorded: a message of at least MinDuration is kept as Result.Recording.
	Recorded Outcome = "recorded"
	// Discarded: the message was shorter than MinDuration; its stored recording is deleted.
	Discarded Outcome = "discarded"
	// ToQueue: the caller pressed 0 before the beep; move them to the general queue.
	ToQueue Outcome = "to_queue"
	// Failed: Asterisk failed the recording or a REST request failed; the caller must be moved
	// to the general queue by the caller of Run (never left in silence).
	Failed Outcome = "failed"
	// HungUp: the caller left before the recording started; nothing is kept.
	HungUp Outcome = "hung_up"
)

// Defaults of Config (DESIGN §4.2).
const (
	DefaultMaxDuration = 180 * time.Second
	DefaultMaxSilence  = 5 * time.Second
	DefaultMinDuration = time.Second
)

// Config tunes the dialogue. Zero durations take the defaults above.
type Config struct {
	MaxDuration time.Duration // longest message; whole seconds (rounded up)
	MaxSilence  time.Duration // silence that ends the message; whole seconds (rounded up)
	MinDuration time.Duration // shorter messages are discarded
	// DefaultGreeting is played when the employee has no greeting of their own, e.g.
	// []string{"sound:vm-intro"}.
	DefaultGreeting []string
	// Clock is the call's clock, for the caller's bookkeeping (when the message was left);
	// Run itself takes every duration from Asterisk's events and never reads it.
	Clock interface{ Now() time.Time }
}

// Result is what Run or Resume did.
type Result struct {
	Outcome   Outcome
	Recording string // the stored recording's name when Recorded
	// Duration is the message's length (RecordingFinished's duration) when Recorded or
	// Discarded; 0 (unknown) when Resume found the message already finished and stored.
	Duration time.Duration
	Cause    string // why, when Failed (Asterisk's cause or the failed request) or Discarded
}

// maxGreeting is how many greeting media Run plays: the dispatcher in package ari routes
// playback ids cm-<channel>-vm1 … vm8 to the dialogue.
const maxGreeting = 8

// RecordingName is the stored recording of a channel's message: "vm-" and the channel id with
// '.' replaced by '-'.
func RecordingName(channelID string) string {
	return "vm-" + strings.ReplaceAll(channelID, ".", "-")
}

// PlaybackID is the id of the n-th greeting playback (from 1).
func PlaybackID(channelID string, n int) string {
	return fmt.Sprintf("cm-%s-vm%d", channelID, n)
}

// Run takes over a caller's channel (in Stasis, answered or not) to leave a message: answer,
// play greeting (or cfg.DefaultGreeting when nil) one medium after another, then record with a
// beep until the caller presses #, is silent for MaxSilence, reaches MaxDuration or hangs up
// (a hang-up keeps what was recorded). Pressing 0 during the greeting ends it with ToQueue.
//
// events must carry every event of the channel, of its playbacks (PlaybackID) and of its
// recording (RecordingName), in order. Outcome Failed comes with a non-nil error describing
// it; the other outcomes with nil, except Discarded when the short recording could not be
// deleted. When ctx ends Run stops the greeting, scraps a running recording (its file is
// deleted) and returns ctx.Err() with an empty Result.
func Run(ctx context.Context, rest *native.Client, channelID string, greeting []string, cfg Config, events <-chan ari.Event) (Result, error) {
	cfg = cfg.withDefaults()
	if greeting == nil {
		greeting = cfg.DefaultGreeting
	}
	if len(greeting) > maxGreeting {
		greeting = greeting[:maxGreeting]
	}
	d := &dialogue{ctx: ctx, rest: rest, id: channelID, name: RecordingName(channelID), events: events}
	res, err := d.run(greeting, cfg)
	if ctx.Err() != nil && err == ctx.Err() {
		d.cleanup()
	}
	return res, err
}

// ErrNothingToResume is Resume's answer when the previous process had not started recording:
// the greeting it left playing is stopped, and the dialogue starts afresh with Run.
var ErrNothingToResume = errors.New("voicemail: nothing to resume")

// Resume carries on the dialogue a previous callmon process left on a caller's channel (it died
// or stopped; Asterisk kept the call, its recording and its playbacks). Asterisk decides:
//   - the recording is live (queued or recording): Resume waits for its end as Run does, with
//     the same outcomes; the message is not interrupted and the greeting not repeated;
//   - it is no longer live but stored: the message ended while no process was connected;
//     Recorded with Duration 0, as its length is no longer known (MinDuration is not applied);
//   - neither: Resume stops any greeting playback left over (so that it does not overlap Run's)
//     and returns ErrNothingToResume with an empty Result (HungUp if the caller leaves
//     meanwhile).
//
// events as for Run, routed before Resume is called: an end that happens after the look-up
// arrives there. Errors and ctx as for Run.
func Resume(ctx context.Context, rest *native.Client, channelID string, cfg Config, events <-chan ari.Event) (Result, error) {
	cfg = cfg.withDefaults()
	d := &dialogue{ctx: ctx, rest: rest, id: channelID, name: RecordingName(channelID), events: events}
	res, err := d.resume(cfg)
	if ctx.Err() != nil && err == ctx.Err() {
		d.cleanup()
	}
	return res, err
}

func (c Config) withDefaults() Config {
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.MaxSilence <= 0 {
		c.MaxSilence = DefaultMaxSilence
	}
	if c.MinDuration <= 0 {
		c.MinDuration = DefaultMinDuration
	}
	return c
}

// wholeSeconds rounds up, so that a sub-second setting does not become 0 ("no limit").
func wholeSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

type dialogue struct {
	ctx    context.Context
	rest   *native.Client
	id     string // the caller's channel
	name   string // the recording
	events <-chan ari.Event

	playback  string // the greeting playback running or requested
	recording bool   // the record request was accepted
}

func (d *dialogue) run(greeting []string, cfg Config) (Result, error) {
	ch := ari.NewKey(ari.ChannelKey, d.id)
	if err := d.rest.Channel().Answer(ch); err != nil {
		return d.restFailure("answer", err)
	}

	for i, media := range greeting {
		d.playback = PlaybackID(d.id, i+1)
		if _, err := d.rest.Channel().Play(ch, d.playback, media); err != nil {
			d.playback = ""
			return d.restFailure("play "+media, err)
		}
		for done := false; !done; {
			e, err := d.next()
			if err != nil {
				return Result{}, err
			}
			switch e := e.(type) {
			case *ari.PlaybackFinished:
				done = e.Playback.ID == d.playback
			case *ari.ChannelDtmfReceived:
				if e.Channel.ID == d.id && e.Digit == "0" {
					d.stopPlayback()
					return Result{Outcome: ToQueue}, nil
				}
			default:
				if d.hangup(e) {
					return Result{Outcome: HungUp}, nil
				}
			}
		}
		d.playback = ""
	}

	_, err := d.rest.Channel().Record(ch, d.name, &ari.RecordingOptions{
		Format:      "wav",
		MaxDuration: wholeSeconds(cfg.MaxDuration),
		MaxSilence:  wholeSeconds(cfg.MaxSilence),
		Exists:      "overwrite",
		Beep:        true,
		Terminate:   "#",
	})
	if err != nil {
		return d.restFailure("record", err)
	}
	d.recording = true
	return d.awaitRecording(false, cfg)
}

// awaitRecording waits for the end of the recording d.recording says is live: started when
// its RecordingStarted has been seen (the beep is over, digits belong to Asterisk).
func (d *dialogue) awaitRecording(started bool, cfg Config) (Result, error) {
	hungUp := false
	for {
		e, err := d.next()
		if err != nil {
			return Result{}, err
		}
		switch e := e.(type) {
		case *ari.RecordingStarted:
			started = started || e.Recording.Name == d.name
		case *ari.RecordingFailed:
			if e.Recording.Name != d.name {
				continue
			}
			d.recording = false
			return Result{Outcome: Failed, Cause: e.Recording.Cause},
				fmt.Errorf("voicemail: recording %s on %s failed: %s", d.name, d.id, e.Recording.Cause)
		case *ari.RecordingFinished:
			if e.Recording.Name != d.name {
				continue
			}
			d.recording = false
			return d.finished(time.Duration(e.Recording.Duration), cfg)
		case *ari.ChannelDtmfReceived:
			// 0 before the beep (the recording has not started): to the queue. Once it has
			// started, digits belong to Asterisk (# ends the message).
			if !started && !hungUp && e.Channel.ID == d.id && e.Digit == "0" {
				d.scrap()
				return Result{Outcome: ToQueue}, nil
			}
		default:
			if d.hangup(e) && !hungUp {
				hungUp = true
				if !started {
					// A queued recording vanishes with the channel, without an event.
					d.recording = false
					return Result{Outcome: HungUp}, nil
				}
				// Asterisk still reports RecordingFinished with what was recorded.
			}
		}
	}
}

func (d *dialogue) resume(cfg Config) (Result, error) {
	live, err := d.rest.LiveRecording().Data(ari.NewKey(ari.LiveRecordingKey, d.name))
	switch {
	case err != nil && reststatus.Of(err) != http.StatusNotFound:
		return d.failure("look up live recording", err)
	case err == nil && live.State == "failed":
		return Result{Outcome: Failed, Cause: live.Cause},
			fmt.Errorf("voicemail: recording %s on %s failed: %s", d.name, d.id, live.Cause)
	case err == nil && live.State != "done" && live.State != "canceled":
		// queued, recording (or paused, which callmon never asks for).
		d.recording = true
		return d.awaitRecording(live.State != "queued", cfg)
	}
	// Not live ("done" is the instant before Asterisk drops a finished one).
	_, err = d.rest.StoredRecording().Data(ari.NewKey(ari.StoredRecordingKey, d.name))
	switch {
	case err == nil:
		return Result{Outcome: Recorded, Recording: d.name}, nil
	case reststatus.Of(err) != http.StatusNotFound:
		return d.failure("look up stored recording", err)
	}
	if res, err := d.stopGreeting(); err != nil || res.Outcome != "" {
		return res, err
	}
	return Result{}, ErrNothingToResume
}

// stopGreeting stops the greeting playbacks a previous process left and waits for the
// PlaybackFinished of each one it stopped: Run plays under the same ids, and would take the
// old playback's end for its own (or find its id still taken). Asterisk reports the end of a
// stopped playback, of a queued one too when its turn comes (res_stasis_playback.c publishes
// the canceled state as "done"). A hang-up meanwhile ends it with HungUp.
func (d *dialogue) stopGreeting() (Result, error) {
	stopped := map[string]bool{}
	for n := 1; n <= maxGreeting; n++ {
		id := PlaybackID(d.id, n)
		// 404: never played or over; nothing else can be done about another error.
		if d.rest.Playback().Stop(ari.NewKey(ari.PlaybackKey, id)) == nil {
			stopped[id] = true
		}
	}
	for len(stopped) > 0 {
		e, err := d.next()
		if err != nil {
			return Result{}, err
		}
		if f, ok := e.(*ari.PlaybackFinished); ok {
			delete(stopped, f.Playback.ID)
		} else if d.hangup(e) {
			return Result{Outcome: HungUp}, nil
		}
	}
	return Result{}, nil
}

// finished decides on a recording that ended with a duration.
func (d *dialogue) finished(dur time.Duration, cfg Config) (Result, error) {
	if dur >= cfg.MinDuration {
		return Result{Outcome: Recorded, Recording: d.name, Duration: dur}, nil
	}
	res := Result{Outcome: Discarded, Duration: dur, Cause: "shorter than " + cfg.MinDuration.String()}
	err := d.rest.StoredRecording().Delete(ari.NewKey(ari.StoredRecordingKey, d.name))
	if err != nil && native.CodeFromError(err) != http.StatusNotFound { // 404: no file (hung up during the beep)
		return res, fmt.Errorf("voicemail: delete short recording %s: %w", d.name, err)
	}
	return res, nil
}

// next is the next event, or ctx's error.
func (d *dialogue) next() (ari.Event, error) {
	select {
	case <-d.ctx.Done():
		return nil, d.ctx.Err()
	case e, ok := <-d.events:
		if !ok {
			return nil, errors.New("voicemail: event stream closed")
		}
		return e, nil
	}
}

// hangup reports whether e says the caller left (or the channel left Stasis).
func (d *dialogue) hangup(e ari.Event) bool {
	var id string
	switch e := e.(type) {
	case *ari.StasisEnd:
		id = e.Channel.ID
	case *ari.ChannelHangupRequest:
		id = e.Channel.ID
	case *ari.ChannelDestroyed:
		id = e.Channel.ID
	}
	return id == d.id
}

// restFailure classifies a failed request on the caller's channel: 404 (channel not found) and
// 409 (not in Stasis) mean the caller left; anything else fails the dialogue.
func (d *dialogue) restFailure(what string, err error) (Result, error) {
	switch native.CodeFromError(err) {
	case http.StatusNotFound, http.StatusConflict:
		return Result{Outcome: HungUp}, nil
	}
	return d.failure(what, err)
}

func (d *dialogue) failure(what string, err error) (Result, error) {
	return Result{Outcome: Failed, Cause: what + ": " + err.Error()}, fmt.Errorf("voicemail: %s on %s: %w", what, d.id, err)
}

func (d *dialogue) stopPlayback() {
	if d.playback == "" {
		return
	}
	// A 404 means it has just finished; nothing else can be done about another error.
	_ = d.rest.Playback().Stop(ari.NewKey(ari.PlaybackKey, d.playback))
	d.playback = ""
}

// scrap ends the live recording and deletes its file (a queued one just vanishes).
func (d *dialogue) scrap() {
	if !d.recording {
		return
	}
	_ = d.rest.LiveRecording().Scrap(ari.NewKey(ari.LiveRecordingKey, d.name))
	d.recording = false
}

// cleanup stops what Run started when ctx ended.
func (d *dialogue) cleanup() {
	d.stopPlayback()
	d.scrap()
}
