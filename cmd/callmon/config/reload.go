package config

import (
	"fmt"
	"reflect"
	"slices"

	"callmon/auth"
)

// LiveQueueKeys are the queue settings a running callmon takes over on a
// reload: they are read once when a call enters, so a new value applies to
// new calls and a call in progress keeps the one it started with.
var LiveQueueKeys = []string{"strategy", "ring_timeout", "moh_class", "welcome_prompt", "closed_prompt", "callback_offer_after"}

// Fixed lists the keys whose value differs between old and new and that a
// running callmon cannot take over: everything but LiveQueueKeys and the
// sign-in credentials. They are fixed at start because connections,
// listeners, metrics series, the calendar and agents' queue membership are
// built from them once;
// today's service level is counted against one threshold, target and short
// abandon. A reload that changes any of them is refused as a whole.
func Fixed(old, new *Config) []string {
	var keys []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	diff("ari.url", old.ARI.URL, new.ARI.URL)
	diff("ari.user", old.ARI.User, new.ARI.User)
	diff("ari.application", old.ARI.Application, new.ARI.Application)
	diff("ari.password_file", old.ARI.PasswordFile, new.ARI.PasswordFile)
	diff("ari.outbound_endpoint", old.ARI.OutboundEndpoint, new.ARI.OutboundEndpoint)
	diff("ari.ca_file", old.ARI.CAFile, new.ARI.CAFile)
	diff("database.spool_file", old.Database.SpoolFile, new.Database.SpoolFile)
	diff("database.migrate_on_start", old.Database.MigrateOnStart, new.Database.MigrateOnStart)
	// A time.Location loaded twice is two values with caches of their own:
	// compare zones by name.
	oh, nh := old.OpeningHours, new.OpeningHours
	diff("opening_hours.timezone", oh.Location.String(), nh.Location.String())
	oh.Location, nh.Location = nil, nil
	diff("opening_hours", oh, nh)
	// Sign-in credentials (token_hash, supervisors, wallboards) apply live.
	diff("agents", withoutTokens(old.Agents, func(a *Agent) { a.TokenHash = "" }), withoutTokens(new.Agents, func(a *Agent) { a.TokenHash = "" }))
	diff("employees", withoutTokens(old.Employees, func(e *Employee) { e.TokenHash = "" }), withoutTokens(new.Employees, func(e *Employee) { e.TokenHash = "" }))
	diff("voicemail", old.Voicemail, new.Voicemail)

	names := func(c *Config) []string {
		var n []string
		for _, q := range c.Queues {
			n = append(n, q.Name)
		}
		return n
	}
	if !slices.Equal(names(old), names(new)) {
		return append(keys, "queues (a queue added, removed or moved)")
	}
	for i, o := range old.Queues {
		n := new.Queues[i]
		k := func(key string) string { return fmt.Sprintf("queues[%s].%s", o.Name, key) }
		diff(k("numbers"), o.Numbers, n.Numbers)
		diff(k("threshold"), o.Threshold, n.Threshold)
		diff(k("target"), o.Target, n.Target)
		diff(k("short_abandon"), o.ShortAbandon, n.ShortAbandon)
		diff(k("agents"), o.Agents, n.Agents)
		diff(k("callback_capacity"), o.CallbackCapacity, n.CallbackCapacity)
		diff(k("auto_dial"), o.AutoDial, n.AutoDial)
	}
	return keys
}

func withoutTokens[T any](in []T, clear func(*T)) []T {
	out := slices.Clone(in)
	for i := range out {
		clear(&out[i])
	}
	return out
}

// Changed lists the live queue settings that differ between old and new,
// as "queues[general].ring_timeout: 15s → 20s", for the audit line. It
// assumes Fixed(old, new) is empty.
func Changed(old, new *Config) []string {
	var out []string
	for i, o := range old.Queues {
		if i >= len(new.Queues) {
			break
		}
		n := new.Queues[i]
		pairs := []struct {
			key  string
			a, b any
		}{
			{"strategy", o.Strategy, n.Strategy},
			{"ring_timeout", o.RingTimeout, n.RingTimeout},
			{"moh_class", o.MOHClass, n.MOHClass},
			{"welcome_prompt", o.WelcomePrompt, n.WelcomePrompt},
			{"closed_prompt", o.ClosedPrompt, n.ClosedPrompt},
			{"callback_offer_after", o.CallbackOfferAfter, n.CallbackOfferAfter},
		}
		for _, p := range pairs {
			if !reflect.DeepEqual(p.a, p.b) {
				out = append(out, fmt.Sprintf("queues[%s].%s: %v → %v", o.Name, p.key, p.a, p.b))
			}
		}
	}
	// Who may sign in: ids and roles only, never a hash.
	was := map[string]auth.Credential{}
	for _, c := range old.Credentials() {
		was[c.ID] = c
	}
	for _, c := range new.Credentials() {
		switch w, ok := was[c.ID]; {
		case !ok:
			out = append(out, fmt.Sprintf("sign-in: %s %s added", c.Role, c.ID))
		case w.Role != c.Role:
			out = append(out, fmt.Sprintf("sign-in: %s is now %s", c.ID, c.Role))
		case w.TokenHash != c.TokenHash:
			out = append(out, fmt.Sprintf("sign-in: new token for %s", c.ID))
		}
		delete(was, c.ID)
	}
	for _, c := range old.Credentials() {
		if _, gone := was[c.ID]; gone {
			out = append(out, fmt.Sprintf("sign-in: %s %s removed", c.Role, c.ID))
		}
	}
	return out
}
