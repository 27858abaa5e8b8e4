package ari

import (
	"encoding/json"
	"errors"
	"net/http"
)

// APIHandler serves agent presence:
//
//	GET  /api/agents
//	GET  /api/agents/{id}
//	POST /api/agents/{id}/{login|logout|pause|unpause}
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
		st, err := a.agents.Set(r.PathValue("id"), action)
		if err != nil {
			writeError(w, err)
			return
		}
		a.log.Info("agent presence changed", "agent", st.ID, "action", action, "state", st.State)
		writeJSON(w, http.StatusOK, st)
	})
	return mux
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
