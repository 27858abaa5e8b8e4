package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// APIHandler serves agent presence:
//
//	GET  /api/agents
//	GET  /api/agents/{id}
//	POST /api/agents/{id}/{login|logout|pause|unpause}
//
// pause takes an optional body {"reason": "..."} (at most MaxPauseReason
// characters); a body that is not that is refused with 400 and changes
// nothing.
func (a *App) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/agents", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.agents.List())
	})
	mux.HandleFunc("GET /api/agents/{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := a.agents.Get(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /api/agents/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		action := r.PathValue("action")
		switch action {
		case ActionLogin, ActionLogout, ActionPause, ActionUnpause:
		default:
			writeJSON(w, http.StatusNotFound, apiError{Error: "unknown action " + action + " (want login, logout, pause or unpause)"})
			return
		}
		body, err := decodePresenceBody(w, r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
			return
		}
		by := changedBy(r.Context())
		st, err := a.agents.Set(PresenceChange{Agent: r.PathValue("id"), Action: action, Reason: body.Reason, By: by})
		if err != nil {
			writeError(w, err)
			return
		}
		a.log.Info("agent presence changed", "agent", st.ID, "action", action, "state", st.State, "by", by)
		writeJSON(w, http.StatusOK, st)
	})
	return mux
}

type changedByKey struct{}

// WithChangedBy names who makes the presence changes of requests with ctx
// (the signed-in person's id); without it they are stored as ChangedByAPI.
func WithChangedBy(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, changedByKey{}, who)
}

func changedBy(ctx context.Context) string {
	if who, ok := ctx.Value(changedByKey{}).(string); ok && who != "" {
		return who
	}
	return ChangedByAPI
}

// presenceBody is the optional JSON body of a presence action.
type presenceBody struct {
	Reason string `json:"reason"`
}

// maxPresenceBody bounds the body: a reason is at most MaxPauseReason
// characters of up to 4 bytes, with room for escapes.
const maxPresenceBody = 4 << 10

// decodePresenceBody reads the optional body: nothing, or one JSON object
// with known fields only.
func decodePresenceBody(w http.ResponseWriter, r *http.Request) (presenceBody, error) {
	var b presenceBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPresenceBody))
	if err != nil {
		return b, fmt.Errorf("the request body is over %d bytes", maxPresenceBody)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return b, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf(`the request body is not the JSON expected ({"reason": "..."}): %v`, err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return b, errors.New(`the request body holds more than one JSON value; send one object ({"reason": "..."})`)
	}
	return b, nil
}

type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, ErrUnknownAgent) {
		code = http.StatusNotFound
	}
	writeJSON(w, code, apiError{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
