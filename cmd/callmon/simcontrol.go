package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"callmon/ari/aritest"
)

// simControl is callmon simulate's control endpoint (--control): a chaos test in another
// process cuts the websockets and makes REST answers slow or failing through it, as it could
// with the fake's methods in-process. Loopback only, without credentials: it can break every
// call, so it is off by default and never listens beyond this machine.
type simControl struct {
	srv *http.Server
	ln  net.Listener
}

// restFaultsRequest is the body of POST /-/control/rest-faults; durations are Go durations
// ("200ms"). An empty object ends the faults.
type restFaultsRequest struct {
	Delay    string  `json:"delay"`
	Jitter   string  `json:"jitter"`
	FailRate float64 `json:"fail_rate"`
	DropRate float64 `json:"drop_rate"`
	Seed     uint64  `json:"seed"`
}

func (r restFaultsRequest) faults() (aritest.RESTFaults, error) {
	f := aritest.RESTFaults{FailRate: r.FailRate, DropRate: r.DropRate, Seed: r.Seed}
	for _, d := range []struct {
		name string
		s    string
		to   *time.Duration
	}{{"delay", r.Delay, &f.Delay}, {"jitter", r.Jitter, &f.DelayJitter}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			return f, fmt.Errorf("%s: want a duration >= 0 such as \"200ms\", got %q", d.name, d.s)
		}
		*d.to = v
	}
	if f.FailRate < 0 || f.DropRate < 0 || f.FailRate+f.DropRate > 1 {
		return f, errors.New("fail_rate and drop_rate are shares: each >= 0, together <= 1")
	}
	return f, nil
}

// controlStats is GET /-/control/stats: the fake's counters, the traffic's and whether an app
// is connected.
type controlStats struct {
	aritest.Stats
	Connected  bool `json:"connected"`
	Placed     int  `json:"placed"`
	Refused    int  `json:"refused"`
	InProgress int  `json:"in_progress"`
}

// startSimControl listens on addr, which must be a loopback address.
func startSimControl(addr string, fake *aritest.Server, t *traffic, log interface{ Warn(string, ...any) }) (*simControl, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s is not a loopback address: the control endpoint has no credentials", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /-/control/cut-websockets", func(w http.ResponseWriter, r *http.Request) {
		fake.DropConnections()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /-/control/rest-faults", func(w http.ResponseWriter, r *http.Request) {
		var req restFaultsRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := req.faults()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fake.SetRESTFaults(f)
		w.WriteHeader(http.StatusNoContent)
	})
	var loading sync.Mutex
	mux.HandleFunc("POST /-/control/load", func(w http.ResponseWriter, r *http.Request) {
		var req loadRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !loading.TryLock() {
			http.Error(w, "a load run is in progress", http.StatusConflict)
			return
		}
		defer loading.Unlock()
		res, err := t.load(r.Context(), req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("GET /-/control/stats", func(w http.ResponseWriter, r *http.Request) {
		placed, refused := t.counts()
		st := controlStats{Stats: fake.Stats(), Connected: fake.Connected(), Placed: placed, Refused: refused, InProgress: t.inProgress()}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	c := &simControl{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("control endpoint stopped", "err", err)
		}
	}()
	return c, nil
}

// URL is the control endpoint's base, "http://127.0.0.1:PORT/-/control".
func (c *simControl) URL() string { return "http://" + c.ln.Addr().String() + "/-/control" }

func (c *simControl) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}
