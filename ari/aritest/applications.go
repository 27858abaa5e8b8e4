package aritest

import (
	"net/http"
	"slices"
	"strings"
)

// REST: /applications, /endpoints, /asterisk.

// appJSON lists what the app is subscribed to. Asterisk keeps the application (and its
// subscriptions) between connections; it exists from the first websocket on.
func (s *Server) appJSON() applicationJSON {
	a := applicationJSON{
		Name:             s.opt.App,
		ChannelIDs:       []string{},
		BridgeIDs:        []string{},
		EndpointIDs:      []string{},
		DeviceNames:      []string{},
		EventsAllowed:    []string{},
		EventsDisallowed: []string{},
	}
	for _, c := range s.chanOrder {
		if c.subs > 0 {
			a.ChannelIDs = append(a.ChannelIDs, c.id)
		}
	}
	for _, b := range s.bridgeOrd {
		if b.subs > 0 {
			a.BridgeIDs = append(a.BridgeIDs, b.id)
		}
	}
	for _, e := range s.sortedEndpoints("") {
		if e.subs > 0 {
			a.EndpointIDs = append(a.EndpointIDs, e.name())
		}
	}
	return a
}

func (s *Server) listApplications(*request) reply {
	if !s.app.known {
		return ok([]applicationJSON{})
	}
	return ok([]applicationJSON{s.appJSON()})
}

func (s *Server) getApplication(q *request) reply {
	if q.path("app") != s.opt.App || !s.app.known {
		return fail(http.StatusNotFound, "Application not found")
	}
	return ok(s.appJSON())
}

// eventSource is a parsed "channel:ID", "bridge:ID" or "endpoint:TECH/RESOURCE". Its counter
// is the object's subscription count.
func (s *Server) eventSource(src string) (subs *int, found, valid bool) {
	scheme, id, _ := strings.Cut(src, ":")
	switch scheme {
	case "channel":
		if c := s.channels[id]; c != nil {
			return &c.subs, true, true
		}
	case "bridge":
		if b := s.bridges[id]; b != nil {
			return &b.subs, true, true
		}
	case "endpoint":
		if e := s.endpoints[id]; e != nil && e.listed() {
			return &e.subs, true, true
		}
	case "deviceState":
	default:
		return nil, false, false
	}
	return nil, false, true
}

func (s *Server) subscribe(q *request) reply {
	return s.changeSubscription(q, +1)
}

func (s *Server) unsubscribe(q *request) reply {
	return s.changeSubscription(q, -1)
}

// changeSubscription validates every source before touching any, as ARI does.
func (s *Server) changeSubscription(q *request, delta int) reply {
	if q.path("app") != s.opt.App || !s.app.known {
		return fail(http.StatusNotFound, "Application not found")
	}
	sources := q.params.list("eventSource")
	if len(sources) == 0 {
		return fail(http.StatusBadRequest, "Missing parameter eventSource")
	}
	var counters []*int
	for _, src := range sources {
		subs, found, valid := s.eventSource(src)
		switch {
		case !valid:
			return fail(http.StatusBadRequest, "Invalid event source URI scheme")
		case !found:
			return fail(http.StatusUnprocessableEntity, "Event source does not exist")
		case delta < 0 && *subs == 0:
			return fail(http.StatusUnprocessableEntity, "Event source was not subscribed to")
		}
		counters = append(counters, subs)
	}
	for _, n := range counters {
		*n += delta
	}
	return ok(s.appJSON())
}

// sortedEndpoints lists the ARI endpoints (not the Local targets) of tech, or of all techs.
func (s *Server) sortedEndpoints(tech string) []*endpoint {
	var out []*endpoint
	for _, e := range s.endpoints {
		if e.listed() && (tech == "" || e.tech == tech) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *endpoint) int { return strings.Compare(a.name(), b.name()) })
	return out
}

func (s *Server) listEndpoints(q *request) reply {
	out := []endpointJSON{}
	for _, e := range s.sortedEndpoints(q.path("tech")) {
		out = append(out, e.snapshot())
	}
	return ok(out)
}

func (s *Server) getEndpoint(q *request) reply {
	e := s.endpoints[q.path("tech")+"/"+q.path("resource")]
	if e == nil || !e.listed() {
		return fail(http.StatusNotFound, "Endpoint not found")
	}
	return ok(e.snapshot())
}

// asteriskInfo is a minimal GET /asterisk/info.
func (s *Server) asteriskInfo(*request) reply {
	now := stamp(s.now())
	return ok(object{
		{"build", object{{"os", "Linux"}, {"kernel", ""}, {"options", ""}, {"machine", "x86_64"}, {"date", ""}, {"user", "aritest"}}},
		{"system", object{{"version", "22.10.1"}, {"entity_id", s.opt.AsteriskID}}},
		{"config", object{{"name", "aritest"}, {"default_language", "en"}, {"setid", object{{"user", ""}, {"group", ""}}}}},
		{"status", object{{"startup_time", now}, {"last_reload_time", now}}},
	})
}
