package ari

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/coder/websocket"
)

// asteriskEvents are the event types Asterisk 22 documents. Skipped messages
// are counted by type only if the type is one of these, so a broken peer
// cannot create unbounded label values.
var asteriskEvents = map[string]bool{
	"APILoadError": true, "ApplicationMoveFailed": true, "ApplicationRegistered": true,
	"ApplicationReplaced": true, "ApplicationUnregistered": true, "BridgeAttendedTransfer": true,
	"BridgeBlindTransfer": true, "BridgeCreated": true, "BridgeDestroyed": true, "BridgeMerged": true,
	"BridgeVideoSourceChanged": true, "CallBroadcast": true, "CallClaimed": true, "ChannelCallerId": true,
	"ChannelConnectedLine": true, "ChannelCreated": true, "ChannelDestroyed": true, "ChannelDialplan": true,
	"ChannelDtmfReceived": true, "ChannelEnteredBridge": true, "ChannelHangupRequest": true,
	"ChannelHold": true, "ChannelLeftBridge": true, "ChannelStateChange": true,
	"ChannelTalkingFinished": true, "ChannelTalkingStarted": true, "ChannelToneDetected": true,
	"ChannelTransfer": true, "ChannelUnhold": true, "ChannelUserevent": true, "ChannelVarset": true,
	"ContactStatusChange": true, "DeviceStateChanged": true, "Dial": true, "EndpointStateChange": true,
	"MissingParams": true, "PeerStatusChange": true, "PlaybackContinuing": true, "PlaybackFinished": true,
	"PlaybackStarted": true, "RESTResponse": true, "RecordingFailed": true, "RecordingFinished": true,
	"RecordingStarted": true, "StasisEnd": true, "StasisStart": true, "TextMessageReceived": true,
}

// intakeMetrics is what the intake reports; *metrics.Metrics implements it.
type intakeMetrics interface {
	ARIConnected(up bool)
	ARIReconnected()
	ARIEvent(eventType string, lag time.Duration)
	ARISkipped(eventType string)
}

// intake owns the events websocket: it connects (and reconnects with
// backoff), decodes every frame and hands each event to dispatch, which must
// not block. Frames are read by one goroutine, so dispatch sees Asterisk's order.
type intake struct {
	wsURL    string
	user     string
	password string
	tls      *tls.Config // for wss; nil: Go's defaults
	clock    interface{ Now() time.Time }
	log      *slog.Logger
	m        intakeMetrics

	// onConnect runs after each successful connect and before the first
	// frame is read, so callmon's view is rebuilt before new events count.
	onConnect func(ctx context.Context, reconnect bool)
	dispatch  func(ev ari.Event)
	// early, if set, picks frames handled at once while onConnect runs
	// instead of after it (new callers: see session).
	early func(data []byte) bool

	loggedMu sync.Mutex
	logged   map[string]bool // skipped types already logged once

	recent    [64]uint64 // hashes of the last frames, to drop byte-identical duplicates
	recentPos int

	dec decoder // frames are handled one at a time, so one decoder serves them
}

const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 30 * time.Second
	// After ApplicationReplaced, taking the name straight back would make two
	// callmons fight over it; wait long enough for an operator to notice.
	replacedPause = time.Minute
	pingEvery     = 10 * time.Second
	pingTimeout   = 5 * time.Second
)

func (in *intake) run(ctx context.Context) {
	backoff := backoffMin
	connectedOnce := false
	for ctx.Err() == nil {
		err := in.session(ctx, connectedOnce, func() { connectedOnce = true; backoff = backoffMin })
		in.m.ARIConnected(false)
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		if errors.Is(err, errReplaced) {
			wait = replacedPause
		} else {
			in.log.Warn("ARI events websocket down; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		}
		// Full jitter keeps several callmons (or a restarted Asterisk's many
		// clients) from reconnecting in lockstep.
		wait = wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, backoffMax)
	}
}

var errReplaced = errors.New("application replaced by another connection")

// session is one websocket connection from dial to its end.
func (in *intake) session(ctx context.Context, reconnect bool, connected func()) error {
	u, err := url.Parse(in.wsURL)
	if err != nil {
		return err
	}
	h := http.Header{}
	req := &http.Request{Header: h}
	req.SetBasicAuth(in.user, in.password)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	opts := &websocket.DialOptions{HTTPHeader: h}
	if in.tls != nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: in.tls}}
	}
	conn, resp, err := websocket.Dial(dctx, u.String(), opts)
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return errors.New("ARI refused the credentials (401): check ari.user and the password")
		}
		return err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)
	connected()
	if reconnect {
		in.m.ARIReconnected()
	}
	in.m.ARIConnected(true)
	in.log.Info("ARI events websocket connected", "url", u.Redacted(), "reconnect", reconnect)

	// Frames are read from the start, also while onConnect rebuilds the view: a connection
	// lost meanwhile ends onConnect early (sctx), instead of going unnoticed for as long as
	// the rebuild takes — with slow REST answers many seconds, in which Asterisk refuses every
	// new caller because the app has no socket. Most frames are handled after onConnect, in
	// Asterisk's order; the ones early picks (a new caller's StasisStart) at once, so a
	// caller arriving during a slow rebuild is served, and journaled, without waiting for it:
	// a process killed in the middle of its rebuild must not take new callers with it.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	frames := make(chan wsFrame, frameBuffer)
	go in.read(sctx, conn, frames, stop)
	go in.ping(sctx, conn)
	pending := in.duringConnect(sctx, reconnect, frames)
	for {
		var f wsFrame
		if len(pending) > 0 {
			f, pending = pending[0], pending[1:]
		} else {
			select {
			case f = <-frames:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if f.err != nil {
			return f.err
		}
		if f.typ != websocket.MessageText {
			in.skip("malformed", "binary websocket frame")
			continue
		}
		if in.frame(f.data) {
			in.log.Error("ANOTHER CONNECTION TOOK OVER THE ARI APPLICATION: this callmon gets no more events. "+
				"Check that only one callmon (or other ARI client) uses this application name.",
				"retry_in", replacedPause)
			conn.Close(websocket.StatusNormalClosure, "application replaced")
			return errReplaced
		}
	}
}

// duringConnect runs onConnect while handling the frames early picks as they come; it
// returns the others, in order, to be handled after it.
func (in *intake) duringConnect(ctx context.Context, reconnect bool, frames <-chan wsFrame) []wsFrame {
	if in.early == nil {
		in.onConnect(ctx, reconnect)
		return nil
	}
	var pending []wsFrame
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for len(pending) < frameBuffer {
			select {
			case f := <-frames:
				if f.err == nil && f.typ == websocket.MessageText && in.early(f.data) {
					in.frame(f.data)
					continue
				}
				pending = append(pending, f)
				if f.err != nil {
					return
				}
			case <-stop:
				return
			}
		}
	}()
	in.onConnect(ctx, reconnect)
	close(stop)
	<-done
	return pending
}

// wsFrame is one frame read from the websocket, or the error that ended reading.
type wsFrame struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

// frameBuffer is how many frames may wait while onConnect runs; beyond it reading pauses, as
// it did before frames were read during onConnect.
const frameBuffer = 4096

// read reads frames until the connection fails; the error is the last frame, and it cancels
// the session (stop) so an onConnect in progress ends.
func (in *intake) read(ctx context.Context, conn *websocket.Conn, out chan<- wsFrame, stop context.CancelFunc) {
	// conn.Read's io.ReadAll starts each frame at 512 bytes and grows it three or four
	// times (a tenth of callmon's allocation in BenchmarkEndToEndProcesses): a buffer
	// kept across frames reads it, and one exact copy leaves with it.
	var buf bytes.Buffer
	for {
		typ, data, err := readFrame(ctx, conn, &buf)
		if err != nil {
			stop()
		}
		select {
		case out <- wsFrame{typ: typ, data: data, err: err}:
		case <-ctx.Done():
			if err == nil {
				return
			}
			// The error is still delivered: the session must end with it.
			out <- wsFrame{err: err}
		}
		if err != nil {
			return
		}
	}
}

// readFrame reads one message whole, as conn.Read does (the read limit applies), into buf
// and returns a copy of exactly its size.
func readFrame(ctx context.Context, conn *websocket.Conn, buf *bytes.Buffer) (websocket.MessageType, []byte, error) {
	typ, r, err := conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, bytes.Clone(buf.Bytes()), nil
}

func (in *intake) ping(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			in.log.Warn("ARI websocket ping failed; closing", "err", err)
			conn.CloseNow()
			return
		}
	}
}

// frame handles one text frame; it reports true on ApplicationReplaced.
func (in *intake) frame(data []byte) (replaced bool) {
	recv := in.clock.Now()
	if in.duplicate(data) {
		return false
	}
	ev, ts, ok := in.dec.decode(data)
	if !ok {
		// Types the decoder leaves out, and frames it is not sure of.
		var err error
		if ev, err = ari.DecodeEvent(data); err == nil {
			ts = eventTime(ev)
		} else {
			in.undecodable(data, err)
			return false
		}
	}
	typ := ev.GetType()
	var lag time.Duration
	if !ts.IsZero() {
		lag = recv.Sub(ts)
	}
	in.m.ARIEvent(typ, lag)
	if typ == ari.Events.ApplicationReplaced {
		return true
	}
	in.dispatch(ev)
	return false
}

// undecodable counts and logs a frame DecodeEvent refused.
func (in *intake) undecodable(data []byte, err error) {
	var head struct {
		Type string `json:"type"`
	}
	label := "malformed"
	if json.Unmarshal(data, &head) == nil && head.Type != "" {
		if asteriskEvents[head.Type] && !knownToARIv5(head.Type) {
			label = head.Type
		} else if !asteriskEvents[head.Type] {
			label = "unknown"
		}
	}
	in.skip(label, err.Error())
}

// frameSeed keys the frame hashes (maphash: FNV-1a, a byte at a time, took
// as long as decoding a third of the frame).
var frameSeed = maphash.MakeSeed()

// duplicate drops a frame byte-identical to one of the last few. Asterisk
// sends every channel event twice when the app is subscribed both to the
// channel and to its endpoint (trace sip-endpoint-subscribed), and callmon
// subscribes to agents' endpoints.
func (in *intake) duplicate(data []byte) bool {
	sum := maphash.Bytes(frameSeed, data)
	for _, s := range in.recent {
		if s == sum {
			return true
		}
	}
	in.recent[in.recentPos] = sum
	in.recentPos = (in.recentPos + 1) % len(in.recent)
	return false
}

func (in *intake) skip(label, why string) {
	in.m.ARISkipped(label)
	in.loggedMu.Lock()
	first := !in.logged[label]
	in.logged[label] = true
	in.loggedMu.Unlock()
	if first {
		in.log.Warn("skipping ARI message callmon cannot use (logged once per type)", "type", label, "reason", why)
	}
}

func knownToARIv5(typ string) bool {
	// DecodeEvent failing on a type it knows means the body was malformed.
	_, err := ari.DecodeEvent(bytes.Join([][]byte{[]byte(`{"type":"`), []byte(typ), []byte(`"}`)}, nil))
	return err == nil
}

// eventTime is the event's Asterisk timestamp, for the events DecodeEvent
// decodes. ari.Event has no accessor for it, but every generated event
// struct embeds EventData as its first field.
func eventTime(ev ari.Event) time.Time {
	v := reflect.ValueOf(ev)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || v.Elem().NumField() == 0 {
		return time.Time{}
	}
	ed, ok := v.Elem().Field(0).Addr().Interface().(*ari.EventData)
	if !ok {
		return time.Time{}
	}
	return time.Time(ed.Timestamp)
}
