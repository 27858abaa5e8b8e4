package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"golang.org/x/sync/errgroup"
)

// Adoption (DESIGN §10.1): an ARI application and its subscriptions outlive
// the process that held it. A new websocket gets no StasisStart and no replay
// for the calls of the old one, only their later events (traces
// restart-adopt, restart-gap-hangup). So on every connect callmon takes an
// inventory — GET /applications/{app}, /channels, /bridges — and carries on
// each call it finds from the state Asterisk shows: which of callmon's
// bridges the caller is in, and which of its legs exist. What Asterisk cannot
// tell (when the wait began, when the agent answered) comes from the journal
// the previous process wrote (Config.Journal, Config.LiveCalls).

// inventory is Asterisk's state as the REST interface lists it.
type inventory struct {
	app      map[string]bool // channels the application is subscribed to
	channels map[string]invChannel
	bridges  []invBridge
	memberOf map[string]string // channel id → the bridge it is in
}

// invChannel holds the fields of ARI's Channel that adoption reads. ari/v5's
// ChannelData has no dialplan app_data, and its List returns keys only.
type invChannel struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	State        string `json:"state"`
	Creationtime string `json:"creationtime"`
	Caller       struct {
		Name   string `json:"name"`
		Number string `json:"number"`
	} `json:"caller"`
	Dialplan struct {
		Exten   string `json:"exten"`
		AppName string `json:"app_name"`
		AppData string `json:"app_data"`
	} `json:"dialplan"`
}

type invBridge struct {
	ID       string   `json:"id"`
	Channels []string `json:"channels"`
}

// asteriskTime is the layout of Asterisk's timestamps and creationtime.
const asteriskTime = "2006-01-02T15:04:05.000-0700"

func (a *App) takeInventory(ctx context.Context) (*inventory, error) {
	var app struct {
		ChannelIDs []string `json:"channel_ids"`
	}
	var chans []invChannel
	inv := &inventory{app: map[string]bool{}, channels: map[string]invChannel{}, memberOf: map[string]string{}}
	// At once, not one after the other: with Asterisk answering slowly each takes a
	// round trip that calls left by a previous process wait for.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.getJSON(gctx, "/applications/"+url.PathEscape(a.cfg.Application), &app) })
	g.Go(func() error { return a.getJSON(gctx, "/channels", &chans) })
	g.Go(func() error { return a.getJSON(gctx, "/bridges", &inv.bridges) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, id := range app.ChannelIDs {
		inv.app[id] = true
	}
	for _, c := range chans {
		inv.channels[c.ID] = c
	}
	for _, b := range inv.bridges {
		for _, ch := range b.Channels {
			inv.memberOf[ch] = b.ID
		}
	}
	return inv, nil
}

// getJSON reads one REST resource with the App's own HTTP client.
func (a *App) getJSON(ctx context.Context, path string, v any) error {
	return a.restJSON(ctx, http.MethodGet, path, nil, v)
}

// subscribe subscribes the application to several event sources in one
// request. They go as a JSON array: Asterisk takes a single string in the
// body as one source, commas and all.
func (a *App) subscribe(ctx context.Context, sources []string) error {
	body, err := json.Marshal(map[string][]string{"eventSource": sources})
	if err != nil {
		return err
	}
	return a.restJSON(ctx, http.MethodPost, "/applications/"+url.PathEscape(a.cfg.Application)+"/subscription", body, nil)
}

// addToBridge adds channels to a bridge in one request, as a JSON array (a single string
// would be one channel, commas and all). Asterisk checks every channel first and adds none
// if one is gone, then adds them in order within the request: a caller and the agent who
// answered are bridged together or not at all, never with the caller leaving between two
// requests and the agent entering an empty bridge whose event a lost connection could hide.
func (a *App) addToBridge(bridge string, channels ...string) error {
	body, err := json.Marshal(map[string][]string{"channel": channels})
	if err != nil {
		return err
	}
	return a.restJSON(context.Background(), http.MethodPost, "/bridges/"+url.PathEscape(bridge)+"/addChannel", body, nil)
}

// restStatusError is a REST answer other than 2xx; statusOf reads its Code.
type restStatusError struct {
	method, path string
	status       int
	body         string
}

func (e *restStatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.method, e.path, e.status, http.StatusText(e.status), e.body)
}

func (e *restStatusError) Code() int { return e.status }

// restJSON makes one REST request with the App's own HTTP client (fenced,
// bodies read whole) and decodes the answer into v (unless nil).
func (a *App) restJSON(ctx context.Context, method, path string, reqBody []byte, v any) error {
	hc := httpClientOf(a.rest)
	var rd io.Reader
	if reqBody != nil {
		rd = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.cfg.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(a.cfg.User, a.cfg.Password)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &restStatusError{method: method, path: path, status: resp.StatusCode, body: strings.TrimSpace(string(body))}
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// adopt rebuilds callmon's view after a connect: calls this process already
// runs are told which channels still exist (resyncMsg); calls a previous
// process left are carried on; calls that ended while nobody was connected
// are closed once, now; callmon's bridges and legs that no call owns are
// cleaned up. It returns how many callers Asterisk showed in the application,
// and false when it could not take the inventory.
func (a *App) adopt(ctx context.Context) (int, bool) {
	// Flows started after the inventory (an automatic callback dialled
	// meanwhile) are newer than it: they are not resynchronised from it.
	a.mu.Lock()
	owned := map[string]bool{}
	var known []flow
	for _, c := range a.calls {
		known = append(known, c)
		owned[c.holdID()], owned[c.mixID()] = true, true
	}
	for _, d := range a.dials {
		known = append(known, d)
		owned[d.mixID] = true
	}
	for _, d := range a.directs {
		known = append(known, d)
		owned[d.mixID] = true
	}
	for _, p := range a.pairs {
		known = append(known, p)
		owned[p.bridge] = true
	}
	a.mu.Unlock()
	inv, err := a.takeInventory(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("cannot list Asterisk's channels and bridges; trying again", "err", err)
		}
		return 0, false
	}
	var journal []CallRecord
	if a.cfg.LiveCalls != nil {
		journal, err = a.cfg.LiveCalls(ctx)
		if ctx.Err() != nil {
			// No longer the active process (or stopping): a process that
			// adopted now would drive calls the next one drives.
			return 0, false
		}
		if err != nil {
			// Calls are still adopted; their entry is the channel's creationtime. The
			// journal's calls that ended meanwhile are closed once it can be read.
			a.log.Warn("cannot read the journal of calls in progress; adopted calls are measured from their channel's creation", "err", err)
			defer func() { go a.closeJournalLater(ctx) }()
		}
	}
	now := a.clock.Now()
	a.agents.holdOffers()
	defer a.agents.releaseOffers()

	a.mu.Lock()
	for _, c := range a.calls {
		owned[c.holdID()], owned[c.mixID()] = true, true
	}
	for _, d := range a.dials {
		owned[d.mixID] = true
	}
	for _, d := range a.directs {
		owned[d.mixID] = true
	}
	routed := func(id string) bool { return a.routes[id] != nil }
	var callers []invChannel
	for id := range inv.app {
		ch, ok := inv.channels[id]
		if ok && inStasis(ch) && !strings.HasPrefix(id, idPrefix) && !strings.HasSuffix(id, ";2") && !routed(id) {
			callers = append(callers, ch)
		}
	}
	knownCaller := map[string]bool{}
	for _, r := range journal {
		if routed(r.ChannelID) {
			knownCaller[r.ChannelID] = true
		}
	}
	a.mu.Unlock()

	present := make(map[string]bool, len(inv.channels))
	for id := range inv.channels {
		present[id] = true
	}
	for _, f := range known {
		f.inbox().post(resyncMsg{channels: present, at: now})
	}

	latest := a.latestVisits(journal, func(r CallRecord) bool { return !knownCaller[r.ChannelID] })
	slices.SortFunc(callers, func(x, y invChannel) int { return strings.Compare(x.Creationtime, y.Creationtime) })
	for _, ch := range callers {
		r, ok := latest[ch.ID]
		delete(latest, ch.ID)
		if ok {
			r.Adopted = true
			for _, b := range a.adoptCall(ch, r, inv, false) {
				owned[b] = true
			}
			continue
		}
		// Not journaled: a previous process died before writing it, or
		// the call entered Stasis just now and its StasisStart is still on
		// the way. Only the second can be told by waiting for it.
		owned[idPrefix+ch.ID+"-hold"], owned[idPrefix+ch.ID+"-mix"] = true, true
		for _, id := range append(legsOf(inv, ch.ID), idPrefix+ch.ID+"-e1") {
			owned[id] = true // its agent's leg is not an orphan: adoptUnjournaled decides
		}
		// Bound to the term, not to this connection: if the connection is lost before the
		// grace ends and the next one cannot take its inventory, the caller is still adopted.
		term := a.termContext()
		if b := inv.memberOf[ch.ID]; b == idPrefix+ch.ID+"-mix" {
			// In its conversation bridge: a previous process saw its StasisStart, so none is
			// on the way, and its agent may already have left (its journal entry is typically
			// in a frozen node's spool): waiting would leave it alone there.
			a.log.Info("caller not in the journal, in its conversation bridge; adopting it now", "call", ch.ID)
			go a.adoptUnjournaled(term, ch, inv)
			continue
		}
		if r, ok := a.unjournaled(ch); ok && a.cfg.Journal != nil {
			// Journaled now, estimated: a process killed within the grace would
			// otherwise leave the next one nothing to close if the caller leaves.
			// The exact entry of a StasisStart that does come replaces it.
			r.Adopted, r.Stage = true, StageEntered
			go a.cfg.Journal(r)
		}
		a.clock.AfterFunc(adoptGrace, func() { a.adoptUnjournaled(term, ch, inv) })
		// Said once the grace runs (tests advance their clock on it).
		a.log.Info("caller not in the journal; adopting it unless its StasisStart arrives", "call", ch.ID, "within", adoptGrace)
	}
	for _, b := range a.adoptPairs(inv) {
		owned[b] = true
	}
	// A direct caller the previous process handed to the dialplan's
	// VoiceMail() is out of Stasis but still subscribed to (voicemail.mode
	// dialplan keeps the channel's events coming): its outcome is to come.
	for id, r := range latest {
		ch, ok := inv.channels[id]
		if !ok || !inv.app[id] || inStasis(ch) || r.Kind != "direct" {
			continue
		}
		delete(latest, id)
		r.Adopted = true
		a.log.Info("caller in the dialplan's voicemail; awaiting its outcome", "call", id)
		a.adoptCall(ch, r, inv, true)
	}
	// Journaled calls whose caller is no longer there ended during the gap.
	for _, r := range latest {
		a.log.Info("call ended while no callmon was connected", "call", r.ChannelID, "queue", r.Queue)
		r.Adopted = true
		a.closeUnobserved(r, "", now)
	}
	a.cleanOrphans(ctx, inv, owned)
	return len(callers), true
}

// closeJournalLater reads the journal that adopt could not (PostgreSQL restarting) once it
// answers, for as long as this connection lasts, and closes the calls in it that ended while
// no process was connected: left there, they would never get a record (the chaos test found
// 25 after a takeover during a PostgreSQL restart). A call this process drives is left to it;
// one it has just recorded, whose journal row the record is still on its way to replace, is
// closed twice, and the stored record keeps the observed one (store.insertRecords).
func (a *App) closeJournalLater(ctx context.Context) {
	wait := adoptRetryFirst
	for {
		if !a.sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, adoptRetryMax)
		journal, err := a.cfg.LiveCalls(ctx)
		if err != nil {
			continue
		}
		// After the journal: a call in it still up is in the inventory.
		inv, err := a.takeInventory(ctx)
		if err != nil {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		now := a.clock.Now()
		driven := map[string]bool{}
		a.mu.Lock()
		for _, r := range journal {
			driven[r.ChannelID] = a.routes[r.ChannelID] != nil
		}
		a.mu.Unlock()
		gone := a.latestVisits(journal, func(r CallRecord) bool {
			_, up := inv.channels[r.ChannelID]
			return !up && !driven[r.ChannelID]
		})
		for _, r := range gone {
			a.log.Info("call ended while no callmon was connected (journal read late)", "call", r.ChannelID, "queue", r.Queue)
			r.Adopted = true
			a.closeUnobserved(r, "", now)
		}
		return
	}
}

// latestVisits keeps, of the journal's calls that keep accepts, each caller's newest visit:
// the one in progress. An older one (a direct call moved to the queue) ended when the newer
// began, and is closed so.
func (a *App) latestVisits(journal []CallRecord, keep func(CallRecord) bool) map[string]CallRecord {
	slices.SortFunc(journal, func(x, y CallRecord) int { return x.Entry.Compare(y.Entry) })
	latest := map[string]CallRecord{}
	for _, r := range journal {
		if !keep(r) {
			continue
		}
		if old, ok := latest[r.ChannelID]; ok {
			a.closeUnobserved(old, "transferred", r.Entry)
		}
		latest[r.ChannelID] = r
	}
	return latest
}

// termContext is the context of the current term (with Config.Standby), else Start's: what
// outlives one websocket connection.
func (a *App) termContext() context.Context {
	if t := a.fence.term.Load(); t != nil {
		return *t
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.root
}

// adoptGrace is how long a caller the journal does not know is left for
// its StasisStart to arrive before callmon adopts it.
const adoptGrace = 2 * time.Second

// adoptRecheck is how soon an unjournaled caller is looked up again when Asterisk failed the
// look-up.
const adoptRecheck = time.Second

// adoptUnjournaled carries on a caller no journal knows, unless its
// StasisStart arrived meanwhile.
func (a *App) adoptUnjournaled(ctx context.Context, ch invChannel, inv *inventory) {
	if ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	routed := a.routes[ch.ID] != nil
	a.mu.Unlock()
	if routed {
		return
	}
	r, ok := a.unjournaled(ch)
	if !ok {
		a.log.Warn("channel of the application with no call to carry on; hanging it up", "channel", ch.ID, "app_data", ch.Dialplan.AppData)
		a.hangup(ch.ID)
		return
	}
	r.Adopted = true
	var now invChannel
	err := a.getJSON(ctx, "/channels/"+url.PathEscape(ch.ID), &now)
	if err != nil && !gone(err) {
		// Asterisk did not say whether the caller is still there. Carrying on a caller who
		// hung up meanwhile (its hang-up event came before any flow owned it) would ring
		// agents for nobody and never write a record: ask again.
		a.log.Warn("cannot tell whether an unjournaled caller is still there; asking again", "call", ch.ID, "in", adoptRecheck, "err", err)
		a.clock.AfterFunc(adoptRecheck, func() { a.adoptUnjournaled(ctx, ch, inv) })
		return
	}
	if gone(err) {
		a.log.Info("call ended while no callmon was connected", "call", ch.ID, "queue", r.Queue)
		a.closeUnobserved(r, "", a.clock.Now())
		for _, id := range append(legsOf(inv, ch.ID), idPrefix+ch.ID+"-e1") {
			a.hangup(id)
		}
		for _, b := range []string{idPrefix + ch.ID + "-hold", idPrefix + ch.ID + "-mix"} {
			a.deleteBridge(b)
		}
		return
	}
	if !inStasis(now) {
		// Its StasisStart came before the inventory was read, and this process
		// served it and handed it to the dialplan (or Asterisk moved it on): it
		// is not ours to carry on, and POST /continue would answer 409 for ever.
		a.log.Info("caller no longer in the application; not adopting it", "call", ch.ID, "app", now.Dialplan.AppName)
		return
	}
	a.adoptCall(ch, r, inv, false)
}

// inStasis reports whether a channel runs Stasis() now: the application's
// channel_ids also list a caller handed on to the dialplan, since callmon's
// own subscription to its channel outlives StasisEnd.
func inStasis(ch invChannel) bool {
	return ch.Dialplan.AppName == "Stasis"
}

// unjournaled makes the journal entry a call would have had from what
// Asterisk shows: the Stasis() arguments of its dialplan and its
// creationtime (flagged: the StasisStart came later).
func (a *App) unjournaled(ch invChannel) (CallRecord, bool) {
	args := strings.Split(ch.Dialplan.AppData, ",")
	if len(args) == 0 || args[0] != a.cfg.Application {
		return CallRecord{}, false
	}
	entry, err := time.Parse(asteriskTime, ch.Creationtime)
	if err != nil {
		return CallRecord{}, false
	}
	e := &ari.StasisStart{Args: args[1:], Channel: ari.ChannelData{ID: ch.ID, Dialplan: &ari.DialplanCEP{Exten: ch.Dialplan.Exten}}}
	r := CallRecord{ChannelID: ch.ID, CallerNumber: ch.Caller.Number, Entry: entry, EntryEstimated: true}
	if emp, direct := a.directFor(e); direct {
		if emp == nil {
			return CallRecord{}, false
		}
		r.Queue, r.Kind = DirectQueue, "direct"
		return r, true
	}
	q := a.queueFor(e)
	if q == nil {
		return CallRecord{}, false
	}
	r.Queue, r.Kind = q.Name, "queue"
	return r, true
}

// closeUnobserved records a journaled call that ended while no process was
// connected (or, for an older visit, when the next began): at is when
// callmon learnt of it. outcome "" means answered if it was, else abandoned.
func (a *App) closeUnobserved(r CallRecord, outcome string, at time.Time) {
	r.Stage, r.Ended, r.EndUnobserved = "", at, true
	if r.Answered.IsZero() {
		r.Agent = "" // a direct call's journal names its employee from the start
	}
	short := directShortAbandon
	if q := a.queue(r.Queue); q != nil {
		short = q.ShortAbandon
	}
	switch {
	case outcome != "":
		r.Outcome = outcome
		r.WaitMS = max(0, at.UnixMilli()-r.Entry.UnixMilli())
	case !r.Answered.IsZero():
		r.Outcome = "answered"
		r.WaitMS = max(0, r.Answered.UnixMilli()-r.Entry.UnixMilli())
		r.WithinThreshold = r.WaitMS <= r.Threshold.Milliseconds()
	default:
		r.WaitMS = max(0, at.UnixMilli()-r.Entry.UnixMilli())
		r.Outcome = "abandoned"
		if short >= 0 && r.WaitMS <= short.Milliseconds() {
			r.Outcome = "short_abandoned"
		}
	}
	if a.cfg.Record != nil {
		a.cfg.Record(r)
	}
}

// adoptCall starts the flow that carries the caller on; it returns the
// bridges that flow owns.
// inDialplan: a direct caller handed to the dialplan's VoiceMail().
func (a *App) adoptCall(ch invChannel, r CallRecord, inv *inventory, inDialplan bool) []string {
	a.log.Info("carrying on a call a previous callmon left", "call", ch.ID, "queue", r.Queue,
		"bridge", inv.memberOf[ch.ID], "entry_estimated", r.EntryEstimated)
	caller := CallerInfo{Name: ch.Caller.Name, Number: ch.Caller.Number}
	if r.CallerNumber != "" {
		caller.Number = r.CallerNumber
	}
	m := adoptMsg{inv: inv, r: r, inDialplan: inDialplan}
	if r.Kind == "direct" {
		emp := a.employee(r.Agent, ch)
		if emp == nil {
			a.log.Warn("adopted direct call for an employee no longer configured; to the general queue", "call", ch.ID)
			a.closeUnobserved(r, "transferred", a.clock.Now())
			a.transferToQueue(ch.ID, caller, a.clock.Now())
			return nil
		}
		d := newDirectCall(a, ch.ID, emp, r.Entry, caller)
		d.adopted, d.entryEstimated = true, r.EntryEstimated
		d.answerEstimated = r.AnswerEstimated && !r.Answered.IsZero()
		d.mb.post(m)
		a.spawn(func() bool {
			if a.routes[d.id] != nil {
				return false // its StasisStart came after all
			}
			a.registerDirect(d)
			return true
		}, d.run)
		return []string{d.mixID}
	}
	q := a.queue(r.Queue)
	if q == nil {
		a.log.Warn("adopted call of a queue no longer configured; hanging up", "call", ch.ID, "queue", r.Queue)
		a.closeUnobserved(r, "", a.clock.Now())
		go a.hangup(ch.ID)
		return nil
	}
	e := &ari.StasisStart{
		EventData: ari.EventData{Type: "StasisStart", Timestamp: ari.DateTime(r.Entry)},
		Args:      []string{"queue", q.Name},
		Channel:   ari.ChannelData{ID: ch.ID, Caller: &ari.CallerID{Name: caller.Name, Number: caller.Number}},
	}
	c := newQueueCall(a, q, e)
	c.adopted, c.entryEstimated = true, r.EntryEstimated
	// An answer the previous process estimated stays an estimate.
	c.answerEstimated = r.AnswerEstimated && !r.Answered.IsZero()
	// Ids of the old process's playbacks and agent legs must not be reused.
	c.seq = adoptSeq(a.clock.Now())
	routes := []string{c.id}
	for _, id := range legsOf(inv, c.id) {
		routes = append(routes, id, id+";2")
	}
	var ad *adoption
	a.spawnCall(c, func() bool {
		if a.routes[c.id] != nil {
			return false // its StasisStart came after all
		}
		// Under a.mu: Agents never takes it, so this cannot deadlock.
		ad = c.prepare(inv, r, a.clock.Now())
		m.ad = ad
		c.mb.post(m)
		a.calls[c.id] = c
		for _, id := range routes {
			a.routes[id] = c
		}
		return true
	})
	return []string{c.holdID(), c.mixID()}
}

// adoptSeq starts an adopted call's id counter past anything an earlier
// process can have used for it (ids are cm-<caller>-pb<n>, -a<n>).
func adoptSeq(now time.Time) int { return int(now.UnixMilli()%1e9) * 10 }

// legsOf lists the agent legs (the ;1 halves) callmon originated for caller.
func legsOf(inv *inventory, caller string) []string {
	prefix := idPrefix + caller + "-a"
	var out []string
	for id := range inv.channels {
		if strings.HasPrefix(id, prefix) && !strings.HasSuffix(id, ";2") {
			if _, err := strconv.Atoi(id[len(prefix):]); err == nil {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// agentOfLeg finds the agent whose endpoint a leg was originated to: a
// channel is named after its endpoint (PJSIP/1001-00000003,
// Local/x@agents-0000000c;1). prefer, the journal's agent, wins if it fits.
func (a *App) agentOfLeg(leg invChannel, prefer string) (Agent, bool) {
	var found []Agent
	for _, ag := range a.cfg.Agents {
		if len(leg.Name) > len(ag.Endpoint) && strings.EqualFold(leg.Name[:len(ag.Endpoint)], ag.Endpoint) && leg.Name[len(ag.Endpoint)] == '-' {
			found = append(found, ag)
		}
	}
	for _, ag := range found {
		if ag.ID == prefer {
			return ag, true
		}
	}
	if len(found) == 0 {
		return Agent{}, false
	}
	return found[0], true
}

// employee finds the employee of an adopted direct call: by id from the
// journal, else by the number dialled.
func (a *App) employee(id string, ch invChannel) *Employee {
	for i := range a.cfg.Employees {
		if id != "" && a.cfg.Employees[i].ID == id {
			return &a.cfg.Employees[i]
		}
	}
	args := strings.Split(ch.Dialplan.AppData, ",")
	if len(args) >= 2 {
		emp, _ := a.directFor(&ari.StasisStart{Args: args[1:]})
		return emp
	}
	return nil
}

// cleanOrphans hangs up callmon's legs that no call owns and deletes its
// bridges that no call owns (left by calls that ended during the gap). owned
// holds bridges and legs of calls still to be adopted. It works in the
// background, a few requests at a time, until ctx (the connection) ends: after
// many calls ended unseen there can be hundreds, and one by one on a slow
// Asterisk they would hold up the event intake for minutes.
func (a *App) cleanOrphans(ctx context.Context, inv *inventory, owned map[string]bool) {
	a.mu.Lock()
	var legs, bridges []string
	for id := range inv.app {
		base := strings.TrimSuffix(id, ";2")
		if strings.HasPrefix(id, idPrefix) && a.routes[id] == nil && a.routes[base] == nil && !owned[base] {
			if base != id && inv.app[base] {
				continue // hanging up the ;1 half ends both
			}
			legs = append(legs, id)
		}
	}
	a.mu.Unlock()
	for _, b := range inv.bridges {
		if strings.HasPrefix(b.ID, idPrefix) && !owned[b.ID] {
			bridges = append(bridges, b.ID)
		}
	}
	if len(legs)+len(bridges) == 0 {
		return
	}
	a.log.Info("cleaning up what no call owns", "legs", len(legs), "bridges", len(bridges))
	go func() {
		var g errgroup.Group
		g.SetLimit(orphanWorkers)
		for _, id := range legs {
			g.Go(func() error {
				if ctx.Err() == nil {
					a.log.Debug("hanging up a leg no call owns", "channel", id)
					a.hangup(id)
				}
				return nil
			})
		}
		for _, id := range bridges {
			g.Go(func() error {
				if ctx.Err() == nil {
					a.log.Debug("deleting a bridge no call owns", "bridge", id)
					a.deleteBridge(id)
				}
				return nil
			})
		}
		_ = g.Wait()
	}()
}

// orphanWorkers is how many clean-up requests run at once: a small share of
// the REST client's connections.
const orphanWorkers = 4

// adoptMsg is the first message of an adopted call's flow: the state
// Asterisk showed and the journal entry.
type adoptMsg struct {
	inv *inventory
	r   CallRecord
	ad  *adoption // queue calls: what prepare decided
	// inDialplan: a direct caller handed to the dialplan's VoiceMail().
	inDialplan bool
}

// adoption is what an adopted queue call found in Asterisk, decided before
// its flow runs (prepare) and acted on by the flow (adopt).
type adoption struct {
	where  string   // the bridge the caller is in: its hold, its mix or none
	doomed []string // legs to hang up
	up     *attempt // a leg that answered while no process was connected
	// rehold: the caller is alone in its mixing bridge and was never
	// answered: the previous process died between moving the caller there and
	// adding the agent. The caller waits again.
	rehold bool
}

// prepare decides how to carry the call on and takes the agents it holds,
// before any flow runs: a waiting call adopted meanwhile must not be offered
// an agent who is on this call or ringing for it.
func (c *queueCall) prepare(inv *inventory, r CallRecord, now time.Time) *adoption {
	ad := &adoption{where: inv.memberOf[c.id]}
	legs := legsOf(inv, c.id)
	switch ad.where {
	case c.mixID():
		c.bridges |= mixBridge
		c.phase = phaseTalking
		for _, id := range legs {
			if ag, ok := c.a.agentOfLeg(inv.channels[id], r.Agent); ok && c.talking == nil && inv.memberOf[id] == c.mixID() {
				c.talking = &attempt{agent: ag, ch: id, upAt: r.Answered}
				c.addAttempt(c.talking)
				continue
			}
			ad.doomed = append(ad.doomed, id)
		}
		if c.talking == nil && r.Answered.IsZero() {
			c.phase, c.welcomed, ad.rehold = phaseWaiting, true, true
			return ad
		}
		if c.talking == nil {
			// The agent hung up while no process was connected: the
			// conversation is over.
			c.answered, c.answeredAt, c.agentID = true, r.Answered, r.Agent
			return ad
		}
		if c.talking.upAt.IsZero() {
			// Bridged, but the answer was never journaled: the process died
			// between the two.
			c.talking.upAt, c.answerEstimated = now, true
		}
		c.answered, c.answeredAt, c.agentID = true, c.talking.upAt, c.talking.agent.ID
		c.a.agents.connected(c.agentID, c)
	case c.holdID():
		c.phase, c.inHold, c.welcomed = phaseWaiting, true, true
		c.bridges |= holdBridge
		for _, id := range legs {
			leg := inv.channels[id]
			ag, known := c.a.agentOfLeg(leg, "")
			switch {
			case known && leg.State == "Up" && inv.app[id] && ad.up == nil && c.a.agents.adoptRinging(ag.ID, c):
				// Answered while no process was connected; its StasisStart
				// went nowhere.
				ad.up = &attempt{agent: ag, ch: id, upAt: now}
				c.addAttempt(ad.up)
			case known && leg.State != "Up" && c.a.agents.adoptRinging(ag.ID, c):
				c.addAttempt(&attempt{agent: ag, ch: id})
			default:
				ad.doomed = append(ad.doomed, id)
			}
		}
	default:
		// Between bridges: new, in a prompt or the callback dialogue. It
		// starts over from the welcome, with its original entry.
		ad.doomed = legs
	}
	return ad
}

// adopt carries a queue call on as prepare decided; it runs on the call's
// goroutine like every other step of the flow.
func (c *queueCall) adopt(m adoptMsg) {
	now := c.a.clock.Now()
	ad := m.ad
	for _, id := range ad.doomed {
		c.a.hangup(id)
		c.a.unroute(id, id+";2")
	}
	if ad.where != c.mixID() && ad.where != c.holdID() {
		c.start(nil)
		return
	}
	if c.entryEstimated {
		c.journal(StageEntered)
	}
	switch {
	case ad.rehold:
		c.a.log.Info("caller alone in its mixing bridge and never answered; waiting again", "call", c.id)
		c.a.m.Resumed(c.q.Name, c.id, c.entry, time.Time{})
		if err := retry(c.hold); err != nil { // moves the caller out of the mix
			c.fallback("put caller back on hold", err)
			return
		}
		c.deleteBridge(mixBridge)
		c.a.agents.enqueue(c)
		c.resumeOffer(now)
	case ad.where == c.mixID() && c.talking == nil:
		if c.answered {
			c.a.m.Resumed(c.q.Name, c.id, c.entry, c.answeredAt)
		}
		c.endUnobserved = true
		c.a.hangup(c.id)
		c.end(now)
	case ad.where == c.mixID():
		c.a.m.Resumed(c.q.Name, c.id, c.entry, c.answeredAt)
		if c.answerEstimated {
			c.journal(StageAnswered)
		}
	case ad.up != nil:
		c.a.m.Resumed(c.q.Name, c.id, c.entry, time.Time{})
		c.answerEstimated = true
		c.agentAnswered(ad.up, now)
	default:
		c.a.m.Resumed(c.q.Name, c.id, c.entry, time.Time{})
		c.a.agents.enqueue(c)
		c.resumeOffer(now)
	}
}

// resumeOffer schedules the callback offer of an adopted waiting call from
// its original entry.
func (c *queueCall) resumeOffer(now time.Time) {
	if c.a.cfg.Callbacks == nil {
		return
	}
	if c.a.agents.loggedIn(c.q.Name) == 0 {
		c.offerCallback()
		return
	}
	if c.q.CallbackOfferAfter > 0 {
		c.after(max(0, c.q.CallbackOfferAfter-now.Sub(c.entry)), "offer")
	}
}
