package web

import (
	"callmon/ui"
	"errors"
	"net/http"
	"slices"

	"callmon/audit"
)

// Presence is an agent's presence as the page shows it.
type Presence struct {
	LoggedIn bool   `json:"logged_in"`
	Paused   bool   `json:"paused"`
	State    string `json:"state"`  // available, ringing, on_call, paused, offline, logged_out
	Reason   string `json:"reason"` // why paused; "" when not said
}

// PresenceService shows and changes agents' presence for the page; the
// daemon's call routing implements it. This package only checks who may
// change whose presence.
type PresenceService interface {
	Presence(agent string) (Presence, bool)
	// SetPresence applies action (login, logout, pause, unpause) with an
	// optional reason (pause only) on behalf of by. An error wrapping
	// ErrPresenceInput is the request's fault.
	SetPresence(agent, action, reason, by string) (Presence, error)
}

// ErrPresenceInput marks a refused presence change (an unknown action, an
// unacceptable reason): 400, with the error's text.
var ErrPresenceInput = errors.New("presence change refused")

// maxPresenceReason is the reason field's maxlength on the page; the
// daemon itself refuses a longer reason (ari.MaxPauseReason).
const maxPresenceReason = 100

var presenceActions = []string{"login", "logout", "pause", "unpause"}

// presenceView is the presence section of the page.
type presenceView struct {
	Presence
	StateText string
}

func (s *Server) presenceView(agent string, l ui.Lang) *presenceView {
	if s.presence == nil {
		return nil
	}
	p, ok := s.presence.Presence(agent)
	if !ok {
		return nil
	}
	return &presenceView{Presence: p, StateText: l.T("state-" + p.State)}
}

// POST /agent/{id}/presence {"action": "pause", "reason": "..."}: an agent
// changes their own presence, a supervisor anyone's; the change is made in
// the principal's name.
func (s *Server) setPresence(w http.ResponseWriter, r *http.Request, p Principal) {
	agent := r.PathValue("id")
	switch {
	case s.presence == nil:
		writeError(w, http.StatusNotFound, "presence is not served here")
		return
	case !p.IsSupervisor() && p.ID != agent:
		writeError(w, http.StatusForbidden, "you may change only your own presence (/agent/%s)", p.ID)
		return
	}
	if _, ok := s.presence.Presence(agent); !ok {
		writeError(w, http.StatusNotFound, "no agent %q", agent)
		return
	}
	var req struct {
		Action string `json:"action"`
		Reason string `json:"reason"`
	}
	if !decode(w, r, &req) {
		return
	}
	audit.Annotate(r.Context(), "presence "+req.Action, "")
	if !slices.Contains(presenceActions, req.Action) {
		writeError(w, http.StatusBadRequest, "action %q: want login, logout, pause or unpause", req.Action)
		return
	}
	got, err := s.presence.SetPresence(agent, req.Action, req.Reason, p.ID)
	if errors.Is(err, ErrPresenceInput) {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err != nil {
		s.log.Error("agent page: presence", "agent", agent, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error: presence was not changed; try again")
		return
	}
	s.log.Info("agent presence changed", "agent", agent, "action", req.Action, "state", got.State, "by", p.ID)
	writeJSON(w, http.StatusOK, got)
}
