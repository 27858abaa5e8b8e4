package aritest

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Recordings: POST /channels/{id}/record queues a live recording on the channel's Stasis
// control (behind what plays there). When it runs it answers the channel if need be
// (ast_auto_answer), says RecordingStarted ("recording") and, with beep, plays a beep of
// BeepDuration before it takes audio. It ends with RecordingFinished ("done") when the caller
// hangs up (everything is kept: direct-voicemail), presses a terminateOn digit
// (direct-voicemail-hash), has been silent for longer than maxSilenceSeconds
// (direct-voicemail-silence), reaches maxDurationSeconds, or the app stops or discards it; with
// RecordingFailed ("failed", cause) when the channel is in a bridge or the test asked for it
// (Caller.FailRecording). The file is then a stored recording.
//
// The caller's audio is a frame every 20 ms, speech while Caller.Speak says so and silence
// otherwise (a phone sends RTP all the time). The durations in RecordingFinished are computed
// as Asterisk's ast_play_and_record (main/app.c) does, from the frames written to the file:
//
//	duration         = seconds(frames) - (trailing silence - 200 ms) / 1 s
//	talking_duration = seconds(frames) - (all silence - 200 ms) / 1 s   (only with maxSilenceSeconds)
//	silence_duration = duration - talking_duration
//
// in integer seconds; a recording ended by a digit, by silence or by its maximum duration loses
// its trailing silence but 200 ms from the file, one ended by a hang-up or a stop keeps it
// (hence 68 844 bytes for 4.3 s of audio with duration 2 in direct-voicemail, and 22 764 bytes
// in -hash and -silence).
//
// Not modelled: adding a channel to a bridge while it records does not wait for the recording
// to end (Asterisk's addChannel runs on the same command queue and would); pause and mute.

// BeepDuration is how long the beep before a recording (beep=true) lasts: the recording takes
// audio from BeepDuration after RecordingStarted (measured in direct-voicemail: the 4.3 s file
// ends with the hang-up 4.76 s after the record request).
const BeepDuration = 450 * time.Millisecond

// frameLen is the length of one audio frame.
const frameLen = 20 * time.Millisecond

// endReason says why ast_play_and_record stopped.
type endReason int

const (
	endHangup      endReason = iota // the channel hung up (res -1): the file keeps everything
	endStop                         // POST /recordings/live/{name}/stop (res 0): keeps everything
	endCancel                       // DELETE /recordings/live/{name}: the file is deleted
	endDTMF                         // a terminateOn digit: trailing silence trimmed
	endSilence                      // maxSilenceSeconds of silence: trailing silence trimmed
	endMaxDuration                  // maxDurationSeconds reached: trailing silence trimmed
)

// trims: play_and_record rewinds the trailing silence when it ended with res > 0.
func (e endReason) trims() bool { return e >= endDTMF }

// recordingFormats are the file formats the fake records: bytes of file header and bytes per
// 20 ms frame. Others are "unknown on this system" (422).
var recordingFormats = map[string]struct{ header, frame int }{
	"wav":  {44, 320}, // 16-bit 8 kHz mono PCM with a RIFF header, as Asterisk's format_wav
	"sln":  {0, 320},
	"ulaw": {0, 160},
	"alaw": {0, 160},
	"gsm":  {0, 33},
	"g722": {0, 160},
}

type liveRecording struct {
	name, format, target string
	ch                   *channel
	state                string // queued, recording, done, failed
	maxDuration          time.Duration
	maxSilence           time.Duration
	beep                 bool
	accept               string // DTMF digits that end it
	ifExists             string // fail, overwrite, append
	audioFrom            time.Time
	duration, talking    int // seconds; -1 until known (then the JSON has them)
	cause                string
	prev                 *storedRecording // the file it overwrites or appends to
	file                 *storedRecording
	stop                 func() bool // the silence or maximum-duration timer
	armed                int         // counts armRecording calls: a timer from an earlier one is stale
}

// snapshot is ARI's LiveRecording, keys in Asterisk's order (stasis_app_recording_to_json and
// recording_publish's "cause").
func (r *liveRecording) snapshot() object {
	o := object{{"name", r.name}, {"format", r.format}, {"state", r.state}, {"target_uri", r.target}}
	if r.duration > -1 {
		o = append(o, member{"duration", r.duration})
	}
	if r.talking > -1 {
		o = append(o, member{"talking_duration", r.talking}, member{"silence_duration", r.duration - r.talking})
	}
	if r.cause != "" {
		o = append(o, member{"cause", r.cause})
	}
	return o
}

// storedRecording is a file in Asterisk's recordings directory.
type storedRecording struct {
	name, format string
	talk         []bool         // one per 20 ms frame: speech (true) or silence
	live         *liveRecording // still being written: talk is computed from it
}

func (s *Server) recordingEvent(r *liveRecording, typ string) {
	s.emit(typ, s.event(nil, typ, member{"recording", r.snapshot()}), 1)
}

// recordChannel is POST /channels/{id}/record, checked in Asterisk's order
// (ast_ari_channels_record, stasis_app_control_record).
func (s *Server) recordChannel(q *request) reply {
	p := q.params
	maxDuration, maxSilence := p.integer("maxDurationSeconds", 0), p.integer("maxSilenceSeconds", 0)
	switch {
	case maxDuration < 0:
		return fail(http.StatusBadRequest, "max_duration_seconds cannot be negative")
	case maxSilence < 0:
		return fail(http.StatusBadRequest, "max_silence_seconds cannot be negative")
	}
	c, errRep := s.stasisChannel(q)
	if errRep != nil {
		return *errRep
	}
	accept, valid := terminateDigits(p.str("terminateOn"))
	if !valid {
		return fail(http.StatusBadRequest, "terminateOn invalid")
	}
	ifExists := strings.ToLower(p.str("ifExists"))
	switch ifExists {
	case "":
		ifExists = "fail"
	case "fail", "overwrite", "append":
	default:
		return fail(http.StatusBadRequest, "ifExists invalid")
	}
	format := p.str("format")
	if _, known := recordingFormats[format]; !known {
		return fail(http.StatusUnprocessableEntity, "specified format is unknown on this system")
	}
	name := p.str("name")
	switch {
	case name == "":
		return fail(http.StatusInternalServerError, "Error parsing request") // EINVAL
	case s.recordings[name] != nil, ifExists == "fail" && s.storedFile(name) != nil:
		return fail(http.StatusConflict, fmt.Sprintf("Recording '%s' already exists and can not be overwritten", name))
	}
	r := &liveRecording{
		name: name, format: format, target: "channel:" + c.id, ch: c, state: "queued",
		maxDuration: time.Duration(maxDuration) * time.Second,
		maxSilence:  time.Duration(maxSilence) * time.Second,
		beep:        p.boolean("beep"), accept: accept, ifExists: ifExists,
		duration: -1, talking: -1,
	}
	s.recordings[name] = r
	queued := r.snapshot()
	c.ops = append(c.ops, chanOp{rec: r})
	s.runOps(c)
	return s.created(queued, r.snapshot())
}

// terminateDigits are the digits that end a recording for ARI's terminateOn. Asterisk hands ""
// for "none" to ast_play_and_record_full, which takes an empty accept list for its default
// "#": so "#" ends even a recording with terminateOn=none. "any" is "#*0123456789abcd"
// (lower-case letters: a DTMF A-D does not match).
func terminateDigits(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "", "none", "#":
		return "#", true
	case "any":
		return "#*0123456789abcd", true
	case "*":
		return "*", true
	}
	return "", false
}

// startRecording runs a recording's command on its channel (record_file).
func (s *Server) startRecording(r *liveRecording) {
	c := r.ch
	switch {
	case c.bridge != nil:
		s.failRecording(r, "Cannot record channel while in bridge")
		return
	case c.failRec != "":
		cause := c.failRec
		c.failRec = ""
		s.failRecording(r, cause)
		return
	}
	s.answer(c)
	r.state = "recording"
	c.recording = r
	s.recordingEvent(r, "RecordingStarted")
	r.audioFrom = s.now()
	if r.beep {
		r.audioFrom = r.audioFrom.Add(BeepDuration)
	}
	r.prev = s.stored[r.name]
	r.file = &storedRecording{name: r.name, format: r.format, live: r}
	s.stored[r.name] = r.file
	s.armRecording(r)
}

func (s *Server) failRecording(r *liveRecording, cause string) {
	r.state, r.cause = "failed", cause
	s.forgetRecording(r)
	s.recordingEvent(r, "RecordingFailed")
}

// forgetRecording drops a live recording from the live ones (GET /recordings/live/{name} is a
// 404 from then on).
func (s *Server) forgetRecording(r *liveRecording) {
	if s.recordings[r.name] == r {
		delete(s.recordings, r.name)
	}
}

// armRecording (re)schedules the end the recording comes to by itself: silence or its maximum
// duration, whichever is first. It runs again whenever the caller speaks.
func (s *Server) armRecording(r *liveRecording) {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	var (
		at       time.Time
		why      endReason
		deadline bool
	)
	if r.maxSilence > 0 {
		at, why, deadline = r.silenceEnd(), endSilence, true
	}
	if r.maxDuration > 0 {
		if end := r.audioFrom.Add(r.maxDuration); !deadline || end.Before(at) {
			at, why, deadline = end, endMaxDuration, true
		}
	}
	if !deadline {
		return
	}
	r.armed++
	armed := r.armed
	r.stop = s.after(at.Sub(s.now()), func() {
		if r.armed == armed { // not re-armed while this timer was firing (real clock)
			s.finishRecordingAt(r, why, at)
		}
	})
}

// framesBefore counts the frames of a recording taking audio from a0 whose middle lies before t:
// a frame is speech when its middle falls in a stretch the caller spoke.
func framesBefore(a0, t time.Time) int {
	d := t.Sub(a0) - frameLen/2
	if d <= 0 {
		return 0
	}
	return int((d + frameLen - 1) / frameLen)
}

// silenceEnd is when the silence detector ends the recording unless the caller speaks again:
// once the silence after the last frame with speech exceeds maxSilence (one frame more than
// maxSilence, as ast_play_and_record wants dspsilence > maxsilence).
func (r *liveRecording) silenceEnd() time.Time {
	first := 0 // first frame of the final silence
	for _, sp := range r.ch.speech {
		if from, to := framesBefore(r.audioFrom, sp.from), framesBefore(r.audioFrom, sp.to); to > from {
			first = max(first, to)
		}
	}
	n := first + int(r.maxSilence/frameLen) + 1
	return r.audioFrom.Add(time.Duration(n) * frameLen)
}

// talkFrames classifies the first n frames of the recording.
func (r *liveRecording) talkFrames(n int) []bool {
	talk := make([]bool, n)
	for _, sp := range r.ch.speech {
		for i := framesBefore(r.audioFrom, sp.from); i < min(framesBefore(r.audioFrom, sp.to), n); i++ {
			talk[i] = true
		}
	}
	return talk
}

// framesAt is what the recording has written to its file by t, the old file first when it
// appends.
func (r *liveRecording) framesAt(t time.Time) []bool {
	var talk []bool
	if r.ifExists == "append" && r.prev != nil {
		talk = append(talk, r.prev.talk...)
	}
	if t.Before(r.audioFrom) {
		return talk
	}
	return append(talk, r.talkFrames(int(t.Sub(r.audioFrom)/frameLen))...)
}

func (s *Server) finishRecording(r *liveRecording, why endReason) {
	s.finishRecordingAt(r, why, s.now())
}

// finishRecordingAt ends a running recording at t: the durations and the file as
// ast_play_and_record leaves them (see the top of this file), RecordingFinished, and the
// channel's next command.
func (s *Server) finishRecordingAt(r *liveRecording, why endReason, t time.Time) {
	if r.state != "recording" {
		return
	}
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
	c := r.ch
	c.recording = nil
	s.forgetRecording(r)
	r.state = "done" // also when discarded: record_file sets COMPLETE after a cancel
	file := r.file
	file.live = nil
	switch {
	case t.Before(r.audioFrom):
		// Hung up or stopped during the beep: play_and_record returns before it opens the
		// file, and measures nothing.
		file.talk = nil
		s.dropFile(r, true)
	default:
		n := int(t.Sub(r.audioFrom) / frameLen)
		talk := r.talkFrames(n)
		trailing, silent := 0, 0
		for i := n - 1; i >= 0 && !talk[i]; i-- {
			trailing++
		}
		for _, spoke := range talk {
			if !spoke {
				silent++
			}
		}
		kept := r.framesAt(t)
		secs := len(kept) / 50 // ast_tellstream / 8000: the whole file when appending
		r.duration = secs
		if r.maxSilence > 0 {
			dsp, total := trailing*20, silent*20 // ms, as the silence detector counts
			if dsp > 0 {
				r.duration -= (dsp - 200) / 1000
			}
			r.talking = secs
			if total > 0 {
				r.talking -= (total - 200) / 1000
			}
			r.talking = max(r.talking, 0)
			if why.trims() && dsp > 200 {
				kept = kept[:len(kept)-(dsp-200)/20]
			}
		}
		r.duration = max(r.duration, 0)
		file.talk = kept
		if why == endCancel {
			s.dropFile(r, false)
		}
	}
	s.recordingEvent(r, "RecordingFinished")
	s.runOps(c)
}

// dropFile removes the recording's file from the store; restore puts back the one it would
// have replaced (a file is only opened after the beep).
func (s *Server) dropFile(r *liveRecording, restore bool) {
	if s.stored[r.name] != r.file {
		return // deleted meanwhile
	}
	if restore && r.prev != nil {
		s.stored[r.name] = r.prev
		return
	}
	delete(s.stored, r.name)
}

// storedFile is the stored recording of that name as GET /recordings/stored sees it now: a file
// being recorded exists from the end of its beep on.
func (s *Server) storedFile(name string) *storedRecording {
	f := s.stored[name]
	if f != nil && f.live != nil && s.now().Before(f.live.audioFrom) {
		return f.live.prev
	}
	return f
}

func (f *storedRecording) frames(now time.Time) []bool {
	if f.live != nil {
		return f.live.framesAt(now)
	}
	return f.talk
}

// REST: /recordings/live.

func (s *Server) liveRecordingOf(q *request) (*liveRecording, *reply) {
	r := s.recordings[q.path("name")]
	if r == nil {
		rep := fail(http.StatusNotFound, "Recording not found")
		return nil, &rep
	}
	return r, nil
}

func (s *Server) getLiveRecording(q *request) reply {
	r, errRep := s.liveRecordingOf(q)
	if errRep != nil {
		return *errRep
	}
	return ok(r.snapshot())
}

// stopLiveRecording is POST /recordings/live/{name}/stop: the recording ends and is kept. One
// still queued is dropped without an event (Asterisk marks it canceled).
func (s *Server) stopLiveRecording(q *request) reply {
	return s.endLiveRecording(q, endStop)
}

// cancelLiveRecording is DELETE /recordings/live/{name}: the recording ends and its file is
// deleted. Asterisk still reports RecordingFinished with state "done" (record_file sets
// COMPLETE after the cancel).
func (s *Server) cancelLiveRecording(q *request) reply {
	return s.endLiveRecording(q, endCancel)
}

func (s *Server) endLiveRecording(q *request, why endReason) reply {
	r, errRep := s.liveRecordingOf(q)
	if errRep != nil {
		return *errRep
	}
	if r.state == "queued" {
		r.ch.removeOp(func(op chanOp) bool { return op.rec == r })
		s.forgetRecording(r)
		return noContent
	}
	s.finishRecording(r, why)
	return noContent
}

// REST: /recordings/stored.

func storedJSON(f *storedRecording) object {
	return object{{"name", f.name}, {"format", f.format}}
}

func (s *Server) listStoredRecordings(*request) reply {
	out := []object{}
	for _, f := range s.storedFiles() {
		out = append(out, storedJSON(f))
	}
	return ok(out)
}

// storedFiles lists the store by name (Asterisk scans its recordings directory).
func (s *Server) storedFiles() []*storedRecording {
	names := make([]string, 0, len(s.stored))
	for name := range s.stored {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []*storedRecording
	for _, name := range names {
		if f := s.storedFile(name); f != nil {
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) storedRecordingOf(q *request) (*storedRecording, *reply) {
	f := s.storedFile(q.path("name"))
	if f == nil {
		rep := fail(http.StatusNotFound, "Recording not found")
		return nil, &rep
	}
	return f, nil
}

func (s *Server) getStoredRecording(q *request) reply {
	f, errRep := s.storedRecordingOf(q)
	if errRep != nil {
		return *errRep
	}
	return ok(storedJSON(f))
}

func (s *Server) deleteStoredRecording(q *request) reply {
	f, errRep := s.storedRecordingOf(q)
	if errRep != nil {
		return *errRep
	}
	switch cur := s.stored[f.name]; {
	case cur == f:
		delete(s.stored, f.name)
	case cur != nil && cur.live != nil && cur.live.prev == f:
		cur.live.prev = nil // the file a recording is about to overwrite (still in its beep)
	}
	return noContent
}

// storedRecordingFile is GET /recordings/stored/{name}/file: the audio, Content-Type
// audio/<format>.
func (s *Server) storedRecordingFile(q *request) reply {
	f, errRep := s.storedRecordingOf(q)
	if errRep != nil {
		return *errRep
	}
	return reply{status: http.StatusOK, data: audioFile(f.format, f.frames(s.now())), ctype: "audio/" + f.format}
}

// copyStoredRecording is POST /recordings/stored/{name}/copy?destinationRecordingName=.
func (s *Server) copyStoredRecording(q *request) reply {
	f, errRep := s.storedRecordingOf(q)
	if errRep != nil {
		return *errRep
	}
	dest := q.params.str("destinationRecordingName")
	switch {
	case s.storedFile(dest) != nil:
		return fail(http.StatusConflict, "A recording with the same name already exists on the system")
	case dest == "":
		return fail(http.StatusBadRequest, "Invalid destination recording name")
	}
	c := &storedRecording{name: dest, format: f.format, talk: slices.Clone(f.frames(s.now()))}
	s.stored[dest] = c
	return ok(storedJSON(c))
}

// audioFile renders frames in a format: for wav a RIFF header and 16-bit 8 kHz PCM, silence
// for silent frames and a quiet 400 Hz tone where the caller spoke; other formats are filler of
// the right size.
func audioFile(format string, talk []bool) []byte {
	spec := recordingFormats[format]
	out := make([]byte, spec.header, spec.header+len(talk)*spec.frame)
	switch format {
	case "wav":
		data := uint32(len(talk) * spec.frame)
		copy(out, "RIFF")
		binary.LittleEndian.PutUint32(out[4:], 36+data)
		copy(out[8:], "WAVEfmt ")
		binary.LittleEndian.PutUint32(out[16:], 16)   // fmt chunk size
		binary.LittleEndian.PutUint16(out[20:], 1)    // PCM
		binary.LittleEndian.PutUint16(out[22:], 1)    // mono
		binary.LittleEndian.PutUint32(out[24:], 8000) // sample rate
		binary.LittleEndian.PutUint32(out[28:], 16000)
		binary.LittleEndian.PutUint16(out[32:], 2) // block align
		binary.LittleEndian.PutUint16(out[34:], 16)
		copy(out[36:], "data")
		binary.LittleEndian.PutUint32(out[40:], data)
		fallthrough
	case "sln":
		for i, t := range talk {
			for j := range 160 {
				var v int16
				if t {
					v = int16(4000 * math.Sin(2*math.Pi*400*float64(i*160+j)/8000))
				}
				out = binary.LittleEndian.AppendUint16(out, uint16(v))
			}
		}
	default:
		fill := byte(0)
		switch format {
		case "ulaw":
			fill = 0xff
		case "alaw":
			fill = 0xd5
		}
		for range len(talk) * spec.frame {
			out = append(out, fill)
		}
	}
	return out
}

// StoredRecording describes a file in the fake's recordings store.
type StoredRecording struct {
	Name, Format string
	Length       time.Duration // audio in the file
	Talking      time.Duration // of which the caller spoke (Caller.Speak)
	Size         int           // bytes of GET /recordings/stored/{name}/file
}

// AddStoredRecording puts a recording of length silence in the store, as if an earlier call had
// left it (format as in POST /record: "wav", "gsm", "ulaw", "alaw", "sln", "g722").
func (s *Server) AddStoredRecording(name, format string, length time.Duration) {
	if _, known := recordingFormats[format]; !known {
		panic("aritest: recording format not emulated: " + format)
	}
	s.mu.Lock()
	s.stored[name] = &storedRecording{name: name, format: format, talk: make([]bool, length/frameLen)}
	s.mu.Unlock()
	s.notify()
}

// StoredRecordings lists the store by name, as GET /recordings/stored would now.
func (s *Server) StoredRecordings() []StoredRecording {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StoredRecording
	for _, f := range s.storedFiles() {
		talk := f.frames(s.now())
		spoke := 0
		for _, t := range talk {
			if t {
				spoke++
			}
		}
		spec := recordingFormats[f.format]
		out = append(out, StoredRecording{
			Name: f.name, Format: f.format,
			Length:  time.Duration(len(talk)) * frameLen,
			Talking: time.Duration(spoke) * frameLen,
			Size:    spec.header + len(talk)*spec.frame,
		})
	}
	return out
}

// Speak is the caller talking for d from now on, then falling silent again (until the next
// Speak). A recording of the channel hears it (see RecordingFinished's durations and its
// silence detection).
func (c *Caller) Speak(d time.Duration) {
	c.s.mu.Lock()
	c.s.speak(c.ch, d)
	c.s.mu.Unlock()
	c.s.notify()
}

// SpeakAfter schedules Speak(d) delay from now on the server's clock.
func (c *Caller) SpeakAfter(delay, d time.Duration) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.after(delay, func() { c.s.speak(c.ch, d) })
}

func (s *Server) speak(c *channel, d time.Duration) {
	if c.dead || d <= 0 {
		return
	}
	now := s.now()
	c.speech = append(c.speech, span{now, now.Add(d)})
	if r := c.recording; r != nil {
		s.armRecording(r) // the silence starts later now
	}
}

// FailRecording makes the next recording that starts on the caller's channel fail: instead of
// RecordingStarted the app gets RecordingFailed with this cause ("" is Asterisk's "Failed to
// answer channel", the one runtime failure record_file reports besides "Cannot record channel
// while in bridge", which the fake produces by itself).
func (c *Caller) FailRecording(cause string) {
	if cause == "" {
		cause = "Failed to answer channel"
	}
	c.s.mu.Lock()
	c.ch.failRec = cause
	c.s.mu.Unlock()
}

// Recording reports the name of the recording running on the caller's channel, if one is.
func (c *Caller) Recording() (name string, recording bool) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if r := c.ch.recording; r != nil {
		return r.name, true
	}
	return "", false
}
