package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"

	"callmon/ari"
	"callmon/auth"
	cbweb "callmon/callback/web"
	"callmon/lookup"
	"callmon/metrics"
	"callmon/ui"
	"callmon/wallboard"
)

// apiRoute is one pattern of the API listener: public routes (health,
// sign-in) need no credentials; every other one checks who is asking.
type apiRoute struct {
	Pattern string
	Public  bool
}

// apiMux is the API listener's mux and the list of what it serves, which
// TestEveryRouteChecksWhoIsAsking walks.
type apiMux struct {
	mux    *http.ServeMux
	routes []apiRoute
}

func (m *apiMux) handle(pattern string, public bool, h http.Handler) {
	m.mux.Handle(pattern, h)
	m.routes = append(m.routes, apiRoute{Pattern: pattern, Public: public})
}

// apiParts are what the API listener serves.
type apiParts struct {
	auth      *auth.Authenticator
	presence  http.Handler  // ari's /api/agents handler
	report    http.Handler  // /api/report
	tasks     *cbweb.Server // nil without a database
	wallboard *wallboard.Server
	lookup    *lookup.Server // nil without a database
	language  ui.Setting     // the pages' default language
	reload    func(ctx context.Context, who string) error
	ready     func(ctx context.Context) bool
}

// newAPIMux builds the API listener's routes: who may use each is decided
// here, next to the pattern.
func newAPIMux(p apiParts) *apiMux {
	m := &apiMux{mux: http.NewServeMux()}
	a := p.auth
	m.handle("GET /-/healthy", true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("OK\n"))
	}))
	m.handle("GET /-/ready", true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if !p.ready(ctx) {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("OK\n"))
	}))
	signin := a.SignInHandler()
	m.handle("GET /signin", true, signin)
	m.handle("POST /signin", true, signin)
	m.handle("POST /signout", true, signin)
	m.handle("GET /{$}", true, landingPage(p.language, nil))

	sup := auth.Roles(auth.Supervisor)
	// Presence changes are stored with who made them.
	presence := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, _ := auth.FromContext(r.Context())
		p.presence.ServeHTTP(w, r.WithContext(ari.WithChangedBy(r.Context(), who.ID)))
	})
	m.handle("GET /api/agents", false, a.Require(sup, presence))
	m.handle("GET /api/agents/{id}", false, a.Require(auth.SupervisorOrSelf(auth.Agent), presence))
	m.handle("POST /api/agents/{id}/{action}", false, a.Change("presence {action}", auth.SupervisorOrSelf(auth.Agent), presence))
	m.handle("GET /api/report", false, a.Require(sup, p.report))
	m.handle("POST /api/reload", false, a.Change("reload", sup, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.reload == nil {
			writeAPIError(w, http.StatusNotImplemented, "reload is not available in this callmon")
			return
		}
		who, _ := auth.FromContext(r.Context())
		if err := p.reload(r.Context(), who.ID); err != nil {
			writeAPIError(w, http.StatusUnprocessableEntity, "reload failed: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"reloaded\": true}\n"))
	})))
	if p.tasks != nil {
		for _, pat := range p.tasks.Routes() {
			m.handle(pat, false, p.tasks.Handler())
		}
	}
	if p.wallboard != nil {
		for _, pat := range p.wallboard.Routes() {
			m.handle(pat, false, p.wallboard.Handler())
		}
	}
	if p.lookup != nil {
		for _, pat := range p.lookup.Routes() {
			m.handle(pat, false, p.lookup.Handler())
		}
	}
	return m
}

// handler is the API listener's handler: cross-origin changes refused on
// every route, and headers every answer carries.
func (m *apiMux) handler() http.Handler {
	h := http.NewCrossOriginProtection().Handler(m.mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// writable reports whether a file can be opened for appending (the spool).
func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return false
	}
	return f.Close() == nil
}

// listenAPI listens on the API address, with the TLS settings
// (tls_server_config) of the exporter-toolkit web configuration if it has
// any. Its basic_auth_users are not applied here: they are for /metrics,
// and people sign in with their own tokens.
func listenAPI(addr, webConfigFile string) (net.Listener, error) {
	var tc *tls.Config
	if webConfigFile != "" {
		raw, err := os.ReadFile(webConfigFile)
		if err != nil {
			return nil, fmt.Errorf("--web.config.file: %w", err)
		}
		var c web.Config
		if err := yaml.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("--web.config.file %s: %w", webConfigFile, err)
		}
		c.TLSConfig.SetDirectory(filepath.Dir(webConfigFile))
		if c.TLSConfig.IsEnabled() {
			if tc, err = web.ConfigToTLSConfig(&c.TLSConfig); err != nil {
				return nil, fmt.Errorf("--web.config.file %s: tls_server_config: %w", webConfigFile, err)
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--api.listen-address: %w", err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}

// home is where a principal lands after signing in: an agent's or
// employee's page, or for supervisors and screens the agents list.
func home(p auth.Principal) string {
	switch p.Role {
	case auth.Agent, auth.Employee:
		return "/agent/" + url.PathEscape(p.ID)
	case auth.Supervisor, auth.Wallboard:
		return "/wallboard"
	}
	return "/signin"
}

// ready reports whether this process serves calls: it is the active one,
// ARI is connected, and call records can be kept (the database answers,
// or else the spool is writable).
func ready(ctx context.Context, app *ari.App, m *metrics.Metrics, p *persistence) bool {
	if !app.Active() || !m.ARIIsConnected() {
		return false
	}
	if p == nil {
		return true
	}
	return p.db.Pool().Ping(ctx) == nil || writable(p.sp.Path())
}
