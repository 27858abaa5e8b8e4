package main

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"callmon/ari/aritest"
	"callmon/callsim"
	"callmon/cmd/callmon/config"
)

// trafficOptions shape the calls a traffic generator places; durations are on the fake's clock.
type trafficOptions struct {
	rate      float64       // arriving calls per minute
	handle    time.Duration // mean conversation length
	minTalk   time.Duration // shortest conversation
	patience  time.Duration // mean time a caller waits for an agent before hanging up
	answerMin time.Duration // agents pick up after a delay drawn evenly from [answerMin, answerMax]
	answerMax time.Duration
	direct    float64 // share of calls to employees' direct numbers (needs employees)
	calls     int     // stop after this many calls; 0 = no limit
	seed      uint64
	// arrivals is "flat" (Poisson at rate) or "morning-peak": rate is the opening day's mean,
	// shaped as callsim.MorningPeak over the opening hours (a third of it when closed).
	arrivals string
	talkCV   float64 // 0: exponential conversations; else lognormal with this coefficient of variation
	// patienceDist is "exponential" or "lognormal" (coefficient of variation 1).
	patienceDist string
}

// Traffic shapes the flags accept.
var (
	arrivalShapes = []string{"flat", "morning-peak"}
	patienceDists = []string{"exponential", "lognormal"}
)

// checkTraffic reports a traffic option the generator does not know.
func checkTraffic(o trafficOptions) error {
	if o.arrivals != "" && !slices.Contains(arrivalShapes, o.arrivals) {
		return fmt.Errorf("--arrivals %q: give %s", o.arrivals, strings.Join(arrivalShapes, " or "))
	}
	if o.patienceDist != "" && !slices.Contains(patienceDists, o.patienceDist) {
		return fmt.Errorf("--patience-dist %q: give %s", o.patienceDist, strings.Join(patienceDists, " or "))
	}
	if o.talkCV < 0 || o.talkCV > 5 {
		return fmt.Errorf("--talk-cv %v: give 0 (exponential) or a coefficient of variation up to 5", o.talkCV)
	}
	return nil
}

// traffic places Poisson arrivals into a fake Asterisk, for `callmon demo` and `callmon
// simulate`. Callers who are not talking to anyone when their patience runs out hang up; one
// who is talking looks again after another patience, so a caller left alone in a bridge hangs
// up in the end, as a person would.
type traffic struct {
	fake  *aritest.Server
	clock aritest.Clock
	o     trafficOptions
	cfg   *config.Config
	log   *slog.Logger

	mu      sync.Mutex
	rng     *rand.Rand
	src     *rand.PCG               // for the lognormal draws (gonum's distributions take a Source)
	shape   func(time.Time) float64 // arrival-rate multiplier at a moment; nil: flat
	peak    float64                 // the shape's maximum, for thinning
	n       int                     // calls placed or refused
	refused int
	stopped bool
	done    chan struct{}              // closed when the generator stops placing calls
	cancel  func() bool                // the next arrival
	live    map[string]*aritest.Caller // callers placed and maybe still up, by channel id
}

func newTraffic(fake *aritest.Server, clk aritest.Clock, cfg *config.Config, o trafficOptions, log *slog.Logger) *traffic {
	t := &traffic{fake: fake, clock: clk, cfg: cfg, o: o, log: log, peak: 1,
		rng: rand.New(rand.NewPCG(o.seed, 1)), src: rand.NewPCG(o.seed, 2), done: make(chan struct{}), live: map[string]*aritest.Caller{}}
	if o.arrivals == "morning-peak" {
		t.shape, t.peak = morningPeak(cfg)
	}
	return t
}

// morningPeak shapes arrivals over each day's opening hours as callsim.MorningPeak, and at a
// third of the mean while closed; it returns the shape and its maximum.
func morningPeak(cfg *config.Config) (func(time.Time) float64, float64) {
	loc := cfg.OpeningHours.Location
	if loc == nil {
		loc = time.UTC
	}
	open, closeAt := time.Duration(cfg.OpeningHours.Hours.Open)*time.Minute, time.Duration(cfg.OpeningHours.Hours.Close)*time.Minute
	if closeAt <= open {
		open, closeAt = 8*time.Hour, 17*time.Hour
	}
	day := (closeAt - open).Seconds()
	f := callsim.MorningPeak(day)
	peak := 0.0
	for s := 0.0; s < day; s += 10 {
		peak = max(peak, f(s))
	}
	return func(at time.Time) float64 {
		lt := at.In(loc)
		since := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute + time.Duration(lt.Second())*time.Second - open
		if since < 0 || since.Seconds() >= day {
			return 1.0 / 3
		}
		return f(since.Seconds())
	}, peak
}

// addEndpoints puts every agent's and employee's phone online in the fake.
func (t *traffic) addEndpoints() {
	for _, ep := range t.endpoints() {
		t.fake.AddEndpoint(ep, "online", t.behaviour())
	}
}

func (t *traffic) endpoints() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range t.cfg.Agents {
		if !seen[a.Endpoint] {
			seen[a.Endpoint] = true
			out = append(out, a.Endpoint)
		}
	}
	for _, e := range t.cfg.Employees {
		if !seen[e.Endpoint] {
			seen[e.Endpoint] = true
			out = append(out, e.Endpoint)
		}
	}
	return out
}

func (t *traffic) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.o.rate == 0 {
		return // no arrivals of its own: load runs only (simcontrol)
	}
	t.cancel = t.clock.AfterFunc(t.interarrival(), t.arrive)
}

// stop ends the arrivals; callers already placed keep their patience.
func (t *traffic) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopLocked()
}

func (t *traffic) stopLocked() {
	if t.stopped {
		return
	}
	t.stopped = true
	if t.cancel != nil {
		t.cancel()
	}
	close(t.done)
}

// Done is closed when no more calls will be placed (stop, or the call limit reached).
func (t *traffic) Done() <-chan struct{} { return t.done }

// counts reports the calls placed into Stasis and those refused (the app was not connected).
func (t *traffic) counts() (placed, refused int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n - t.refused, t.refused
}

// inProgress counts the callers placed that are still up.
func (t *traffic) inProgress() int {
	t.mu.Lock()
	ids := make([]string, 0, len(t.live))
	for id := range t.live {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	n := 0
	for _, id := range ids {
		if ch, ok := t.fake.Channel(id); ok && ch.Alive {
			n++
			continue
		}
		t.mu.Lock()
		delete(t.live, id)
		t.mu.Unlock()
	}
	return n
}

func (t *traffic) exp(mean time.Duration) time.Duration {
	return time.Duration(t.rng.ExpFloat64() * float64(mean))
}

// interarrival draws the time to the next candidate arrival: at the shape's peak rate, thinned
// in arrive.
func (t *traffic) interarrival() time.Duration {
	return t.exp(time.Duration(float64(time.Minute) / (t.o.rate * t.peak)))
}

// talk draws a conversation's length.
func (t *traffic) talk() time.Duration {
	if t.o.talkCV > 0 {
		d := callsim.LogNormal(t.o.handle.Seconds(), t.o.talkCV, t.src)
		return time.Duration(d.Rand() * float64(time.Second))
	}
	return t.exp(t.o.handle)
}

// patienceDraw draws how long a caller waits before hanging up.
func (t *traffic) patienceDraw() time.Duration {
	if t.o.patienceDist == "lognormal" {
		d := callsim.LogNormal(t.o.patience.Seconds(), 1, t.src)
		return time.Duration(d.Rand() * float64(time.Second))
	}
	return t.exp(t.o.patience)
}

// behaviour draws how long a phone rings and how long its user talks.
func (t *traffic) behaviour() aritest.Behaviour {
	answer := t.o.answerMin
	if d := t.o.answerMax - t.o.answerMin; d > 0 {
		answer += time.Duration(t.rng.Int64N(int64(d) + 1))
	}
	return aritest.Behaviour{AnswerAfter: answer, TalkFor: max(t.o.minTalk, t.talk())}
}

func (t *traffic) arrive() {
	// Held throughout, so nothing is placed after stop().
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if t.shape != nil && t.rng.Float64()*t.peak > t.shape(t.clock.Now()) {
		t.cancel = t.clock.AfterFunc(t.interarrival(), t.arrive) // thinned: no call this time
		return
	}
	t.n++
	n := t.n
	// Phones differ per call: a few seconds to pick up, a varying talk.
	for _, ep := range t.endpoints() {
		t.fake.SetBehaviour(ep, t.behaviour())
	}
	spec := aritest.CallSpec{
		CallerName: fmt.Sprintf("Caller %d", n), CallerNumber: fmt.Sprintf("06%08d", 10000000+n%90000000),
	}
	if len(t.cfg.Employees) > 0 && t.rng.Float64() < t.o.direct {
		e := t.cfg.Employees[t.rng.IntN(len(t.cfg.Employees))]
		num := firstOr(e.Numbers, "0503161234")
		spec.Exten, spec.Args = num, []string{"direct", num}
	} else {
		q := t.cfg.Queues[0]
		spec.Exten, spec.Args = firstOr(q.Numbers, "0503164911"), []string{"queue", q.Name}
	}
	caller, err := t.fake.Call(spec)
	if err != nil {
		t.refused++
		t.log.Debug("call not placed", "call", n, "err", err)
	} else {
		t.live[caller.ID()] = caller
		t.patience(caller, t.patienceDraw())
	}
	if t.o.calls > 0 && n >= t.o.calls {
		t.stopLocked()
		return
	}
	t.cancel = t.clock.AfterFunc(t.interarrival(), t.arrive)
}

// patience hangs the caller up after d unless an agent is talking with them; then it looks
// again after another patience.
func (t *traffic) patience(caller *aritest.Caller, d time.Duration) {
	id := caller.ID()
	t.clock.AfterFunc(d, func() {
		ch, ok := t.fake.Channel(id)
		if !ok || !ch.Alive {
			return
		}
		if !t.inCompany(ch.Bridge) {
			caller.Hangup()
			return
		}
		t.mu.Lock()
		next := t.patienceDraw()
		t.mu.Unlock()
		t.patience(caller, max(next, time.Second))
	})
}

// inCompany reports whether the bridge mixes the caller with someone.
func (t *traffic) inCompany(bridge string) bool {
	if bridge == "" {
		return false
	}
	for _, b := range t.fake.Bridges() {
		if b.ID == bridge {
			return b.Type == "mixing" && len(b.Channels) > 1
		}
	}
	return false
}
